"""Output-directory safety: the one check every command that writes a directory makes first.

:func:`prepare` is called by ``train``, ``generate``, ``estimate``, ``sweep``,
``demo`` and ``report`` before any slow work, with the command's name, its
``--force`` and its inputs. The rule:

* a new or empty directory is created / taken (and marked);
* a directory that is (or contains, or lies inside) one of the command's own
  inputs is never replaced (``generate RUN --out RUN``), ``--force`` or not;
  commands that only add files (``estimate`` into its RUN_DIR, ``report`` into
  its SWEEP_DIR) may write into their input;
* a non-empty directory that carries this command's marker file
  (``.bitscale-<command>``; for commands that only add files, also a file only
  that command writes, for folders made before markers existed) was made by
  the command: it is rewritten;
* any other non-empty directory is refused unless ``--force``; even with
  ``--force`` it is only written into, never replaced or emptied (only a
  directory carrying the command's own marker is ever replaced).

Writability is checked here too (a temporary file is created and removed), so
a read-only mount, a path under a file or ``/proc/x`` is one line and exit 2
before any training or generation starts.

Guaranteed: :func:`prepare` either raises UserError (and leaves the file
system as it was, apart from parents it could create) or returns the resolved
directory, which then exists, is writable and carries the marker.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from bitscale.errors import UserError

# Files that only the command writes: they count as its marker in folders made before markers,
# for commands that add files only. Never for generate, which replaces its folder: a design.json
# that `generate --force` wrote into a user's folder must not make that folder replaceable.
LEGACY_MARKERS = {
    "train": ("config.json",),
    "sweep": ("sweep.json", "results.db"),
    "report": ("report.html",),
    "estimate": ("estimate.json",),
}


def marker(command: str) -> str:
    return f".bitscale-{command}"


def has_marker(path, command: str) -> bool:
    p = Path(path)
    return (p / marker(command)).is_file() or any((p / f).is_file() for f in LEGACY_MARKERS.get(command, ()))


def _overlaps(out: Path, inp: Path) -> bool:
    return out == inp or out in inp.parents or inp in out.parents


def _why(e: OSError) -> str:
    if e.errno == errno.EROFS:
        return "read-only file system"
    if e.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a directory"
    return e.strerror or str(e)


def check_writable(d: Path, flag: str = "--out", target=None) -> None:
    """UserError unless a file can be created (and removed) in the existing directory ``d``
    (``target``: the path the user gave, when ``d`` is its parent)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".bitscale-write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        where = f"{target}: cannot write in {d}" if target is not None else f"{d}: cannot write there"
        raise UserError(f"{flag} {where} ({_why(e)})") from None


def check_file_target(path, flag: str = "--out") -> Path:
    """For a command writing one file: ``path`` must not be a directory and its folder must be
    writable. Returns the path."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{flag} {p} is a directory; give a file name (e.g. {p / 'model.onnx'})")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        if parent.exists() or any(q.is_file() for q in parent.parents):
            raise UserError(f"{flag} {p}: {parent} is not a directory")
        raise UserError(f"{flag} directory {parent} does not exist")
    check_writable(parent, flag, target=p)
    return p


def check_parent_writable(path, flag: str = "--out") -> None:
    """For a command that writes ``path`` by renaming a temporary sibling into place (train):
    ``path`` is a directory or absent, and its parent folder (or the nearest existing ancestor,
    where the parents will be created) is a writable directory."""
    try:
        p = Path(path).resolve()
    except (OSError, RuntimeError) as e:
        raise UserError(f"{flag} {path}: not a usable path ({e})") from None
    if p.exists() and not p.is_dir():
        raise UserError(f"{flag} {path} exists and is not a directory")
    q = p.parent
    while not q.exists():
        q = q.parent
    if not q.is_dir():
        raise UserError(f"{flag} {path}: {q} is a file, not a directory")
    check_writable(q, flag, target=path)


def prepare(
    path,
    command: str,
    *,
    force: bool = False,
    inputs=(),
    replaces: bool = True,
    flag: str = "--out",
    create: bool = True,
) -> Path:
    """Check (and create, mark) the output directory of ``command``; see the module doc.

    ``replaces``: the command replaces the whole directory (generate, train) rather than adding
    files to it. ``inputs``: paths the command reads (never replaced).
    """
    out = Path(path)
    try:
        res = out.resolve()
    except (OSError, RuntimeError) as e:
        raise UserError(f"{flag} {out}: not a usable path ({e})") from None
    for inp in inputs:
        if inp is None:
            continue
        try:
            ip = Path(inp).resolve()
        except (OSError, RuntimeError):
            continue
        if _overlaps(res, ip) and (replaces or res != ip):
            raise UserError(f"{flag} {out} is (or holds) this command's own input {inp}; write to another folder")
    if res.exists():
        if not res.is_dir():
            raise UserError(f"{flag} {out} exists and is not a directory")
        try:
            entries = [e for e in res.iterdir() if not e.name.startswith(".bitscale-write-test.")]
        except OSError as e:
            raise UserError(f"{flag} {out}: cannot read it ({_why(e)})") from None
        ours = has_marker(res, command)
        if entries and not ours:
            if not force:
                raise UserError(
                    f"{flag} {out} is a non-empty directory that `bitscale {command}` did not "
                    f"create (no {marker(command)}); give a new or empty folder, or --force "
                    f"to write into it (nothing else in it is deleted)"
                )
            # --force: written into, never marked, so no later run may replace it wholesale
            check_writable(res, flag)
            return res
    elif create:
        for q in res.parents:
            if q.exists() and not q.is_dir():
                raise UserError(f"{flag} {out}: {q} is a file, not a directory")
        try:
            res.mkdir(parents=True)
        except FileExistsError:
            pass
        except OSError as e:
            raise UserError(f"{flag} {out}: cannot create it ({_why(e)})") from None
    else:
        parent = next((q for q in res.parents if q.exists()), None)
        if parent is None:
            raise UserError(f"{flag} {out}: cannot create it")
        if not parent.is_dir():
            raise UserError(f"{flag} {out}: {parent} is a file, not a directory")
        check_writable(parent, flag, target=out)
        return res
    check_writable(res, flag)
    mark(res, command)
    return res


def mark(path, command: str) -> None:
    """Write ``command``'s marker file into the directory ``path`` (best effort)."""
    try:
        (Path(path) / marker(command)).write_text(f"written by bitscale {command}\n")
    except OSError:
        pass


def replaceable(path, command: str) -> bool:
    """Whether ``command`` may replace (delete and rewrite) the existing directory ``path``."""
    p = Path(path)
    return not p.exists() or (p.is_dir() and (has_marker(p, command) or not any(p.iterdir())))
