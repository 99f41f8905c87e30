#!/usr/bin/env python3
"""tapegrad and PyTorch load each other's models, through safetensors files (run by CTest).

Usage: interop_test.py INTEROP_MODEL   (the path of the interop_model program)

Each runs for two models: a CNN with BatchNorm, and an LSTM classifier (two layers, both
directions, a linear head on the last step).

(a) interop_model trains a CNN in tapegrad and saves it with save_torch_state_dict; this script
    loads the file into the equivalent torch.nn.Sequential with load_state_dict(strict=True) and
    compares its logits with tapegrad's.
(b) this script initialises the torch model, runs a few training batches (so that BatchNorm's
    running statistics move), saves its state_dict(), inputs and logits; interop_model loads the
    model with load_torch_state_dict and compares.

Files are read and written with json and numpy only: Debian's PyTorch 1.13 comes without the
safetensors package.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

TOLERANCE = 1e-5
TRAIN_STEPS = 4  # interop_model.cpp's kTrainSteps
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
INTEROP_MODEL = None


def cnn():
    """interop_model.cpp's cnn(); change both together."""
    nn = torch.nn
    return nn.Sequential(nn.Unflatten(1, (1, 12, 12)), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(24, 16),
                         nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


class LstmClassifier(torch.nn.Module):
    """interop_model.cpp's lstm(), Sequential{LSTM, Select(1, -1), Linear} there: the modules are
    named "0" and "2" so that the state_dict's names are the same."""

    def __init__(self):
        super().__init__()
        self.add_module("0", torch.nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True))
        self.add_module("2", torch.nn.Linear(10, 3))

    def forward(self, x):
        out, _ = getattr(self, "0")(x)
        return getattr(self, "2")(out[:, -1])


def read_safetensors(path):
    """{name: numpy array} of a safetensors file: an 8-byte little-endian header length, the
    JSON header, then the little-endian data at the header's offsets."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + n + begin:8 + n + end]
        out[name] = np.frombuffer(raw, dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")) \
            .reshape(entry["shape"]).copy()
    return out


def write_safetensors(path, arrays):
    """Writes {name: numpy array} in the safetensors layout, data 8-byte aligned."""
    header, chunks, offset = {}, [], 0
    for name, a in arrays.items():
        a = np.array(a, order="C")  # (ascontiguousarray would make a rank-0 array rank 1)
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": CODES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


class Interop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="tapegrad_interop_")

    def tearDown(self):
        self.dir.cleanup()

    def run_model(self, mode, name):
        done = subprocess.run([INTEROP_MODEL, mode, self.dir.name, name], capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        self.assertEqual(done.returncode, 0, f"interop_model {mode} {name} failed:\n{done.stdout}{done.stderr}")

    def export_and_load(self, name, model):
        """(a): tapegrad's trained model in torch, strict names and shapes, the same logits."""
        self.run_model("export", name)
        state = read_safetensors(os.path.join(self.dir.name, "tapegrad_model.safetensors"))
        io = read_safetensors(os.path.join(self.dir.name, "tapegrad_io.safetensors"))
        self.assertEqual(sorted(state), sorted(model.state_dict()), "the names of torch's state_dict()")
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(io["x"]))
        diff = (logits - torch.from_numpy(io["logits"])).abs().max().item()
        print(f"interop_test: {name}: max |torch - tapegrad| over {logits.numel()} logits = {diff:.3g}")
        self.assertLessEqual(diff, TOLERANCE)
        return state, model

    def save_and_import(self, name, model, x):
        """(b): torch's model in tapegrad, the same logits."""
        model.eval()
        with torch.no_grad():
            logits = model(x)
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        write_safetensors(os.path.join(self.dir.name, "torch_model.safetensors"), state)
        write_safetensors(os.path.join(self.dir.name, "torch_io.safetensors"), {"x": x.numpy(), "logits": logits.numpy()})
        self.run_model("import", name)
        return state

    def test_tapegrad_model_loads_into_torch(self):
        state, model = self.export_and_load("cnn", cnn())
        self.assertEqual(state["2.num_batches_tracked"].dtype, np.int64)
        self.assertEqual(state["2.num_batches_tracked"].shape, ())
        self.assertEqual(int(model[2].num_batches_tracked), TRAIN_STEPS)
        self.assertEqual(int(model[9].num_batches_tracked), TRAIN_STEPS)

    def test_torch_model_loads_into_tapegrad(self):
        torch.manual_seed(0)
        model = cnn()
        model.train()
        with torch.no_grad():
            for _ in range(3):  # moves the running statistics away from 0 and 1
                model(torch.randn(8, 144) * 2 + 0.5)
        state = self.save_and_import("cnn", model, torch.randn(5, 144))
        self.assertEqual(state["2.num_batches_tracked"].dtype, np.int64)

    def test_tapegrad_lstm_loads_into_torch(self):
        state, _ = self.export_and_load("lstm", LstmClassifier())
        self.assertEqual(state["0.weight_ih_l1_reverse"].shape, (20, 10))

    def test_torch_lstm_loads_into_tapegrad(self):
        torch.manual_seed(0)
        self.save_and_import("lstm", LstmClassifier(), torch.randn(5, 4, 6))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    INTEROP_MODEL = sys.argv.pop(1)
    unittest.main(verbosity=2)
