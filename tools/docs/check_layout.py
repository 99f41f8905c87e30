#!/usr/bin/env python3
"""Checks that the pages describing the source tree describe the tree as it is.

    check_layout.py        exit 1, naming each disagreement, if the pages and the tree differ

docs/contributing.md's file map is the part of that page between `<!-- file-map -->` and
`<!-- end file-map -->`: tables whose first cell names one or more paths in backticks, relative
to the repository root, a folder with a trailing slash. A module is a folder with
include/tapegrad/<folder>/. It fails if:
  - the map names a path that does not exist (or a folder as a file, or a file as a folder);
  - the map leaves out a top-level folder, a folder under a module's src/ (a room), or a file
    under autograd/src/ (the one module whose sources are mapped file by file);
  - a module's row, in the map or in README.md's layout table, lists in its last cell other
    modules than the DEPENDS of its CMakeLists.txt's tapegrad_module() call;
  - "The library is N modules" in either page has the wrong N;
  - README.md's layout table leaves out a top-level folder, or names one that does not exist;
  - a path in backticks anywhere in contributing.md that starts with a top-level folder
    (`autograd/src/ops/op.h`), or an include path (`tapegrad/autograd/testing.h`), names nothing;
    a test it names as `Suite.Name` is not a TEST in tests/; a `c.method(` of the backward
    context it names is not declared in autograd/src/engine/backward.h;
  - contributing.md does not quote, as checked excerpts, an op of each of the three kinds it
    teaches: an elementwise op (pointwise), a reduction (ops/reduce.cpp) and a fused kernel with a
    backward op (an op named `*_backward`); sync_snippets.py checks that each excerpt is in its file;
  - the example in autograd/src/ops/op.h's header comment (its lines indented under `//   `) is
    not in the file the comment names before it (ops/FILE.cpp);
  - docs/Doxyfile's INPUT and STRIP_FROM_INC_PATH are not exactly include/ and each module's
    include/ (INPUT adds the main page), or name a path that does not exist: the reference covers
    the installed headers, and no private room.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sync_snippets  # noqa: E402  (the excerpt format and its matching)

ROOT = os.path.dirname(os.path.dirname(HERE))
CONTRIBUTING = "docs/contributing.md"
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
MAP = re.compile(r"^<!-- file-map -->\n(?P<body>.*?)^<!-- end file-map -->", re.S | re.M)
ROW_PATHS = re.compile(r"`([^`\s]+)`")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def ignored(name):
    """Hidden and editor files: not part of the tree."""
    return name.startswith(".") or name.endswith(("~", ".swp"))


def top_folders():
    """The top-level folders, without build output (.gitignore's build*/ and /out/)."""
    return sorted(d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d)) and not ignored(d)
                  and not d.startswith("build") and d != "out")


def modules():
    return [d for d in top_folders() if os.path.isdir(os.path.join(ROOT, d, "include", "tapegrad", d))]


def module_depends(m):
    call = re.search(r"tapegrad_module\(\s*" + m + r"\b([^)]*)\)", read(f"{m}/CMakeLists.txt"))
    deps = re.search(r"DEPENDS((?:\s+\w+)+?)(?:\s+LIBS\b|\s*$)", call.group(1)) if call else None
    return sorted(deps.group(1).split()) if deps else []


def walk(rel):
    """(folders, files) under rel, as paths relative to the root, folders with a trailing slash."""
    folders, files = [], []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, rel)):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        base = os.path.relpath(dirpath, ROOT)
        folders += [f"{base}/{d}/" for d in dirnames]
        files += [f"{base}/{f}" for f in sorted(filenames) if not ignored(f)]
    return folders, files


def rows_of_tables(text):
    """(first cell, last cell) of each row of the Markdown tables in text, without their headers."""
    out, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        body = [row for row in table[1:] if not re.match(r"^\|[-| :]+\|$", row)]  # header and rule out
        for row in body:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            out.append((cells[0], cells[-1]))
        table = []
    return out


def path_exists(p):
    full = os.path.join(ROOT, p)
    return os.path.isdir(full) if p.endswith("/") else os.path.isfile(full)


def check_count(page, text, problems):
    mods = modules()
    word = NUMBERS[len(mods)] if len(mods) < len(NUMBERS) else str(len(mods))
    count = re.search(r"The library is (\w+) modules", text)
    if not count or count.group(1) != word:
        problems.append(f"{page}: it should say 'The library is {word} modules' ({', '.join(mods)})")


def check_depends(page, rows, problems):
    for first, last in rows:
        for m in modules():
            if first == f"`{m}/`":
                said = sorted(p.rstrip("/") for p in ROW_PATHS.findall(last) if p.endswith("/"))
                if said != module_depends(m):
                    problems.append(f"{page}: the row of `{m}/` says it depends on {said or 'nothing'}, but "
                                    f"{m}/CMakeLists.txt says DEPENDS {module_depends(m) or 'nothing'}")


def check_map(text, problems):
    m = MAP.search(text)
    if not m:
        problems.append(f"{CONTRIBUTING}: no file map (<!-- file-map --> ... <!-- end file-map -->)")
        return
    rows = rows_of_tables(m.group("body"))
    named = set()
    for first, _ in rows:
        for p in ROW_PATHS.findall(first):
            named.add(p)
            if not path_exists(p):
                kind = "folder" if p.endswith("/") else "file"
                problems.append(f"{CONTRIBUTING}: the file map names the {kind} `{p}`, which does not exist")
    wanted = [d + "/" for d in top_folders()]
    for mod in modules():
        wanted += walk(f"{mod}/src")[0]
    wanted += sum(walk("autograd/src"), [])
    for p in sorted(set(wanted)):
        if p not in named:
            problems.append(f"{CONTRIBUTING}: the file map has no row for `{p}` (add one saying what it holds)")
    check_depends(CONTRIBUTING, rows, problems)


