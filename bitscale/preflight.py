"""Checks a sweep makes before its first point, and how it ends when it cannot finish.

* :func:`check_sweep`: every point's training configuration is validated
  (``--seed -1``, a scale whose width rounds to 0, ...) and the dataset is
  loaded once, so a missing ``--data-dir`` is one line and exit 2 before any
  point is claimed, not a failed point per grid entry in the store.
* :func:`store_errors`: a result store that goes away mid-sweep (a PostgreSQL
  server stopped, a disk gone) becomes one UserError saying that the sweep can
  be resumed by running the same command again (nothing done is lost: a point
  is only ``done`` once its results are committed).
* :func:`sweep_exit`: the exit code and closing line of a sweep; points still
  running in another process make the sweep incomplete (exit 1), and it says so.

Guaranteed: :func:`check_sweep` writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction

from bitscale.errors import UserError


def check_sweep(spec) -> None:
    """UserError naming the first bad value of ``spec`` (a SweepSpec) that training would hit."""
    from bitscale.nn.train import TrainConfig

    seen = set()
    for p in spec.points():
        key = (p.wbits, p.abits, p.scale)
        if key in seen:
            continue
        seen.add(key)
        kw = {
            "model": p.model,
            "wbits": p.wbits,
            "abits": p.abits,
            "scale": float(Fraction(p.scale)),
            "dataset": p.dataset,
            "epochs": p.epochs,
            "seed": p.seed,
            "device": spec.device,
            "data_dir": spec.data_dir,
        }
        for k in ("batch_size", "lr"):
            if getattr(spec, k) is not None:
                kw[k] = getattr(spec, k)
        try:
            TrainConfig(**kw)  # validates on construction
        except UserError as e:
            raise UserError(f"sweep point {p.model} w{p.wbits}a{p.abits} scale {p.scale}: {e}") from None
    from pathlib import Path

    if spec.data_dir is not None and not Path(spec.data_dir).is_dir():
        raise UserError(f"--data-dir {spec.data_dir} is not a directory")
    from bitscale.nn.data import load_dataset

    load_dataset(spec.dataset, spec.data_dir)


def store_url(url: str | None) -> str | None:
    """An absolute form of ``--store`` (a relative SQLite path means the same file from anywhere)."""
    if url is None:
        return None
    from bitscale.store import absolute_url

    return absolute_url(url)


@contextlib.contextmanager
def store_errors(command: str):
    """Turn a store lost mid-run into one line that says how to resume (see the module doc)."""
    from sqlalchemy.exc import DBAPIError

    from bitscale.store import StoreUnreachable

    hint = f"nothing finished is lost: run the same `bitscale {command}` command again to resume the sweep"
    try:
        yield
    except StoreUnreachable as e:
        raise UserError(f"{e}; {hint}") from None
    except DBAPIError as e:
        msg = str(getattr(e, "orig", e)).strip().splitlines()
        raise UserError(f"the result store stopped answering ({msg[0] if msg else type(e).__name__}); {hint}") from None


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def sweep_exit(summary: dict, log=_log) -> int:
    """0 when every point is done; 1 when some failed or are still running/pending elsewhere."""
    busy = int(summary.get("running_elsewhere") or 0) + int(summary.get("pending") or 0)
    if busy:
        log(
            f"[sweep] NOT COMPLETE: {busy} point(s) are still running in another process (or pending); "
            f"their results are not in this sweep yet: run it again (it resumes) once they finish"
        )
    return 0 if summary.get("failed", 0) == 0 and not busy else 1
