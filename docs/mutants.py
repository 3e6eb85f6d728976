"""Tally of the last mutation-testing run (`make mutants`): killed, equivalent, surviving, not yet run.

A surviving mutant is either killed by a new test or listed in tests/equivalent_mutants.toml with a one-line reason
(a change no metric can see). What is neither is printed, with its diff, for triage:

    .venv/bin/python docs/mutants.py            # the tally and the survivors to triage
    .venv/bin/python docs/mutants.py --quiet    # the tally only
    .venv/bin/python docs/mutants.py --quiet --by-file    # and each file's
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "equivalent_mutants.toml"
# mutmut's exit codes for a mutant: the tests failed (killed), passed (survived), timed out, or had none to run
KILLED, SURVIVED = {1, 3}, {0}


def results() -> dict[str, int | None]:
    """Each mutant's exit code from mutmut's records under mutants/ (None: not run yet)."""
    codes: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.meta")):
        codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return codes


def source_file(name: str) -> str:
    """The file a mutant's name points into: sim.policies.mdf.xǁ... -> sim/policies/mdf.py."""
    path = name.split(".x")[0].replace(".", "/")
    return f"{path}/__init__.py" if (ROOT / path).is_dir() else f"{path}.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiet", action="store_true", help="the tally only, no diffs")
    parser.add_argument("--by-file", action="store_true", help="the tally of each mutated file too")
    args = parser.parse_args()
    codes = results()
    if not codes:
        print("no mutation-testing results under mutants/: run `make mutants` first", file=sys.stderr)
        return 2
    equivalent = tomllib.loads(EQUIVALENT.read_text())["mutants"]
    tally: Counter[str] = Counter()
    by_file: dict[str, Counter[str]] = {}
    triage = []
    for name, code in codes.items():
        if code is None:
            kind = "not run"
        elif code in KILLED:
            kind = "killed"
        elif code in SURVIVED and name in equivalent:
            kind = "equivalent"
        elif code in SURVIVED:
            kind = "surviving"
            triage.append(name)
        else:
            kind = f"other (exit code {code})"
        tally[kind] += 1
        by_file.setdefault(source_file(name), Counter())[kind] += 1
    stale = sorted(name for name in equivalent if codes.get(name) not in SURVIVED)
    print(f"{len(codes)} mutants: " + ", ".join(f"{count} {kind}" for kind, count in sorted(tally.items())))
    if args.by_file:
        kinds = sorted(tally)
        print(f"\n{'file':32s}" + "".join(f"{kind:>12s}" for kind in ["mutants", *kinds]))
        for path, counts in sorted(by_file.items()):
            print(f"{path:32s}{sum(counts.values()):12d}" + "".join(f"{counts[kind]:12d}" for kind in kinds))
    if stale:
        print(f"{len(stale)} listed as equivalent but killed, not run or gone: " + ", ".join(stale))
    if triage and not args.quiet:
        print(f"\nto triage ({len(triage)}): kill with a test, or list in {EQUIVALENT.relative_to(ROOT)} with a reason")
        for name in sorted(triage):
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=ROOT, capture_output=True,
                                   text=True)
            diff = [line for line in shown.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            print(f"  {name}\n    " + "\n    ".join(diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
