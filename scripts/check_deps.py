#!/usr/bin/env python3
"""Checks that each library in src/ declares exactly the libraries of ours it
includes (DEPS/PRIVATE_DEPS dsmil_* in its CMakeLists.txt against the
`#include "<lib>/..."` lines of its sources), and that no include goes
upward in the order of src/README.md. Exit 1 with one line per problem."""
import os
import re
import sys

ORDER = ["core", "crypto", "dbe", "net", "store", "tenant", "llm", "devices", "node"]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
problems = []
for lib in ORDER:
    d = os.path.join(root, lib)
    cm = open(os.path.join(d, "CMakeLists.txt")).read()
    # The folder's library (dsmil_<lib>) and any part of it built as a
    # library of its own in the same folder (e.g. dsmil_injection in devices/,
    # shared with a tool): the folder's dependencies are those of its main
    # library, less its own parts.
    calls = re.findall(r"dsmil_library\((.*?)\)\s*$", cm, re.S | re.M)
    parts = {re.match(r"\s*dsmil_(\w+)", c).group(1) for c in calls if re.match(r"\s*dsmil_(\w+)", c)}
    main = next((c for c in calls if re.match(r"\s*dsmil_" + lib + r"\b", c)), "")
    declared = set(re.findall(r"\bdsmil_(\w+)", main)) - parts
    used = set()
    for dirpath, _, files in os.walk(d):
        for f in files:
            if f.endswith((".cc", ".h")):
                for inc in re.findall(r'^#include "(\w+)/', open(os.path.join(dirpath, f)).read(), re.M):
                    if inc in ORDER and inc != lib:
                        used.add(inc)
    for u in sorted(used - declared):
        problems.append(f"src/{lib}: includes {u}/ but does not declare dsmil_{u}")
    for u in sorted(declared - used):
        problems.append(f"src/{lib}: declares dsmil_{u} but includes nothing of it")
    for u in sorted(used):
        if ORDER.index(u) > ORDER.index(lib):
            problems.append(f"src/{lib}: includes {u}/, which comes after it (src/README.md)")
for p in problems:
    print("  " + p)
print(f"  {len(ORDER)} libraries: {'dependencies as declared' if not problems else str(len(problems)) + ' problem(s)'}")
sys.exit(1 if problems else 0)
