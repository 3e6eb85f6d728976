"""Output folders: channelsim writes only into a folder that is new or already its own, and
replaces results atomically.

Every result set carries a marker file, `.channelsim` (JSON: what wrote it, which kind of
results, and for results that are replaced whole, the files it wrote). A folder may be written
when it does not exist yet, is empty, or holds the marker of a compatible kind (a run's or a
comparison's results may replace each other; a sweep's, an analysis' or a calibration's only
their own kind) and, when its results are to be replaced, nothing but what the marker lists: a
file a user put beside the results makes the folder theirs. Anything else is refused before any
work: the current folder or a folder above it, the home folder, a folder holding an input of the
run, a file, a path under a file, a symbolic-link loop, a folder this user may not change or
where nothing can be created.

Results are written into a staging folder beside the target and swapped in only when complete
(one `renameat2(RENAME_EXCHANGE)` on Linux, two renames elsewhere); on any failure the previous
results are intact and the staging folder is removed. A staging folder left by a process killed
with SIGKILL is removed by the next write to the same target.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.errors import InputError

MARKER = ".channelsim"
# kinds of results that may replace each other in one folder
FAMILIES = {"run": "scenarios", "compare": "scenarios", "sweep": "sweep", "analysis": "analysis",
            "calibrate": "calibrate"}
REPLACED = {"run", "compare", "analysis"}  # written whole and swapped in (the others grow in place)
SLUG = re.compile(r"(?!\.)(?!.*\.\.)[A-Za-z0-9_.\-]{1,80}")  # matched whole: no trailing newline slips by
SLUG_RULE = ("letters, digits, '-', '_' and '.', not starting with '.', no '/', '\\' or '..', at most 80 "
             "characters")
NAME_MAX = 225  # bytes of a folder name: with the staging folder's suffix it stays within 255


class FolderError(InputError):
    """An output folder channelsim will not write into: one message for people, exit code 2."""


def is_slug(name: str) -> bool:
    return SLUG.fullmatch(name) is not None


def slug(text: str) -> str:
    """A safe folder name made from any text (a file's stem): unsafe characters become '_'."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("._") or "scenario"
    name = re.sub(r"\.{2,}", ".", name)
    return name if len(name) <= 80 else f"{name[:63]}-{hashlib.sha1(name.encode()).hexdigest()[:16]}"


def default_folder(name: str, root: Path = Path("out")) -> Path:
    """`root/<name>` for a name made of slugs; a long name is shortened with a hash. The folder always
    lies inside `root`."""
    if len(name) > 120:
        name = f"{name[:100]}-{hashlib.sha1(name.encode()).hexdigest()[:16]}"
    folder = root / name
    if "/" in name or "\\" in name or name in ("", ".", "..") or \
            not _resolve(folder, "out").is_relative_to(_resolve(root, "out")):
        raise FolderError(f"{name!r}: not a safe folder name inside {root}/ ({SLUG_RULE})")
    return folder


def _resolve(path: Path, option: str) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as error:  # RuntimeError: Python 3.12's word for a symlink loop
        raise FolderError(f"{option} {path}: cannot be resolved: a symbolic link that loops or a path "
                          f"that cannot be read ({error})") from None


def read_marker(folder: Path) -> dict | None:
    """The marker of a results folder, or None if there is none (or it is not ours)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return data if isinstance(kind, str) and kind in FAMILIES else None


# A sweep folder written before markers existed holds its record and only what a sweep writes.
# (Results that are replaced whole need their marker: without one, nothing tells them from a user's
# files of the same names.)
_SWEEP_WRITES = re.compile(r"experiment\.json|manifest\.jsonl|design\.csv|failures\.csv|"
                           r"(quarters|final|partners)\.parquet|shards|analysis|sweep\.lock|\.[\w.\-]+\.[0-9a-f]{8}")
_SHARD = re.compile(r"\.?(quarters|final|partners)-\d+-[0-9a-f]{8}\.parquet")


def _sweep_before_markers(folder: Path) -> dict | None:
    names = [item.name for item in folder.iterdir()]
    shards = folder / "shards"
    inside = [item.name for item in shards.iterdir()] if shards.is_dir() else []
    if ("experiment.json" in names and all(_SWEEP_WRITES.fullmatch(name) for name in names)
            and all(_SHARD.fullmatch(name) for name in inside)):
        return {"kind": "sweep"}
    return None


def marker_text(kind: str, files: list[str] | None = None) -> str:
    from sim import __version__

    record = {"written_by": f"channelsim {__version__}", "kind": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if files is not None:
        record["files"] = files
    return json.dumps(record, indent=2) + "\n"


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, whole or not at all: written beside it under a name of its own and renamed over it in one
    step; on any failure the previous file is as it was and nothing is left behind."""
    partial = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.partial")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_marker(folder: Path, kind: str, files: list[str] | None = None) -> None:
    write_atomically(folder / MARKER, marker_text(kind, files).encode("utf-8"))


def check(path: Path, kind: str, option: str = "--out", inputs: Iterable[Path] = ()) -> Path:
    """Refuse an output folder that is not new, empty or channelsim's own results of a compatible
    kind; returns it resolved. Nothing is created or changed."""
    shown = f"{option} {path}"
    try:
        return _check(path, kind, shown, option, inputs)
    except OSError as error:  # a name too long, a folder that cannot be read, ...
        raise FolderError(f"{shown}: cannot be used for results ({error.strerror or error})") from None


def _check(path: Path, kind: str, shown: str, option: str, inputs: Iterable[Path]) -> Path:
    target = _resolve(path, option)
    if len(os.fsencode(target.name)) > NAME_MAX:
        raise FolderError(f"{shown}: the folder's name is too long (at most {NAME_MAX} bytes)")
    # the nearest part of the path that exists must be a folder we may write in
    existing = target
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if existing != target and not existing.is_dir():
        raise FolderError(f"{shown}: {existing} is a file, so nothing can be written under it")
    if target.exists() and not target.is_dir():
        raise FolderError(f"{shown}: exists and is a file, not a folder")
    here = Path.cwd().resolve()
    if target == here or here.is_relative_to(target):
        what = "the current folder" if target == here else "a folder holding the current folder"
        raise FolderError(f"{shown}: is {what}; channelsim writes results only into a new folder or one of "
                          "its own (e.g. --out out/my-run)")
    home = Path.home().resolve()
    if target == home or home.is_relative_to(target):
        raise FolderError(f"{shown}: is your home folder or above it; choose a new folder for results")
    for item in inputs:
        source = _resolve(Path(item), "input")
        if source.is_relative_to(target):
            raise FolderError(f"{shown}: holds {source.relative_to(target)}, an input of this run; results would "
                              "replace it. Choose another folder")
    if target.is_dir() and any(target.iterdir()):
        marker = read_marker(target) or (_sweep_before_markers(target) if kind == "sweep" else None)
        if marker is None:
            raise FolderError(f"{shown}: is not empty and holds no channelsim results (no {MARKER} marker); "
                              "channelsim writes only into a new folder or one of its own. Choose another folder")
        if FAMILIES.get(marker["kind"]) != FAMILIES[kind]:
            raise FolderError(f"{shown}: holds channelsim's {marker['kind']} results; a {kind} would replace them. "
                              "Choose another folder")
        if kind in REPLACED:
            files = marker.get("files")
            listed = {MARKER} | (set(files) if isinstance(files, list) and all(isinstance(f, str) for f in files)
                                 else set())
            foreign = sorted(item.name for item in target.iterdir() if item.name not in listed)
            if foreign:
                more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
                raise FolderError(f"{shown}: holds {foreign[0]}{more}, which channelsim did not write there; new "
                                  "results would replace the folder and it with it. Move it out or choose another "
                                  "folder")
    parent = existing if existing != target else target.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FolderError(f"{shown}: cannot write in {parent} (permission denied)")
    if target.is_dir():
        # replacing a folder changes who owns it and its permissions: only for one this user may change
        sticky = parent.stat().st_mode & stat.S_ISVTX and os.geteuid() not in (0, target.stat().st_uid,
                                                                               parent.stat().st_uid)
        if sticky or not os.access(target, os.W_OK | os.X_OK):
            raise FolderError(f"{shown}: this user may not change it (permission denied); choose another folder")
    try:  # what permissions do not tell (a read-only or virtual file system, root in a container): try it
        os.rmdir(tempfile.mkdtemp(prefix=".channelsim-probe-", dir=parent))
    except OSError as error:
        raise FolderError(f"{shown}: nothing can be created in {parent} ({error.strerror})") from None
    return target


# --------------------------------------------------------------------------- the atomic swap

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Staging folders of this target left by processes that no longer run (killed mid-write)."""
    for stale in target.parent.glob(f".{target.name}.staging-*"):
        match = re.fullmatch(rf"\.{re.escape(target.name)}\.staging-(\d+)-[0-9a-f]+", stale.name)
        if match and stale.is_dir() and not stale.is_symlink() and not _alive(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)


def swap_in(stage: Path, target: Path) -> None:
    """Put the complete folder `stage` at `target`; the previous results go only once it is there."""
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        shutil.rmtree(stage)  # now the previous results
        return
    old = target.with_name(f"{stage.name}-old")
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old)


@contextmanager
def replacing(target: Path, kind: str) -> Iterator[Path]:
    """A staging folder beside `target` (checked with `check` first); when the block ends without an
    error, the marker is written and the staging folder becomes `target` in one step. On any error
    (Ctrl-C included) the staging folder is removed and `target` is as it was."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    stage = target.with_name(f".{target.name}.staging-{os.getpid()}-{os.urandom(4).hex()}")
    stage.mkdir()
    try:
        yield stage
        write_marker(stage, kind, sorted(item.name for item in stage.iterdir()))
        swap_in(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def claim(folder: Path, kind: str) -> None:
    """Make `folder` (checked with `check` first) a results folder of `kind`, for results written in
    place as they finish (a sweep)."""
    folder.mkdir(parents=True, exist_ok=True)
    if read_marker(folder) is None:
        write_marker(folder, kind)
