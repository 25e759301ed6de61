"""Executors: run jobs in this process, in local worker processes (spawn), or on Ray.

Guaranteed: a local worker dies with its parent sweep (Linux: killed by the kernel at once,
PR_SET_PDEATHSIG, so it claims, trains or stores nothing after a ``kill -9`` of the sweep; its
claim then reads as dead); workers get a share of the cores' threads each.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace

from bitscale.errors import UserError
from bitscale.sweep.point import Job


def default_workers(n_points: int, device: str = "cpu") -> int:
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    return max(1, min(cores, n_points))


def _init_worker(threads: int, parent_pid: int):
    # A pool worker whose sweep was killed (SIGKILL: no clean-up) must not live on: polling
    # getppid() (below) left it up to 0.5 s (seconds under load) to claim and train one more
    # point or store one, after the sweep was gone. The kernel kills it with its parent instead;
    # the parent is the thread that spawned it (the one in pool.submit, inside _execute_local's
    # `with`, which outlives the pool). Checked after prctl: the parent may already be gone.
    from bitscale.proc import set_pdeathsig

    set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(3)
    # Keep N workers from each starting a core-count thread pool (oversubscription).
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    # the points' progress (logging, bitscale.*) as plain lines on the worker's stderr, like the CLI's
    import logging

    lg = logging.getLogger("bitscale")
    if not lg.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    # Where prctl is missing (not Linux): exit soon after the parent is gone.
    import threading

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _cuda_devices(device: str) -> list[str]:
    """The devices to spread workers over: 'cuda' = every visible GPU, 'cuda:N' = that one."""
    if device != "cuda":
        return [device]
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:
        n = 0
    return [f"cuda:{i}" for i in range(n)] or ["cuda"]


def _execute_local(fn, jobs: list[Job], workers: int, on_result, device: str):
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            on_result(fn(j))
        return
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    devices = _cuda_devices(device) if device.startswith("cuda") else [None]
    jobs = [replace(j, parent_pid=os.getpid(), device=devices[i % len(devices)]) for i, j in enumerate(jobs)]
    # spawn: torch and forked threads do not mix.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    ) as pool:
        pending = {pool.submit(fn, j) for j in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                on_result(f.result())


def _ray_task(fn, job):
    return fn(job)


def _execute_ray(fn, jobs: list[Job], workers: int, on_result, device: str, per_gpu: int):
    try:
        import ray
    except ImportError:
        raise UserError(
            "--executor ray needs Ray, an optional extra: pip install 'bitscale[ray]' (or use --executor local)"
        ) from None
    started = False
    if not ray.is_initialized():
        # RAY_ADDRESS (e.g. ray://head:10001 or auto) joins a cluster; unset: a local instance
        # with one CPU slot per worker (and the GPUs it finds).
        addr = os.environ.get("RAY_ADDRESS")
        if addr:
            ray.init(address=addr, include_dashboard=False, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True, num_cpus=max(workers, 1))
        started = True
    try:
        # Fractional GPUs: per_gpu points share one GPU (small points do not fill an H100).
        gpus = 1.0 / per_gpu if device.startswith("cuda") else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_task)
        # Ray sets CUDA_VISIBLE_DEVICES per task, so "cuda" is the GPU Ray gave the task.
        refs = [remote.remote(fn, replace(j, device=device)) for j in jobs]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            for r in done:
                on_result(ray.get(r))
    finally:
        if started:
            ray.shutdown()


def _dispatch(fn, jobs, workers, on_result, spec, executor, per_gpu):
    if not jobs:
        return
    if executor == "ray":
        _execute_ray(fn, jobs, workers, on_result, spec.device, per_gpu)
    else:
        _execute_local(fn, jobs, workers, on_result, spec.device)
