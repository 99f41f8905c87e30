#!/usr/bin/env python3
"""Runs one documentation snippet program and compares its stdout with the expected output.

    run_snippet.py PROGRAM EXPECTED.out

Exits 0 when the output matches exactly, 1 with a unified diff when it does not, and with the
program's own status when it fails. With TAPEGRAD_DOCS_BLESS=1 in the environment the program's
output is written to EXPECTED.out instead (after changing a snippet: run the docs tests once
with it set, review the diff of the .out files, then run tools/docs/sync_snippets.py).
"""
import difflib
import os
import subprocess
import sys
import tempfile


def main():
    program, expected_path = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="tapegrad-snippet-") as cwd:  # snippets may write files
        run = subprocess.run([program], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"{program} exited with status {run.returncode}; stdout was:\n{run.stdout}")
        return run.returncode
    if os.environ.get("TAPEGRAD_DOCS_BLESS") == "1":
        with open(expected_path, "w", encoding="utf-8") as f:
            f.write(run.stdout)
        print(f"wrote {expected_path}")
        return 0
    expected = open(expected_path, encoding="utf-8").read() if os.path.exists(expected_path) else ""
    if run.stdout == expected:
        return 0
    sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), run.stdout.splitlines(True),
                                               expected_path, "actual stdout"))
    print("\nThe snippet's output changed. If the change is intended: TAPEGRAD_DOCS_BLESS=1 ctest -R docs.snippet, "
          "then python3 tools/docs/sync_snippets.py")
    return 1


if __name__ == "__main__":
    sys.exit(main())
