# SPDX-License-Identifier: Apache-2.0
"""Nothing in the repository points outside it: no path into the shared folder beside the
checkout (OUTSIDE), and every design
document or note a comment, README line or man page names exists in the repository
(doc/DESIGN.md, doc/notes/*.md). Scans the source tree ($OCTOTEST_SRCDIR)."""
import os
import re
import sys

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
SCANNED = (".c", ".h", ".py", ".sh", ".md", ".am", ".ac", ".in", ".conf", ".json", ".5", ".8",
           ".service", ".socket", ".lua")
SKIP_DIRS = {".git", "autom4te.cache", "build-aux", "m4", ".deps", ".libs", "__pycache__"}
OUTSIDE = re.compile(r"\.\.[/]shared|/work[/]shared")
NOTE = re.compile(r"(?<![\w/.-])((?:doc/)?notes/[\w.-]+\.md|(?:doc/)?DESIGN\.md)")


def files(top):
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for n in names:
            if n.endswith(SCANNED) or n in ("quickstart.sh", "run"):
                yield os.path.join(root, n)


def main():
    failures = []
    me = os.path.abspath(__file__)
    for path in files(SRCDIR):
        if os.path.abspath(path) == me:
            continue
        rel = os.path.relpath(path, SRCDIR)
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                failures.append("%s:%d points outside the repository: %s" % (rel, n, line.strip()))
            for ref in NOTE.findall(line):
                target = ref if ref.startswith("doc/") else "doc/" + ref
                if not os.path.isfile(os.path.join(SRCDIR, target)):
                    failures.append("%s:%d names %s, which the repository lacks" % (rel, n, ref))
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("every reference resolves inside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
