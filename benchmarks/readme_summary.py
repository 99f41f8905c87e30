#!/usr/bin/env python3
"""Copies the performance summary of docs/performance.md into README.md, so that the front page's
table is the one benchmarks/run.sh last wrote (its machine, date and same-process ratios) and the
two cannot drift apart.

    readme_summary.py           rewrite README.md's block from docs/performance.md's
    readme_summary.py --check   change nothing; exit 1 if they differ (the test benchmarks.readme_summary)

Both files hold the block between the lines `<!-- perf-summary -->` and `<!-- end perf-summary -->`;
benchmarks/performance_report.py writes the page's, and a full benchmarks/run.sh calls this script.
A page without the block (measured before the report wrote one) leaves the README as it is.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(?P<open>^<!-- perf-summary -->\n)(?P<body>.*?)(?P<close>^<!-- end perf-summary -->)",
                   re.S | re.M)


def render(readme, page):
    """README.md's text with its block replaced by the page's, or an error message."""
    m = BLOCK.search(page)
    if not m:
        return readme, None
    blocks = len(BLOCK.findall(readme))
    if blocks != 1:
        return readme, (f"README.md has {blocks} <!-- perf-summary --> ... <!-- end perf-summary --> blocks, "
                        "expected one (in its Performance section)")
    return BLOCK.sub(lambda r: r.group("open") + m.group("body") + r.group("close"), readme), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if README.md is out of step")
    ap.add_argument("--root", default=ROOT, help="the repository (default: this script's)")
    args = ap.parse_args()
    readme_path = os.path.join(args.root, "README.md")
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(args.root, "docs", "performance.md"), encoding="utf-8") as f:
        page = f.read()
    new, error = render(readme, page)
    if error:
        print(error, file=sys.stderr)
        return 1
    if new == readme:
        return 0
    if args.check:
        print("README.md's performance block differs from the summary in docs/performance.md: run "
              "python3 benchmarks/readme_summary.py (or benchmarks/run.sh, which does)", file=sys.stderr)
        return 1
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(new)
    print("rewrote README.md's performance block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
