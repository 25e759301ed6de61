"""Atomic file writes: the one temp-file-then-replace helper every stage uses for its outputs.

:func:`atomic_path` yields a temporary path beside the target for any writer that wants a path
(``np.savez``, an exporter); :func:`write_text`, :func:`write_bytes` and :func:`write_json` cover
the common cases. A folder swapped into place (a trained run, a build directory) is not a file
write and stays with its owner.

Guaranteed: the target appears complete or not at all (a temporary file in the same directory,
then ``os.replace``); on any error, including KeyboardInterrupt, the temporary file is removed
and an existing target is untouched; the new file gets the usual permissions (0o666 less the
umask), not ``mkstemp``'s 0o600.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; replaces ``path`` when the block ends."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path, doc, indent: int | None = 1, **kw) -> Path:
    """``doc`` as JSON (``json.dumps(doc, indent=indent, **kw)``)."""
    return write_text(path, json.dumps(doc, indent=indent, **kw))


def replace_dir(tmp, final) -> Path:
    """Put the complete folder ``tmp`` in place of ``final`` (which may exist): the old folder is moved
    aside first and removed after, so ``final`` is always either the old or the new folder, whole."""
    import shutil

    tmp, final = Path(tmp), Path(final)
    if not final.exists():
        os.replace(tmp, final)
        return final
    old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
    os.replace(final, old / "x")
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final
