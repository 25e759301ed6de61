"""The sweep's result store: one SQL database (SQLAlchemy 2).

By default an SQLite file ``SWEEP_DIR/results.db``; any SQLAlchemy URL
(``postgresql://...``) lets several machines share one sweep.

Tables:

* ``points``: one row per sweep point, unique over (model, wbits, abits, scale,
  dataset, epochs, seed, board, fps_target); its status (pending / running /
  done / failed + error), the owner (host, pid) and heartbeat of the process
  working on it, and ``train_attempts`` (how many times training was started).
* ``metrics``: accuracy, golden agreement, weight-memory bits, the cost
  estimate's totals and per-layer JSON, the folding.
* ``hw_results``: generate / simulate / synthesize results of a point, measured
  beside the estimate; it has its own status, owner and heartbeat.
* ``estimate_views``: more cost views of a done point (``max``: the fastest folding
  that fits the board, beside the target-FPS estimate in ``metrics``).
* ``mixed_results``: a searched mixed-precision point's per-layer bits, its budget and the ILP's
  prediction (``bitscale sweep --mixed K``). Such a point is a ``points`` row like any other, keyed
  by ``wbits = -k``, ``abits = -K`` (the k-th of K searched points of its width: its bits are only
  known once the search ran); :func:`mixed_key` / :func:`is_mixed` say so.
* ``timings``: seconds per (point, stage).
* ``sweep_runs``: one row per invocation of a sweep (its spec as JSON).

Guaranteed: :meth:`Store.claim` is atomic (one conditional UPDATE, a
compare-and-swap on the row's status, owner and heartbeat), so across processes
and machines at most one claimant wins a point. A point stays claimable only
while it is ``pending``, or ``running`` under an owner that is gone: a process
on this host that no longer exists, or a heartbeat older than ``stale_after``
seconds (the only test possible for another host).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bitscale.errors import UserError
from bitscale.proc import pid_alive as pid_alive  # re-exported (it lives with the process helpers)

STATUSES = ("pending", "running", "done", "failed")
POINT_KEY = ("model", "wbits", "abits", "scale", "dataset", "epochs", "seed", "board", "fps_target")
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0


class Base(DeclarativeBase):
    pass


def _rowcount(s: Session, stmt) -> int:
    """Rows an UPDATE matched. (SQLAlchemy returns a CursorResult for DML but types execute() as Result.)"""
    return cast(CursorResult, s.execute(stmt)).rowcount


class _Claimable:
    """The claim columns shared by points and hw_results: status, error, owner and heartbeat."""

    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    heartbeat: Mapped[float | None] = mapped_column(Float, nullable=True)
    claimed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Point(_Claimable, Base):
    __tablename__ = "points"
    __table_args__ = (UniqueConstraint(*POINT_KEY, name="uq_point"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(32))
    wbits: Mapped[int] = mapped_column(Integer)  # 0 = float baseline; < 0: mixed (mixed_key)
    abits: Mapped[int] = mapped_column(Integer)
    scale: Mapped[str] = mapped_column(String(32))  # canonical fraction, "1/32"
    scale_value: Mapped[float] = mapped_column(Float)
    dataset: Mapped[str] = mapped_column(String(32))
    epochs: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    board: Mapped[str] = mapped_column(String(32))
    fps_target: Mapped[float] = mapped_column(Float)  # 0 = the fastest folding that fits
    claims: Mapped[int] = mapped_column(Integer, default=0)  # times the point was taken
    train_attempts: Mapped[int] = mapped_column(Integer, default=0)  # times training was started
    run_dir: Mapped[str | None] = mapped_column(Text, nullable=True)


class Metrics(Base):
    __tablename__ = "metrics"

    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    golden_agreement: Mapped[float | None] = mapped_column(Float, nullable=True)
    params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weight_bits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    est_lut: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_ff: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_bram18: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_dsp: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_cycles: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_latency_cycles: Mapped[float | None] = mapped_column(Float, nullable=True)
    est_layers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    folding: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    est_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "nothing fits"
    train_metrics: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON from train()


class HwResult(_Claimable, Base):
    __tablename__ = "hw_results"

    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    build_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    sim_images: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sim_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    sim_golden_match: Mapped[int | None] = mapped_column(Integer, nullable=True)  # frames equal to golden
    sim_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # on the simulated images
    sim_cycles_per_frame: Mapped[float | None] = mapped_column(Float, nullable=True)
    sim_fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    synth_lut: Mapped[float | None] = mapped_column(Float, nullable=True)
    synth_ff: Mapped[float | None] = mapped_column(Float, nullable=True)
    synth_bram18: Mapped[float | None] = mapped_column(Float, nullable=True)
    synth_dsp: Mapped[float | None] = mapped_column(Float, nullable=True)
    synth_fmax_mhz: Mapped[float | None] = mapped_column(Float, nullable=True)
    design_cycles_per_frame: Mapped[float | None] = mapped_column(Float, nullable=True)
    sim_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    synth_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class EstimateView(Base):
    """Another cost view of a done point beside its target-FPS estimate (the ``metrics`` row):
    ``view`` = "max" is the fastest folding that fits the board. Read by ``rows()`` as
    ``<view>_fps``, ``<view>_lut``, ... (a table of its own, so an older results.db gains it
    by ``create_all`` without altering a table)."""

    __tablename__ = "estimate_views"

    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True)
    view: Mapped[str] = mapped_column(String(16), primary_key=True)
    clock_mhz: Mapped[float | None] = mapped_column(Float, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    cycles: Mapped[float | None] = mapped_column(Float, nullable=True)
    lut: Mapped[float | None] = mapped_column(Float, nullable=True)
    ff: Mapped[float | None] = mapped_column(Float, nullable=True)
    bram18: Mapped[float | None] = mapped_column(Float, nullable=True)
    dsp: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_cycles: Mapped[float | None] = mapped_column(Float, nullable=True)
    layers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    folding: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "nothing fits"


class MixedResult(Base):
    """The search behind a mixed point (``points.wbits < 0``): per-layer bits (JSON lists), the
    BRAM18 budget it was searched under, the ILP's predicted cost and objective, and the run it was
    fine-tuned from. A table of its own, so an older results.db gains it by ``create_all``.
    Read by ``rows()`` as ``mixed_wbits``, ``mixed_abits``, ``mixed_label``, ..."""

    __tablename__ = "mixed_results"

    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True)
    wbits: Mapped[str] = mapped_column(Text)  # JSON list, one per compute layer
    abits: Mapped[str] = mapped_column(Text)  # JSON list: bits entering each compute layer
    label: Mapped[str] = mapped_column(String(255))  # e.g. w1.1.1.2-a8.4.4.4
    budget_bram18: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {"LUT", "BRAM18", "DSP"}
    perturbation: Mapped[float | None] = mapped_column(Float, nullable=True)
    solve_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    source_run: Mapped[str | None] = mapped_column(Text, nullable=True)
    search_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # the search point's document


def mixed_key(k: int, of: int) -> tuple[int, int]:
    """The (wbits, abits) key columns of the k-th (0-based) of ``of`` searched mixed points of a width."""
    return -(k + 1), -of


def is_mixed(wbits) -> bool:
    """Whether a ``points.wbits`` value marks a searched mixed point (per-layer bits in ``mixed_results``)."""
    return wbits is not None and wbits < 0


class Timing(Base):
    __tablename__ = "timings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    seconds: Mapped[float] = mapped_column(Float)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    at: Mapped[float] = mapped_column(Float)


class SweepRun(Base):
    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    spec: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------


def this_host() -> str:
    return socket.gethostname()


def default_url(sweep_dir) -> str:
    return f"sqlite:///{Path(sweep_dir).resolve() / 'results.db'}"


class StoreError(UserError):
    """The result store cannot be opened or used (missing, empty, corrupt, or its server went away)."""


class StoreUnreachable(StoreError):
    """The store's database did not answer (a server down, a lost connection): try again later."""


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other URLs and in-memory databases)."""
    try:
        from sqlalchemy.engine import make_url

        u = make_url(url)
    except Exception:
        return None
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite file made absolute (against the current directory), so that
    the URL means the same database from any directory; other URLs unchanged."""
    p = sqlite_path(url)
    if p is None or p.is_absolute():
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=str(p.resolve())).render_as_string(hide_password=False)


