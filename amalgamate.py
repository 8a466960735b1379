#!/usr/bin/env python3
"""Merge the hil headers into one single-file header.

    python3 amalgamate.py [-o hil_single.h]

The result holds hil.h, then each companion header (hil_connectors.h,
hil_aux.h, hil_runner.h, hil_probe.h, hil_uds.h, hil_console.h) in dependency order, with their `#include "hil.h"`
lines removed: the declarations and the implementations stay behind the
same guards and HIL_IMPLEMENTATION, so a program builds and behaves the
same with the one file as with the four.
"""
import argparse
import os
import re
import sys

ORDER = ["hil.h", "hil_connectors.h", "hil_aux.h", "hil_runner.h", "hil_probe.h", "hil_uds.h", "hil_console.h"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"(hil[a-z_]*\.h)"\s*$')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="hil_single.h")
    ap.add_argument("--root", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    parts = []
    included = set()
    for name in ORDER:
        path = os.path.join(args.root, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            m = INCLUDE.match(line)
            if m and m.group(1) in ORDER:
                if m.group(1) not in included and m.group(1) != name:
                    sys.exit(f"amalgamate: {name} includes {m.group(1)}, which is not merged before it")
                out.append(f"/* (amalgamated) {line.strip()} */")
                continue
            out.append(line)
        parts.append(f"/* ==== {name} " + "=" * (70 - len(name)) + " */\n" + "\n".join(out) + "\n")
        included.add(name)
    if "hil.h" not in included:
        sys.exit("amalgamate: hil.h not found in " + args.root)
    banner = ("/* hil_single.h - the hil headers in one file, made by amalgamate.py from "
              + ", ".join(n for n in ORDER if n in included) + ".\n"
              " * Do not edit: edit the headers and run `make single`. */\n")
    tmp = args.output + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(banner + "\n".join(parts))
    os.replace(tmp, args.output)
    print(f"amalgamate: wrote {args.output} ({len(included)} headers)")


if __name__ == "__main__":
    main()
