#!/usr/bin/env python3
"""Keeps the Markdown pages in docs/ in step with the programs in docs/snippets/.

A page includes a snippet program, and optionally its expected output, between markers (each at
the start of a line):

    <!-- snippet: first_gradient -->
    ```cpp
    ...the whole of docs/snippets/first_gradient.cpp...
    ```
    <!-- end snippet -->

    <!-- output: first_gradient -->
    ```text
    ...the whole of docs/snippets/first_gradient.out...
    ```
    <!-- end output -->

A name `examples/NAME` includes an example program, examples/NAME.cpp, and its expected output
examples/NAME.out, which the example's own test checks.

A page may also quote part of a source file, checked rather than copied:

    <!-- excerpt: autograd/src/ops/softmax.cpp -->
    ```cpp
    ...lines of that file, in order...
    ```
    <!-- end excerpt -->

The excerpt's lines must be consecutive lines of the file, compared without their leading and
trailing whitespace; a line starting `// ...` stands for any number of lines left out (it may go on
to say what they do: `// ... (the kernel)`).

The layout the pages describe (docs/contributing.md's file map, README.md's layout table, the
Doxyfile) is checked by tools/docs/check_layout.py.

Run without arguments to rewrite the pages from the snippet files. With --check nothing is
written; it exits 1 if a page is out of step with its snippets, or if:
  - a marker names a snippet that does not exist, or a snippet is used by no page;
  - a snippet has no .out file (the test suite compares every program's stdout with it);
  - a C++ block in a page is neither between snippet markers (it would not be compiled) nor an
    excerpt of the sources (below) whose lines are all in the file it names;
  - a relative link or image in a page points at a file that does not exist;
  - a page in docs/ cannot be reached by links from docs/README.md;
  - a page shows a snippet without its output (docs/README.md promises the output under each
    program), or an example program in examples/ is missing from docs/README.md's list;
  - the measurement-state line of docs/performance.md (between perf-state markers naming the
    commit the figures were measured at) no longer lists the performance-relevant files changed
    since that commit. Without git history (a shallow clone) that line is left as it is.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
SNIPPETS = os.path.join(DOCS, "snippets")

BLOCK = re.compile(
    r"(?P<open>^<!-- (?P<kind>snippet|output): (?P<name>(?:examples/)?[A-Za-z0-9_]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close>^<!-- end (?P=kind) -->)",
    re.S | re.M,
)
EXCERPT = re.compile(
    r"^<!-- excerpt: (?P<path>[A-Za-z0-9_./-]+) -->\n```cpp\n(?P<body>.*?)^```\n<!-- end excerpt -->",
    re.S | re.M,
)
ELIDED = "// ..."
PERF_STATE = re.compile(
    r"(?P<open>^<!-- perf-state: (?P<commit>[0-9a-f]{7,40}) -->\n)(?P<body>.*?)(?P<close>^<!-- end perf-state -->)",
    re.S | re.M,
)
# What the figures of docs/performance.md depend on: the library's sources, the benchmarks, the build.
PERF_PATHS = ["core/src", "autograd/src", "nn/src", "optim/src", "benchmarks", "CMakeLists.txt", "cmake",
              "autograd/CMakeLists.txt", "core/CMakeLists.txt"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def fenced(lang, text):
    if not text.endswith("\n"):
        text += "\n"
    return "```" + lang + "\n" + text + "```\n"


def render(page_text, problems, page, used):
    def replace(m):
        name, kind = m.group("name"), m.group("kind")
        ext, lang = (".cpp", "cpp") if kind == "snippet" else (".out", "text")
        # "examples/NAME" is an example program (its test, not the docs', checks NAME.out).
        path = os.path.join(ROOT, name + ext) if "/" in name else os.path.join(SNIPPETS, name + ext)
        if not os.path.exists(path):
            problems.append(f"{page}: {kind} '{name}' has no file {os.path.relpath(path, ROOT)}")
            return m.group(0)
        used.add(name)
        return m.group("open") + fenced(lang, read(path)) + m.group("close")

    return BLOCK.sub(replace, page_text)


def perf_state(commit):
    """The line saying whether the sources changed since `commit`, or None without git history."""
    run = subprocess.run(["git", "-C", ROOT, "diff", "--name-only", commit, "--"] + PERF_PATHS,
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None
    # New files count as soon as they exist, so that the line reads the same before and after `git add`.
    new = subprocess.run(["git", "-C", ROOT, "ls-files", "--others", "--exclude-standard", "--"] + PERF_PATHS,
                         capture_output=True, text=True)
    changed = sorted(set(run.stdout.split()) | set(new.stdout.split()))
    if not changed:
        return (f"The performance-relevant sources ({', '.join('`' + p + '`' for p in PERF_PATHS)}) are as they were "
                f"at commit {commit}: these figures describe the current code.\n")
    shown = ", ".join(f"`{c}`" for c in changed[:12]) + (f" and {len(changed) - 12} more" if len(changed) > 12 else "")
    return (f"**Not re-measured since commit {commit}:** {len(changed)} performance-relevant "
            f"file{'s' if len(changed) != 1 else ''} changed after it ({shown}). Read the figures as those of "
            f"{commit}; `benchmarks/run.sh` re-measures.\n")


def render_perf_state(text):
    def replace(m):
        body = perf_state(m.group("commit"))
        return m.group(0) if body is None else m.group("open") + body + m.group("close")

    return PERF_STATE.sub(replace, text)


def excerpt_found(excerpt_lines, source_lines):
    """True if the excerpt's lines are consecutive lines of the source, compared without leading
    and trailing whitespace, where a line starting `// ...` stands for any number of lines."""
    src = [line.strip() for line in source_lines]
    parts, part = [], []
    for line in excerpt_lines:
        if line.strip().startswith(ELIDED):
            parts.append(part)
            part = []
        else:
            part.append(line.strip())
    parts.append(part)
    parts = [p for p in parts if p]
    if not parts:
        return False

    def find(part, start):
        for i in range(start, len(src) - len(part) + 1):
            if src[i:i + len(part)] == part:
                return i
        return -1

    # The earliest place of each part after the previous one: if the excerpt is in the file at
    # all, it is found this way.
    at = 0
    for part in parts:
        i = find(part, at)
        if i < 0:
            return False
        at = i + len(part)
    return True


def check_excerpts(page, text, problems):
    for m in EXCERPT.finditer(text):
        path = os.path.join(ROOT, m.group("path"))
        line = text.count("\n", 0, m.start()) + 1
        if not os.path.isfile(path):
            problems.append(f"{page}:{line}: excerpt of {m.group('path')}, which does not exist")
        elif not excerpt_found(m.group("body").splitlines(), read(path).splitlines()):
            problems.append(f"{page}:{line}: the excerpt of {m.group('path')} is no longer in that file "
                            f"(copy the current lines; `{ELIDED}` stands for lines left out)")


def unmanaged_cpp_blocks(text):
    """Line numbers of ```cpp fences that are neither inside snippet markers nor excerpts."""
    stripped = BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    stripped = EXCERPT.sub(lambda m: "\n" * m.group(0).count("\n"), stripped)
    return [i + 1 for i, line in enumerate(stripped.split("\n")) if re.match(r"\s*```(cpp|c\+\+)\s*$", line)]


