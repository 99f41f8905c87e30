#!/usr/bin/env python3
"""Writes a tiny stand-in for Fashion-MNIST in MNIST's IDX format: 8x8 images of 10 classes (class c
lights row c % 8 and, for c >= 8, column c - 4, over a little deterministic noise), 1,000 for
training and 200 for testing. The same bytes on every machine. With SIDE (28 for tapegrad-train's
--model cnn) the images are SIDE x SIDE, with the same rows and columns lit.

    make_data.py DIR [SIDE]
"""
import os
import struct
import sys


def idx(dims, data):
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def main():
    out = sys.argv[1]
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    os.makedirs(out, exist_ok=True)
    state = 12345
    for stem, n, shift in (("train", 1000, 0), ("t10k", 200, 3)):
        images, labels = [], []
        for i in range(n):
            c = (i * 7 + shift) % 10
            labels.append(c)
            for p in range(side * side):
                state = (state * 1103515245 + 12345) % 2**32
                noise = state >> 27
                lit = p // side == c % 8 or (c >= 8 and p % side == c - 4)
                images.append(200 + noise if lit else noise)
        with open(os.path.join(out, f"{stem}-images-idx3-ubyte"), "wb") as f:
            f.write(idx([n, side, side], images))
        with open(os.path.join(out, f"{stem}-labels-idx1-ubyte"), "wb") as f:
            f.write(idx([n], labels))


if __name__ == "__main__":
    main()