@dataclass(frozen=True)
class PointKey:
    """The identity of a sweep point (the store's unique key)."""

    model: str
    wbits: int
    abits: int
    scale: str
    dataset: str
    epochs: int
    seed: int
    board: str
    fps_target: float = 0.0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in POINT_KEY}


class Store:
    """A handle on one result database. Cheap to create; one per process."""

    def __init__(self, url: str, *, stale_after: float = STALE_AFTER_S, create: bool = True):
        """``create=False`` (report): a missing SQLite file is an error, not a new empty store.
        A 0-byte or corrupt SQLite file is always an error (never a silent fresh start)."""
        url = absolute_url(url)
        self.url = url
        self.stale_after = stale_after
        db = sqlite_path(url)
        if db is not None:
            if db.exists() and not db.is_file():
                raise StoreError(f"--store: {db} is not a file")
            if not db.exists() and not create:
                raise StoreError(f"--store: no result store at {db}")
            if db.is_file() and db.stat().st_size == 0:
                raise StoreError(
                    f"--store: {db} is empty (0 bytes), not a result store; move it away "
                    f"(a new sweep starts a fresh store, losing the attempts and timings "
                    f"it should hold) or restore it"
                )
            if not db.parent.is_dir():
                raise StoreError(f"--store: the folder of {db} does not exist")
        try:
            if url.startswith("sqlite"):
                # busy timeout: parallel workers wait for the writer instead of failing.
                self.engine = create_engine(url, connect_args={"timeout": 60})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError, ValueError) as e:
            raise UserError(f"--store: cannot use {_redacted(url)}: {e}") from None
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                break
            except OperationalError as e:
                # SQLite reports a table another process created meanwhile as an OperationalError.
                if "already exists" in str(e.orig) and attempt < 2:
                    time.sleep(0.5)
                    continue
                raise StoreUnreachable(f"--store: cannot open {_redacted(url)}: {e.orig}") from None
            except (IntegrityError, ProgrammingError):
                # Several workers creating the tables of a fresh server database at once.
                if attempt == 2:
                    raise
                time.sleep(0.5)
            except DatabaseError as e:  # "file is not a database", "database disk image is malformed"
                raise StoreError(f"--store: {_redacted(url)} is not a readable result store: {e.orig}") from None
        if db is not None:
            self._check_sqlite(db)

    def _check_sqlite(self, db: Path) -> None:
        """A truncated or damaged SQLite file: one clear error now, not a traceback mid-sweep."""
        from sqlalchemy import text

        try:
            with self.engine.connect() as c:
                res = [r[0] for r in c.execute(text("PRAGMA quick_check"))]
                for t in Base.metadata.sorted_tables:
                    c.execute(select(*t.columns)).fetchall()
        except DatabaseError as e:
            self.engine.dispose()
            raise StoreError(
                f"--store: {db} is corrupt ({e.orig}); restore it from a backup or move it away to start a new store"
            ) from None
        if res != ["ok"]:
            self.engine.dispose()
            raise StoreError(
                f"--store: {db} is corrupt (integrity check: {'; '.join(map(str, res[:3]))}); "
                f"restore it from a backup or move it away to start a new store"
            )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def dispose(self):
        self.engine.dispose()

    # --- points ------------------------------------------------------------------------------
    def ensure_points(self, keys: list[PointKey], scale_values: list[float]) -> list[int]:
        """Insert the points not yet stored; return the ids of all of ``keys`` in order."""
        ids = []
        for key, sv in zip(keys, scale_values):
            for _ in range(3):
                pid = self.find_point(key)
                if pid is not None:
                    break
                try:
                    with self.session() as s, s.begin():
                        p = Point(**key.as_dict(), scale_value=sv, status="pending", claims=0, train_attempts=0)
                        s.add(p)
                        s.flush()
                        pid = p.id
                    break
                except IntegrityError:  # another process inserted it first
                    continue
            ids.append(pid)
        return ids

    def find_point(self, key: PointKey) -> int | None:
        with self.session() as s:
            q = select(Point.id)
            for k, v in key.as_dict().items():
                q = q.where(getattr(Point, k) == v)
            return s.scalar(q)

    def point(self, point_id: int) -> Point:
        with self.session() as s:
            p = s.get(Point, point_id)
        if p is None:
            raise LookupError(f"no point {point_id} in the store")
        return p

    def points(self) -> list[Point]:
        with self.session() as s:
            return list(s.scalars(select(Point).order_by(Point.id)))

    def reset_failed(self, ids=None) -> int:
        """Failed points back to pending (for --retry-failed); returns how many."""
        with self.session() as s, s.begin():
            q = update(Point).where(Point.status == "failed")
            if ids is not None:
                q = q.where(Point.id.in_(list(ids)))
            return _rowcount(s, q.values(status="pending", error=None))

    # --- claiming ----------------------------------------------------------------------------
    def claimable(self, row, now=None) -> bool:
        """Whether ``row`` (a Point or HwResult) may be claimed now."""
        now = time.time() if now is None else now
        if row.status == "pending":
            return True
        if row.status != "running":
            return False
        if row.owner_host == this_host() and not pid_alive(row.owner_pid):
            return True
        return row.heartbeat is None or row.heartbeat < now - self.stale_after

    def claim(self, point_id: int, *, table: type[Point] | type[HwResult] = Point, pid: int | None = None) -> bool:
        """Atomically take ``point_id`` for this process; True when we won it.

        Taking a Point counts one claim (a HwResult: one attempt); training is
        counted separately by :meth:`count_train_attempt`.
        """
        pid = os.getpid() if pid is None else pid
        host = this_host()
        counter = table.claims if issubclass(table, Point) else table.attempts
        key = table.id if issubclass(table, Point) else table.point_id
        with self.session() as s:
            row = s.get(table, point_id)
        if row is None or not self.claimable(row):
            return False
        now = time.time()
        # Compare-and-swap on what we read: if anybody changed the row since, we lose.
        cond = [key == point_id, table.status == row.status]
        for col in ("owner_host", "owner_pid", "heartbeat"):
            v = getattr(row, col)
            c = getattr(table, col)
            cond.append(c.is_(None) if v is None else c == v)
        with self.session() as s, s.begin():
            n = _rowcount(
                s,
                update(table)
                .where(*cond)
                .values(
                    status="running",
                    owner_host=host,
                    owner_pid=pid,
                    heartbeat=now,
                    claimed_at=now,
                    error=None,
                    **{counter.key: counter + 1},
                ),
            )
        return n == 1

    def count_train_attempt(self, point_id: int) -> None:
        """Count that training of ``point_id`` starts now (the resume test reads this)."""
        with self.session() as s, s.begin():
            s.execute(update(Point).where(Point.id == point_id).values(train_attempts=Point.train_attempts + 1))

    def heartbeat(self, point_id: int, *, table: type[Point] | type[HwResult] = Point, pid: int | None = None) -> bool:
        """Refresh our heartbeat; False when the row is no longer ours (it was reclaimed)."""
        pid = os.getpid() if pid is None else pid
        key = table.id if issubclass(table, Point) else table.point_id
        with self.session() as s, s.begin():
            return (
                _rowcount(
                    s,
                    update(table)
                    .where(
                        key == point_id,
                        table.status == "running",
                        table.owner_host == this_host(),
                        table.owner_pid == pid,
                    )
                    .values(heartbeat=time.time()),
                )
                == 1
            )

    def finish(
        self,
        point_id: int,
        *,
        table: type[Point] | type[HwResult] = Point,
        ok: bool,
        error: str | None = None,
        pid: int | None = None,
        values: dict | None = None,
        extra=(),
    ) -> bool:
        """Mark our claimed row done/failed and write ``extra`` rows in the same transaction.

        Nothing is written unless the row is still ours, so a worker that lost its
        claim (it was presumed dead) never overwrites the new owner's result.
        """
        pid = os.getpid() if pid is None else pid
        key = table.id if issubclass(table, Point) else table.point_id
        with self.session() as s, s.begin():
            n = _rowcount(
                s,
                update(table)
                .where(
                    key == point_id, table.status == "running", table.owner_host == this_host(), table.owner_pid == pid
                )
                .values(status="done" if ok else "failed", error=error, finished_at=time.time(), **(values or {})),
            )
            if n != 1:
                s.rollback()
                return False
            for obj in extra:
                s.merge(obj)
        return True

    # --- hw rows -----------------------------------------------------------------------------
    def ensure_hw(self, point_ids) -> None:
        for pid in point_ids:
            with self.session() as s:
                if s.get(HwResult, pid) is not None:
                    continue
            try:
                with self.session() as s, s.begin():
                    s.add(HwResult(point_id=pid, status="pending", attempts=0))
            except IntegrityError:
                pass

    def reset_failed_hw(self) -> int:
        with self.session() as s, s.begin():
            return _rowcount(
                s, update(HwResult).where(HwResult.status == "failed").values(status="pending", error=None)
            )

    # --- misc --------------------------------------------------------------------------------
    def add_timing(self, point_id: int, stage: str, seconds: float) -> None:
        with self.session() as s, s.begin():
            s.add(Timing(point_id=point_id, stage=stage, seconds=float(seconds), host=this_host(), at=time.time()))

    def record_run(self, spec: dict) -> None:
        with self.session() as s, s.begin():
            s.add(
                SweepRun(
                    started_at=time.time(), host=this_host(), pid=os.getpid(), spec=json.dumps(spec, sort_keys=True)
                )
            )

    def last_spec(self) -> dict | None:
        with self.session() as s:
            r = s.scalar(select(SweepRun).order_by(SweepRun.id.desc()).limit(1))
            return json.loads(r.spec) if r else None

    def rows(self) -> list[dict]:
        """Every point joined with its metrics, estimate views (``max_fps``, ...), hw result and
        timings, as flat dicts."""
        out = []
        with self.session() as s:
            metrics = {m.point_id: m for m in s.scalars(select(Metrics))}
            mixed = {m.point_id: m for m in s.scalars(select(MixedResult))}
            hws = {h.point_id: h for h in s.scalars(select(HwResult))}
            views: dict[int, list[EstimateView]] = {}
            for v in s.scalars(select(EstimateView)):
                views.setdefault(v.point_id, []).append(v)
            timings: dict[int, dict[str, float]] = {}
            for t in s.scalars(select(Timing).order_by(Timing.id)):
                timings.setdefault(t.point_id, {})[t.stage] = t.seconds  # the latest wins
            for p in s.scalars(select(Point).order_by(Point.id)):
                d = _as_dict(p)
                m = metrics.get(p.id)
                for k, v in (_as_dict(m) if m else {}).items():
                    if k != "point_id":
                        d[k] = v
                h = hws.get(p.id)
                if h is not None:
                    for k, v in _as_dict(h).items():
                        if k != "point_id":
                            d[
                                f"hw_{k}"
                                if k
                                in (
                                    "status",
                                    "error",
                                    "owner_host",
                                    "owner_pid",
                                    "heartbeat",
                                    "claimed_at",
                                    "finished_at",
                                    "attempts",
                                )
                                else k
                            ] = v
                mx = mixed.get(p.id)
                if mx is not None:
                    for k, v in _as_dict(mx).items():
                        if k != "point_id":
                            d[f"mixed_{k}"] = v
                for v in views.get(p.id, []):
                    for k, val in _as_dict(v).items():
                        if k not in ("point_id", "view"):
                            d[f"{v.view}_{k}"] = val
                for stage, sec in timings.get(p.id, {}).items():
                    d[f"t_{stage}_s"] = sec
                out.append(d)
        return out


def _redacted(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return repr(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "the given URL"


def _as_dict(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


class Heartbeat:
    """A daemon thread refreshing our claim on one row every ``interval`` seconds.

    ``lost`` becomes True when the row was reclaimed by somebody else. With
    ``parent_pid`` set, the whole process exits when its parent disappears (a
    pool worker whose sweep was killed must not train on as an orphan).
    """

    def __init__(
        self,
        store: Store,
        point_id: int,
        *,
        table: type[Point] | type[HwResult] = Point,
        interval: float = HEARTBEAT_S,
        parent_pid: int | None = None,
    ):
        self.store, self.point_id, self.table = store, point_id, table
        self.interval, self.parent_pid = interval, parent_pid
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{point_id}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self):
        last = time.monotonic()
        # Wake every second to notice a dead parent quickly; beat every ``interval``.
        while not self._stop.wait(min(1.0, self.interval)):
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                os._exit(3)
            if time.monotonic() - last < self.interval:
                continue
            last = time.monotonic()
            try:
                if not self.store.heartbeat(self.point_id, table=self.table):
                    self.lost = True
            except OperationalError:
                pass  # a busy database: try again next beat