def check_readme(problems):
    text = read("README.md")
    layout = re.search(r"^## Layout\n(?P<body>.*?)(?=^## |\Z)", text, re.S | re.M)
    if not layout:
        problems.append("README.md: no '## Layout' section")
        return
    body = layout.group("body")
    check_count("README.md", body, problems)
    rows = rows_of_tables(body)
    named = {p for first, _ in rows for p in ROW_PATHS.findall(first)}
    for p in sorted(named):
        if not path_exists(p):
            problems.append(f"README.md: the layout table names `{p}`, which does not exist")
    for d in top_folders():
        if d + "/" not in named:
            problems.append(f"README.md: the layout table has no row naming `{d}/`")
    check_depends("README.md", rows, problems)


def check_mentions(text, problems):
    """Paths, tests and backward-context methods named in contributing.md's prose exist."""
    prose = sync_snippets.BLOCK.sub("", sync_snippets.EXCERPT.sub("", text))
    tops = set(top_folders())
    includes = glob.glob(os.path.join(ROOT, "*", "include")) + [os.path.join(ROOT, "include")]
    for token in sorted(set(re.findall(r"`([^`\s]+)`", prose))):
        path = token.split("#")[0]
        if "*" in path or not re.fullmatch(r"[A-Za-z0-9_./-]+", path):
            continue
        head = path.split("/")[0]
        if head in tops and "/" in path and not os.path.exists(os.path.join(ROOT, path)):
            problems.append(f"{CONTRIBUTING}: `{token}` names nothing in the tree")
        if head == "tapegrad" and path.endswith(".h") and not any(os.path.isfile(os.path.join(i, path)) for i in includes):
            problems.append(f"{CONTRIBUTING}: `{token}` is no public header (no */include/{path})")
    tests = ""
    for f in glob.glob(os.path.join(ROOT, "tests", "**", "*.cpp"), recursive=True):
        with open(f, encoding="utf-8") as fh:
            tests += fh.read()
    for suite, name in sorted(set(re.findall(r"`([A-Z][A-Za-z]+)\.([A-Z]\w+)`", prose))):
        if not re.search(r"\bTEST(?:_F|_P)?\(\s*" + suite + r"\s*,\s*" + name + r"\s*\)", tests):
            problems.append(f"{CONTRIBUTING}: the test `{suite}.{name}` is not in tests/")
    context = read("autograd/src/engine/backward.h")
    for method in sorted(set(re.findall(r"`c\.(\w+)\(", prose))):
        if not re.search(r"\b" + method + r"\(", context):
            problems.append(f"{CONTRIBUTING}: `c.{method}(` is not a method of BackwardContext (engine/backward.h)")


def check_three_kinds(text, problems):
    excerpts = [(m.group("path"), m.group("body")) for m in sync_snippets.EXCERPT.finditer(text)]
    kinds = {
        "an elementwise op built with pointwise()": lambda p, b: "pointwise(" in b and "static const Op" in b,
        "a reduction from autograd/src/ops/reduce.cpp": lambda p, b: p == "autograd/src/ops/reduce.cpp"
        and "static const Op" in b,
        "a fused kernel with its backward op": lambda p, b: re.search(r'\.name = "\w+_backward"', b) is not None,
    }
    for kind, found in kinds.items():
        if not any(found(p, b) for p, b in excerpts):
            problems.append(f"{CONTRIBUTING}: no excerpt shows {kind}")


def check_op_header(problems):
    rel = "autograd/src/ops/op.h"
    header = []
    for line in read(rel).splitlines():
        if line.startswith("#pragma"):
            continue
        if not line.startswith("//"):
            break
        header.append(line)
    example = [line[2:] for line in header if line.startswith("//   ")]
    first = next((i for i, line in enumerate(header) if line.startswith("//   ")), len(header))
    source = re.search(r"\b(ops/\w+\.(?:cpp|h))\b", "\n".join(header[:first]))
    if not source or not example:
        problems.append(f"{rel}: the header comment should name the file its example is from (ops/FILE.cpp), then "
                        f"show the example indented under '//   '")
        return
    path = "autograd/src/" + source.group(1)
    if not os.path.isfile(os.path.join(ROOT, path)):
        problems.append(f"{rel}: the header comment's example is said to be from {path}, which does not exist")
    elif not sync_snippets.excerpt_found(example, read(path).splitlines()):
        problems.append(f"{rel}: the example in the header comment is no longer in {path} (copy it again)")


def doxy_values(text, key):
    m = re.search(r"^" + key + r"\s*=((?:[^\n]*\\\n)*[^\n]*)", text, re.M)
    return m.group(1).replace("\\\n", " ").split() if m else []


def check_doxyfile(problems):
    rel = "docs/Doxyfile"
    text = read(rel)
    public = ["include"] + [f"{m}/include" for m in modules()]
    for key, extra in (("INPUT", ["docs/api/mainpage.md"]), ("STRIP_FROM_INC_PATH", [])):
        values = doxy_values(text, key)
        for v in values:
            if not os.path.exists(os.path.join(ROOT, v)):
                problems.append(f"{rel}: {key} names {v}, which does not exist")
        if sorted(values) != sorted(public + extra):
            problems.append(f"{rel}: {key} should be exactly {' '.join(public + extra)} (the installed headers), "
                            f"not {' '.join(values)}")


def main():
    problems = []
    text = read(CONTRIBUTING)
    check_map(text, problems)
    check_count(CONTRIBUTING, text, problems)
    check_readme(problems)
    check_mentions(text, problems)
    check_three_kinds(text, problems)
    check_op_header(problems)
    check_doxyfile(problems)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
