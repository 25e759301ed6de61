"""Result store: atomic claims across processes, reclaiming dead owners, never finishing a lost claim."""

import multiprocessing as mp
import os
import subprocess
import sys
import time

import pytest

from bitscale.store import HwResult, Metrics, Point, PointKey, Store, default_url


def _keys(n):
    return [
        PointKey("fc", 1 + i % 4, 1 + i % 4, f"1/{2 ** (i // 4 + 1)}", "digits", 1, 0, "pynq-z1", 0.0) for i in range(n)
    ]


def _claim_all(url, ids, q, done):
    st = Store(url)
    won = [i for i in ids if st.claim(i)]
    q.put((os.getpid(), won))
    # stay alive until every process has claimed: a dead owner's points are rightly reclaimable,
    # so a process that exited early would let the slower ones take its points again
    done.wait(120)
    st.dispose()


def _claim_race(url, orders):
    """One spawned process per order of point ids claims them all at once; [(pid, won ids)], each id won once."""
    ctx = mp.get_context("spawn")
    q, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim_all, args=(url, ids, q, done)) for ids in orders]
    for p in procs:
        p.start()
    res = [q.get(timeout=120) for _ in procs]
    done.set()
    for p in procs:
        p.join(timeout=30)
    won = [i for _, w in res for i in w]
    assert sorted(won) == sorted(orders[0]), "every point claimed exactly once"
    return res


def test_unique_points_and_idempotent_insert(tmp_path):
    st = Store(default_url(tmp_path))
    keys = _keys(8)
    ids = st.ensure_points(keys, [0.5] * 8)
    assert len(set(ids)) == 8
    assert st.ensure_points(keys, [0.5] * 8) == ids  # a second sweep finds the same rows
    assert len(st.points()) == 8


def test_two_processes_claim_each_point_once(tmp_path):
    url = default_url(tmp_path)
    st = Store(url)
    ids = st.ensure_points(_keys(24), [0.5] * 24)
    res = _claim_race(url, [ids, ids[::-1], ids[::-1]])
    rows = {p.id: p for p in st.points()}
    for pid, w in res:
        for i in w:
            assert rows[i].status == "running" and rows[i].owner_pid == pid and rows[i].claims == 1


def test_dead_owner_reclaimed_live_owner_not(tmp_path):
    st = Store(default_url(tmp_path), stale_after=3600)
    a, b, c = st.ensure_points(_keys(3), [0.5] * 3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert st.claim(a, pid=dead.pid)  # taken by a process that is gone now
    assert st.claim(b)  # taken by us (alive)
    assert not st.claim(b)  # no double claim while the owner lives
    assert st.claim(a)  # dead owner on this host: reclaimed at once
    assert st.point(a).claims == 2
    # Another host's row: only a stale heartbeat makes it claimable.
    with st.session() as s, s.begin():
        p = s.get(Point, c)
        p.status, p.owner_host, p.owner_pid, p.heartbeat = "running", "elsewhere", 1, time.time()
    assert not st.claim(c)
    with st.session() as s, s.begin():
        s.get(Point, c).heartbeat = time.time() - 7200
    assert st.claim(c)


def test_finish_only_by_current_owner(tmp_path):
    st = Store(default_url(tmp_path))
    (a,) = st.ensure_points(_keys(1), [0.5])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert st.claim(a, pid=dead.pid)
    assert st.claim(a)  # reclaimed from the dead owner
    # The presumed-dead owner's late result must not land.
    assert not st.finish(a, ok=True, pid=dead.pid, extra=[Metrics(point_id=a, accuracy=0.1)])
    assert st.finish(a, ok=True, extra=[Metrics(point_id=a, accuracy=0.9)])
    (row,) = st.rows()
    assert row["status"] == "done" and row["accuracy"] == 0.9
    assert not st.claim(a)  # done is final
    st.ensure_hw([a])
    st.ensure_hw([a])
    assert st.claim(a, table=HwResult) and not st.claim(a, table=HwResult)
    assert st.finish(a, table=HwResult, ok=False, error="boom")
    assert st.rows()[0]["hw_status"] == "failed" and st.rows()[0]["hw_error"] == "boom"


def test_bad_store_url(tmp_path):
    from bitscale.errors import UserError

    with pytest.raises(UserError, match="--store"):
        Store("nosuchdialect://x")
