#!/usr/bin/env python3
"""The size limits of the Rust sources (issue 16), checked in every test run:

- no source file over MAX_FILE lines of non-test code (a file's tests are the
  `#[cfg(test)] mod tests` at its end, or a `tests.rs` of its own);
- no function over MAX_FN lines;
- no `#[allow(clippy::too_many_arguments)]`.

    python3 scripts/limits.py [--max-file N] [--max-fn N]

Prints each breach with its place and exits 1 when there is one.
"""
import argparse
import os
import re
import sys

ROOTS = ["control/src", "router/src", "dataplane/src", "dpdk/src", "dpdk-sys/src"]
FN = re.compile(r'^(\s*)(pub(\([a-z: ]+\))? )?(const )?(async )?(unsafe )?(extern "C" )?fn (\w+)')


def code_lines(lines):
    """The lines before the file's test module."""
    for i, line in enumerate(lines):
        # `mod tests {` here, not `mod tests;` (that one is a file of its own,
        # declared among the modules at the top).
        if line.startswith("#[cfg(test)]") and i + 1 < len(lines) and lines[i + 1].startswith(
            ("mod tests {", "pub(crate) mod tests {", "pub mod tests {")
        ):
            return lines[:i]
    return lines


def functions(lines):
    """(name, first line, length) of every function with a body."""
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        indent = m.group(1)
        # A declaration without a body (a trait's) ends in `;` before any `{`.
        j = i
        while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            continue
        if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
            yield m.group(8), i + 1, j - i + 1
            continue
        for k in range(j + 1, len(lines)):
            if lines[k].startswith(indent + "}") and not lines[k].startswith(indent + " "):
                yield m.group(8), i + 1, k - i + 1
                break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-file", type=int, default=1010)
    ap.add_argument("--max-fn", type=int, default=150)
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    breaches = []
    for top in ROOTS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                lines = open(path, encoding="utf-8").read().split("\n")
                if "too_many_arguments" in "\n".join(lines):
                    breaches.append(f"{rel}: allows clippy::too_many_arguments")
                if f == "tests.rs":
                    continue
                code = code_lines(lines)
                if len(code) > args.max_file:
                    breaches.append(f"{rel}: {len(code)} lines of non-test code (limit {args.max_file})")
                for name, at, n in functions(code):
                    if n > args.max_fn:
                        breaches.append(f"{rel}:{at}: fn {name} is {n} lines (limit {args.max_fn})")
    for b in breaches:
        print(b)
    if breaches:
        print(f"limits: {len(breaches)} breach(es)")
        return 1
    print("limits: every file and function within them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