def check_links(page, text, problems):
    base = os.path.dirname(os.path.join(DOCS, page))
    targets = []
    # Links inside code blocks are code, not links.
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in LINK.findall(prose):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = os.path.normpath(os.path.join(base, target.split("#")[0]))
        if not os.path.exists(path):
            problems.append(f"{page}: link to {target} but {os.path.relpath(path, ROOT)} does not exist")
        targets.append(path)
    return targets


def missing_outputs(page, text, problems):
    """A page promises the output under each program it shows."""
    shown = {m.group("name") for m in BLOCK.finditer(text) if m.group("kind") == "snippet"}
    outputs = {m.group("name") for m in BLOCK.finditer(text) if m.group("kind") == "output"}
    for name in sorted(shown - outputs):
        problems.append(f"{page}: snippet '{name}' is shown without its output (add <!-- output: {name} --> "
                        f"and <!-- end output --> under it)")


def check_index(problems):
    """docs/README.md lists every example (README.md's layout: tools/docs/check_layout.py)."""
    index = read(os.path.join(DOCS, "README.md"))
    for f in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if f.endswith(".cpp") and f"(../examples/{f})" not in index:
            problems.append(f"docs/README.md: examples/{f} is missing from the list of examples")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of step")
    args = ap.parse_args()

    problems, used, stale = [], set(), []
    pages = sorted(p for p in os.listdir(DOCS) if p.endswith(".md"))
    links = {}
    for page in pages:
        path = os.path.join(DOCS, page)
        text = read(path)
        new = render(text, problems, page, used)
        if page == "performance.md":
            new = render_perf_state(new)
        if new != text:
            stale.append(page)
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
        for line in unmanaged_cpp_blocks(new):
            problems.append(f"{page}:{line}: C++ block outside snippet markers (put it in docs/snippets/)")
        check_excerpts(page, new, problems)
        links[os.path.join(DOCS, page)] = check_links(page, new, problems)
        missing_outputs(page, new, problems)
    check_index(problems)

    snippets = sorted(f[:-4] for f in os.listdir(SNIPPETS) if f.endswith(".cpp"))
    for name in snippets:
        if name not in used:
            problems.append(f"docs/snippets/{name}.cpp is included by no page")
        if not os.path.exists(os.path.join(SNIPPETS, name + ".out")):
            problems.append(f"docs/snippets/{name}.cpp has no expected output {name}.out")

    # Every page must be reachable from the index.
    seen, todo = set(), [os.path.join(DOCS, "README.md")]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += [t for t in links.get(p, []) if t.endswith(".md") and os.path.dirname(t) == DOCS]
    for page in pages:
        if os.path.join(DOCS, page) not in seen:
            problems.append(f"docs/{page} is not reachable by links from docs/README.md")

    if args.check and stale:
        for page in stale:
            problems.append(f"docs/{page} is out of step with its snippets (or, for performance.md, with the "
                            f"sources changed since it was measured): run python3 tools/docs/sync_snippets.py")
    elif stale:
        print("rewrote: " + ", ".join("docs/" + p for p in stale))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
