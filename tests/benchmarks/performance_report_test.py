#!/usr/bin/env python3
"""benchmarks/performance_report.py and benchmarks/readme_summary.py on hand-made results:
libtorch figures appear only when the program recorded an optimized BLAS (the reference BLAS, or
results that do not say, are refused with the reason), the summary that the README shows comes
from the same run and names its machine and date, and the README's copy of it cannot drift.

    performance_report_test.py REPO_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = sys.argv[1]
REPORT = os.path.join(ROOT, "benchmarks", "performance_report.py")
SUMMARY = os.path.join(ROOT, "benchmarks", "readme_summary.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def step_rows(net, tapegrad_us, libtorch_us):
    common = {"samples_per_s": 1.0, "matmul_GFLOPs": 1.0, "tg_sys_allocs_per_step": 0, "heap_calls_per_step": 0}
    return [
        dict(common, name=f"BM_step_tapegrad/{net}", run_name=f"BM_step_tapegrad/{net}", us_per_step=tapegrad_us,
             cpu_time=tapegrad_us, label=f"f32 net{net}"),
        dict(common, name=f"BM_step_libtorch/{net}", run_name=f"BM_step_libtorch/{net}", us_per_step=libtorch_us,
             cpu_time=libtorch_us),
    ]


def run_report(context):
    """The report of one training_step result at 1 thread: (a) 100 us in tapegrad, 3,100 us in libtorch."""
    with tempfile.TemporaryDirectory(prefix="tg-report-") as res:
        data = {"context": context, "benchmarks": step_rows(0, 100.0, 3100.0)}
        with open(os.path.join(res, "training_step_t1.json"), "w") as f:
            json.dump(data, f)
        run = subprocess.run([sys.executable, REPORT, res], capture_output=True, text=True,
                             env=dict(os.environ, QUICK=""))
    if run.returncode != 0:
        failures.append(f"report failed: {run.stderr}")
    return run.stdout


def row_a(report):
    return next((line for line in report.splitlines() if line.startswith("| (a) 784-50-10 b100 | 1 |")), "")


def summary(report):
    m = re.search(r"<!-- perf-summary -->\n(.*?)<!-- end perf-summary -->", report, re.S)
    return m.group(1) if m else ""


openblas = {"libtorch_blas": "OpenBLAS", "libtorch_blas_library": "/usr/lib/x/libopenblas.so.0",
            "libtorch_blas_detail": "OpenBLAS 0.3.21 DYNAMIC_ARCH"}
reference = {"libtorch_blas": "reference", "libtorch_blas_library": "/usr/lib/x/blas/libblas.so.3.11.0"}

# An optimized BLAS: the ratio is shown, in the table and in the summary, with the BLAS named.
good = run_report(openblas)
check("| 31x |" in row_a(good), f"OpenBLAS: the (a) row should give libtorch / tapegrad 31x: {row_a(good)!r}")
check("OpenBLAS (`/usr/lib/x/libopenblas.so.0`: OpenBLAS 0.3.21 DYNAMIC_ARCH)" in good,
      "OpenBLAS: the header should name libtorch's BLAS as the program recorded it")
s = summary(good)
check("| training step, 784-50-10, batch 100 | 100 µs | n/a | 3,100 µs | 31x |" in s,
      f"OpenBLAS: the summary should give the (a) step with its ratio:\n{s}")
lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
model = re.search(r"Model name:\s*(.*)", lscpu).group(1)
check(model in s and re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", s),
      f"the summary should name the machine ({model}) and the date:\n{s}")
check("No libtorch figures" not in good, "OpenBLAS: nothing should be refused")

# The reference BLAS, or results that do not say which BLAS: no libtorch figure, and the reason.
for name, ctx, reason in (("reference", reference, "reference BLAS"), ("unrecorded", {}, "do not say which BLAS")):
    bad = run_report(ctx)
    check("31" not in row_a(bad) and "3,100" not in row_a(bad), f"{name}: the (a) row shows libtorch: {row_a(bad)!r}")
    check("3,100" not in summary(bad) and "31x" not in summary(bad), f"{name}: the summary shows libtorch")
    check(re.search(r"\*\*No libtorch figures from training_step_t1.json:\*\* .*" + reason, bad),
          f"{name}: the report should say why libtorch is left out ({reason})")
    check("step (a) >= 2x faster" not in bad, f"{name}: a target against libtorch was judged")

# ADOL-C beside the chain: its re-tape and replay rows from op_overhead, or why they are missing.
def chain_report(adolc):
    """The report of one op_overhead result at 1 thread: the chain 200 ns eager, 100 ns compiled."""
    node = {"heap_calls_per_iter": 0, "tg_sys_allocs_per_iter": 0, "nodes": 1000}
    rows = [dict(node, name="BM_chain_tapegrad", run_name="BM_chain_tapegrad", ns_per_node=200.0),
            dict(node, name="BM_chain_tapegrad_compiled", run_name="BM_chain_tapegrad_compiled", ns_per_node=100.0)]
    if adolc:
        rows += [dict(node, name="BM_chain_adolc_retape", run_name="BM_chain_adolc_retape", ns_per_node=50.0),
                 dict(node, name="BM_chain_adolc_replay", run_name="BM_chain_adolc_replay", ns_per_node=10.0)]
    context = {"adolc": "yes" if adolc else "not built (libadolc-dev missing)"}
    with tempfile.TemporaryDirectory(prefix="tg-report-") as res:
        with open(os.path.join(res, "op_overhead_t1.json"), "w") as f:
            json.dump({"context": context, "benchmarks": rows}, f)
        run = subprocess.run([sys.executable, REPORT, res], capture_output=True, text=True,
                             env=dict(os.environ, QUICK=""))
    if run.returncode != 0:
        failures.append(f"report failed: {run.stderr}")
    return run.stdout


with_adolc = chain_report(True)
check("| eager beside ADOL-C re-tape (trace_on ... trace_off + gradient) | 1 | 200 | 50 | 4x |" in with_adolc,
      "ADOL-C: the re-tape row should sit beside the eager chain, with tapegrad / ADOL-C")
check("| compiled beside ADOL-C replay (gradient on the kept tape) | 1 | 100 | 10 | 10x |" in with_adolc,
      "ADOL-C: the replay row should sit beside the compiled chain")
check("| 50 ns (re-tape) | 10 ns (replay) |" in summary(with_adolc), "ADOL-C: the summary should show both figures")
without = chain_report(False)
check(without.count("not measured (libadolc-dev missing)") == 3,
      "no ADOL-C: both chain rows and the summary should say libadolc-dev is missing")

# gemm_backends: one row per shape, GFLOP/s and % of the program's peak per backend, tapegrad's
# path, and the fastest float32 backend; bfloat16 says why it is missing.
def gemm_row(backend, label, gflops):
    name = f"BM_gemm_backend/{backend}/256x512x10/real_time"
    return {"name": name, "run_name": name, "GFLOPs": gflops, "pct_of_peak": 0.0, "label": label}


with tempfile.TemporaryDirectory(prefix="tg-report-") as res:
    with open(os.path.join(res, "gemm_backends_t1.json"), "w") as f:
        json.dump({"context": {"fma_peak_f32_GFLOPs": "100", "onednn_bf16_units": "no"},
                   "benchmarks": [gemm_row("libxsmm", "libxsmm JIT", 50.0),
                                  gemm_row("tapegrad", "tg::matmul libxsmm", 40.0)]}, f)
    run = subprocess.run([sys.executable, REPORT, res], capture_output=True, text=True, env=dict(os.environ, QUICK=""))
check(run.returncode == 0, f"report failed: {run.stderr}")
check("| 256,512,10 | 784-512-512-10 b256, output layer | 50 (50%) | n/a | n/a | n/a | 40 (40%), libxsmm | "
      "no bfloat16 units | libxsmm (1.25x tg::matmul) |" in run.stdout,
      "gemm_backends: the output layer's row should give each backend's figure and the fastest")

# readme_summary.py: copies the page's block into the README, and --check fails until it has.
with tempfile.TemporaryDirectory(prefix="tg-readme-") as root:
    os.makedirs(os.path.join(root, "docs"))
    shutil.copy(SUMMARY, root)
    with open(os.path.join(root, "docs", "performance.md"), "w") as f:
        f.write(good)
    readme = os.path.join(root, "README.md")
    with open(readme, "w") as f:
        f.write("# x\n\n## Performance\n\n<!-- perf-summary -->\nold figures\n<!-- end perf-summary -->\n\nafter\n")
    sync = [sys.executable, SUMMARY, "--root", root]
    check(subprocess.run(sync + ["--check"], capture_output=True).returncode == 1,
          "readme_summary --check should fail while the README shows other figures")
    check(subprocess.run(sync, capture_output=True).returncode == 0, "readme_summary should rewrite the README")
    text = open(readme).read()
    check(s in text and "old figures" not in text and text.endswith("\nafter\n"),
          f"the README's block should be the page's summary, the rest unchanged:\n{text}")
    check(subprocess.run(sync + ["--check"], capture_output=True).returncode == 0,
          "readme_summary --check should pass once the README is rewritten")
    with open(readme, "w") as f:
        f.write("# x\n\n## Performance\n\nno block\n")
    check(subprocess.run(sync + ["--check"], capture_output=True).returncode == 1,
          "readme_summary --check should fail when the README has no block for the page's summary")

for f in failures:
    print("FAIL:", f)
print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
