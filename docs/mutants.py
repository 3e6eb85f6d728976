"""Tally of the last mutation-testing run (`make mutants`): killed, equivalent, surviving, not yet run.

A surviving mutant is either killed by a new test or listed in tests/equivalent_mutants.toml with a one-line reason
(a change no metric can see). What is neither is printed, with its diff, for triage:

    .venv/bin/python docs/mutants.py            # the tally and the survivors to triage
    .venv/bin/python docs/mutants.py --quiet    # the tally only
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiet", action="store_true", help="the tally only, no diffs")
    args = parser.parse_args()
    codes = results()
    if not codes:
        print("no mutation-testing results under mutants/: run `make mutants` first", file=sys.stderr)
        return 2
    equivalent = tomllib.loads(EQUIVALENT.read_text())["mutants"]
    tally: Counter[str] = Counter()
    triage = []
    for name, code in codes.items():
        if code is None:
            tally["not run"] += 1
        elif code in KILLED:
            tally["killed"] += 1
        elif code in SURVIVED and name in equivalent:
            tally["equivalent"] += 1
        elif code in SURVIVED:
            tally["surviving"] += 1
            triage.append(name)
        else:
            tally[f"other (exit code {code})"] += 1
    stale = sorted(name for name in equivalent if codes.get(name) not in SURVIVED)
    print(f"{len(codes)} mutants: " + ", ".join(f"{count} {kind}" for kind, count in sorted(tally.items())))
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
