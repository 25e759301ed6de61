"""The result store on SQLite and on a real PostgreSQL server (issue #19 item 7).

A throw-away PostgreSQL cluster is started for this module in a temporary folder (initdb + pg_ctl,
localhost only, a free port; as the ``postgres`` user when the tests run as root, which initdb
refuses). On both back ends: concurrent claims (three processes, every point claimed exactly once),
a sweep killed with SIGKILL and resumed (nothing done twice, nothing lost), and a server stopped in
the middle of a sweep: one clear error that says the sweep can be resumed, then the resume.
The Ray executor test is tests/test_sweep_report.py::test_ray_executor (Ray is in the test set-up).

Skips happen only when PostgreSQL or psycopg cannot be installed here, with the reason printed.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bitscale.store import Store
from test_sweep_store import _claim_race, _keys  # the same claim race, on every backend

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    return Path(w).parent if w else None


class PgCluster:
    """One local PostgreSQL server in a temporary folder (stop() removes everything)."""

    def __init__(self):
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="bitscale-pg-"))
        self.data = self.root / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.user_kw = {}
        if os.getuid() == 0:  # initdb refuses root: run the server as postgres/nobody
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pw = pwd.getpwnam("nobody")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.user_kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _run(self, *args, check=True, timeout=120):
        return subprocess.run(
            [str(self.bin / args[0]), *map(str, args[1:])],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=timeout,
            check=check,
            **self.user_kw,
        )

    def init(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "bitscale", "--no-sync", "-E", "UTF8")
        return self

    def start(self):
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        r = self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-o",
            opts,
            "-l",
            self.root / "server.log",
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if r.returncode:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr}\n{(self.root / 'server.log').read_text()[-2000:]}")
        return self

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def remove(self):
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db="postgres") -> str:
        return f"postgresql+psycopg://bitscale@127.0.0.1:{self.port}/{db}"

    def new_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=bitscale dbname=postgres", autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


def _require_pg():
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        msg = f"psycopg is not installed ({e}); scripts/setup.sh installs psycopg[binary] from requirements.lock"
        print(f"SKIP: {msg}")
        pytest.skip(msg)
    if _pg_bin() is None:
        msg = "PostgreSQL (initdb/pg_ctl) is not installed; scripts/setup.sh installs Debian postgresql"
        print(f"SKIP: {msg}")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def pg():
    _require_pg()
    c = PgCluster().init().start()
    try:
        yield c
    finally:
        c.remove()


_DB = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    c = request.getfixturevalue("pg")
    return c.new_database(f"t{os.getpid()}_{next(_DB)}")


@pytest.mark.slow
def test_three_processes_claim_each_point_once(store_url):
    st = Store(store_url)
    ids = st.ensure_points(_keys(24), [0.5] * 24)
    _claim_race(store_url, [ids, ids[::-1], ids])
    rows = {p.id: p for p in st.points()}
    assert all(rows[i].claims == 1 and rows[i].status == "running" for i in ids)
    st.dispose()


# --- a sweep (fake stages) in a child process --------------------------------------------------------

SWEEP = """
import sys
from bitscale import preflight
from bitscale.errors import UserError
from bitscale.sweep import SweepSpec, run_sweep
import test_sweep_fakes as fakes
out, url = sys.argv[1], sys.argv[2]
spec = SweepSpec(precisions=((1, 1), (2, 2), (4, 4), (8, 8)), scales=("1/256", "1/128"), epochs=2)
try:
    with preflight.store_errors("sweep"):
        s = run_sweep(spec, out, store_url=url, workers=1, stages=fakes.stages(), log=print)
except UserError as e:
    print(f"bitscale: error: {e}", file=sys.stderr)
    sys.exit(2)
sys.exit(preflight.sweep_exit(s, print))
"""


def _env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    env.update(extra or {})
    return env


def _points(url):
    try:
        st = Store(url)
        pts = st.points()
        st.dispose()
        return pts
    except Exception:
        return []


def _wait_done(url, k, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, f"the sweep ended early (rc {proc.returncode}): {proc.stdout.read()}"
        if sum(p.status == "done" for p in _points(url)) >= k:
            return
        time.sleep(0.2)
    pytest.fail(f"fewer than {k} points done after {timeout} s")


@pytest.mark.slow
def test_kill_and_resume(store_url, tmp_path):
    out, log = tmp_path / "sw", tmp_path / "trained.txt"
    env = _env({"BITSCALE_FAKE_TRAIN_S": "0.5", "BITSCALE_FAKE_LOG": str(log)})
    cmd = [sys.executable, "-c", SWEEP, str(out), store_url]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_done(store_url, 2, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
    before = {p.id: p.status for p in _points(store_url)}
    assert 2 <= sum(s == "done" for s in before.values()) < 8
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    after = _points(store_url)
    assert len(after) == 8 and all(p.status == "done" for p in after)
    for p in after:
        if before.get(p.id) == "done":
            assert p.train_attempts == 1, f"point {p.id} was trained again"
        else:
            assert p.train_attempts <= 1 + (before.get(p.id) == "running")
    lines = log.read_text().split()
    assert len(set(lines)) == 8


@pytest.mark.slow
def test_postgresql_stopped_mid_sweep_says_resume(tmp_path):
    _require_pg()
    c = PgCluster().init().start()
    try:
        url = c.url()
        out = tmp_path / "sw"
        env = _env({"BITSCALE_FAKE_TRAIN_S": "1.0"})
        cmd = [sys.executable, "-c", SWEEP, str(out), url]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            _wait_done(url, 1, proc)
            c.stop("immediate")
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 2, err
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("bitscale: error:")]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "resume" in lines[0]
        c.start()
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(p.status == "done" for p in _points(url)) and len(_points(url)) == 8
    finally:
        c.remove()
