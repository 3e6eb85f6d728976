"""Regenerate the output shown in README.md: every fenced block that starts with `$ channelsim ...`.

    .venv/bin/python docs/readme_outputs.py                 # run every block's commands, rewrite README.md
    .venv/bin/python docs/readme_outputs.py --only bench    # only the blocks whose first command contains "bench"
    .venv/bin/python docs/readme_outputs.py --only responses  # the response card of the baseline (about 20 s)
    .venv/bin/python docs/readme_outputs.py --check         # print the new blocks, change nothing

Each block's commands run, as written, in a scratch folder holding copies of `scenarios/`,
`experiments/` and `tests/malformed/` (so `out/...` paths are the scratch folder's), and the block
becomes its command lines followed by what they printed (stdout and stderr, a progress bar as it
ended). `channelsim viz` serves a page and is left as written. The calibration block's figures are copied
to docs/calibration_fit.png and docs/calibration_parameters.png. The scenario table has its own
script, `experiments/scenario_table.py`; a bench measures this machine, so run the bench blocks
on a quiet one. Takes about ten minutes (the Sobol sweep and the benches are most of it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```\n(\$ channelsim .*?)^```\n", re.MULTILINE | re.DOTALL)
LEFT_AS_WRITTEN = ("channelsim viz",)


def commands(block: str) -> list[str]:
    return [line[2:].split("  #")[0].strip() for line in block.splitlines() if line.startswith("$ ")]


BAR = re.compile(r"^[\w ]+:\s+\d+%\|")  # a tqdm progress bar
PROGRESS = re.compile(r"^  measured ")  # a bench's note of each size as it finishes


def shown(text: str) -> str:
    """Terminal output as it ends: a progress bar at its last state, or gone if it cleared itself (an empty
    line after it); each line's last carriage-return segment."""
    lines = [line.split("\r")[-1].rstrip() for line in text.splitlines()]
    out: list[str] = []
    i = 0
    while i < len(lines):
        if BAR.match(lines[i]):
            j = i
            while j + 1 < len(lines) and BAR.match(lines[j + 1]):
                j += 1
            cleared = j + 1 < len(lines) and not lines[j + 1]
            if not cleared:
                out.append(lines[j])
            i = j + (2 if cleared else 1)
            continue
        if not PROGRESS.match(lines[i]):
            out.append(lines[i])
        i += 1
    return "\n".join(out).strip("\n")


def run(block: str, folder: Path) -> str:
    channelsim = Path(sys.executable).with_name("channelsim")
    header = "\n".join(line for line in block.splitlines() if line.startswith("$ "))
    printed = []
    for command in commands(block):
        argv = [str(channelsim), *shlex.split(command)[1:]]
        result = subprocess.run(argv, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
        printed.append(shown(result.stdout))
    return header + "\n" + "\n".join(p for p in printed if p) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="only blocks whose first command contains this text")
    parser.add_argument("--check", action="store_true", help="print the new blocks, change nothing")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    with tempfile.TemporaryDirectory(prefix="readme-") as scratch:
        folder = Path(scratch)
        for name in ("scenarios", "experiments", "tests/malformed"):
            shutil.copytree(ROOT / name, folder / name)

        def replace(match: re.Match) -> str:
            block = match.group(1)
            first = commands(block)[0]
            if first.startswith(LEFT_AS_WRITTEN) or (args.only and args.only not in first):
                return match.group(0)
            print(f"running: {first}", file=sys.stderr, flush=True)
            new = run(block, folder)
            if args.check:
                print(new)
            return f"```\n{new}```\n"

        updated = BLOCK.sub(replace, text)
        for name, shown_as in (("fit.png", "calibration_fit.png"), ("parameters.png", "calibration_parameters.png")):
            made = folder / "out" / "calibration" / name  # the calibration block's figures, shown in the README
            if made.exists() and not args.check:
                shutil.copyfile(made, ROOT / "docs" / shown_as)
    if not args.check:
        readme.write_text(updated)
        print("README.md: blocks rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
