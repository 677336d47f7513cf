# SPDX-License-Identifier: Apache-2.0
"""The library's house rules, read off the built archive with nm:

- every symbol the library exports starts with octo_ (everything else is static);
- no two objects need each other's symbols, directly or around a longer circle, so the
  modules form layers (doc/DESIGN.md, "The library, layer by layer").

usage: layers.py [ARCHIVE]   (default: $OCTOTEST_BUILDDIR/lib/.libs/liboctoserve.a)
"""
import collections
import os
import re
import subprocess
import sys

EXPORT_TYPES = set("TDBRCGSVWiu")  # nm's letters for defined global symbols
# "archive.a:member.o:<address> T name", or "archive.a:member.o:         U name"
LINE = re.compile(r"^.*:([^:]+\.o):\s*(?:[0-9a-f]+\s+)?([A-Za-z]) (\S+)$")


def read_archive(path):
    """{object: (defined globals, undefined symbols)} from nm's archive listing."""
    defined = collections.defaultdict(set)
    undefined = collections.defaultdict(set)
    out = subprocess.run(["nm", "-A", "-g", path], check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if m is None:
            continue
        obj, kind, sym = m.groups()
        if kind == "U":
            undefined[obj].add(sym)
        elif kind in EXPORT_TYPES:
            defined[obj].add(sym)
    return {o: (defined[o], undefined[o]) for o in set(defined) | set(undefined)}


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan), as sorted lists."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(argv):
    builddir = os.environ.get("OCTOTEST_BUILDDIR", ".")
    archive = argv[1] if len(argv) > 1 else os.path.join(builddir, "lib/.libs/liboctoserve.a")
    objects = read_archive(archive)
    owner = {}
    for obj, (defined, _) in objects.items():
        for sym in defined:
            owner[sym] = obj
    failures = []
    for obj, (defined, _) in sorted(objects.items()):
        for sym in sorted(defined):
            if not sym.startswith("octo_"):
                failures.append("%s exports %s, which lacks the octo_ prefix" % (obj, sym))
    graph = {obj: sorted({owner[s] for s in undef if s in owner and owner[s] != obj})
             for obj, (_, undef) in objects.items()}
    for comp in cycles(graph):
        edges = ["%s -> %s" % (a, b) for a in comp for b in graph[a] if b in comp]
        failures.append("objects need each other's symbols: %s" % ", ".join(edges))
    if len(objects) < 10:
        failures.append("only %d objects in %s: not the library?" % (len(objects), archive))
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("%d objects, every export prefixed octo_, no circles" % len(objects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
