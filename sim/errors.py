"""Bad input, told to people: one base class for every refusal, and how a message names a file.

Every error a user can fix (a scenario, an experiment, a roster, a calibration, an option, an output
folder) is an `InputError`: the command line prints its lines, exits 2, shows no traceback and has
written nothing. Anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input: `problems` are the lines printed, each naming the file or option, the value and what is
    allowed."""

    separator = "\n"

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self.separator.join(self.problems))

    def __reduce__(self):  # survives the trip back from a worker process
        return type(self), (self.problems,)


def first_line(error: BaseException, named: bool = False) -> str:
    """An error's first line, for a message about what failed (`named`: with the error's type before it)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}" if named else text.splitlines()[0]


def display(path: Path | str) -> str:
    """A path as short as it is clear: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # outside the working directory, or a symlink loop
        return str(path)
