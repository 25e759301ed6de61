"""The stage functions the sweep calls, looked up through :class:`Stages` so tests can inject
fakes; the product path always uses :meth:`Stages.real`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

Log = Callable[[str], None]


# What each stage takes and gives (the sweep reads every result through bitscale.results:
# TrainResult.from_metrics, SimResult.from_sim, SynthResult.from_synth, SearchResult.from_search;
# nothing else looks inside).
class TrainStage(Protocol):
    def __call__(self, kw: dict, out_dir: Path, log: Log) -> dict:
        """Train the point configured by ``kw`` (TrainConfig fields) into ``out_dir``: writes
        network.json/.npz (quantized points), config.json and metrics.json; returns the metrics."""
        ...


class SearchStage(Protocol):
    def __call__(self, source_run: Path, out_dir: Path, req: dict, log: Log) -> dict:
        """Search the ``req["k"]``-th of ``req["of"]`` mixed-precision points of a width from the
        trained ``source_run`` (board, fps, candidate ``wbits``/``abits``, ``epochs``, ``lr`` in
        ``req``) and fine-tune it into ``out_dir`` (a normal run dir, plus search_point.json);
        returns search_point.json's content (SearchResult.from_search reads it)."""
        ...


class LoadNetStage(Protocol):
    def __call__(self, run_dir: Path) -> Any: ...  # -> QuantizedNetwork


class AutoFoldStage(Protocol):
    def __call__(self, net: Any, board: Any, target_fps: float | None) -> Any: ...  # -> Folding


class EstimateStage(Protocol):
    def __call__(self, net: Any, folding: Any, board: Any) -> dict: ...  # -> Estimate.to_json()


class FoldingFromJsonStage(Protocol):
    def __call__(self, doc: dict) -> Any: ...  # -> Folding


class GenerateStage(Protocol):
    def __call__(self, net: Any, folding: Any, out_dir: Path, run_dir: Path, log: Log | None = None) -> dict: ...


class SimulateStage(Protocol):
    def __call__(self, build_dir: Path, images: int, simulator: str, log: Log = ...) -> dict:
        """-> sim.json's content (SimResult.from_sim reads it)."""
        ...


class SynthStage(Protocol):
    def __call__(self, build_dir: Path, family: str, board: str, log: Log = ...) -> dict:
        """-> synth.json's content (SynthResult.from_synth reads it)."""
        ...


def _real_train(kw: dict, out_dir, log):
    from bitscale.nn.train import TrainConfig, train

    return train(TrainConfig(**kw), out_dir, log=log)


def _real_search(source_run, out_dir, req, log):
    from bitscale.mixed import search_point

    return search_point(
        source_run,
        out_dir,
        req["board"],
        req["fps"],
        req["k"],
        req["of"],
        wbits=tuple(req["wbits"]),
        abits=tuple(req["abits"]),
        epochs=req["epochs"],
        lr=req.get("lr"),
        log=log,
    )


def _real_load_net(run_dir):
    from bitscale.nn import ir

    return ir.load(Path(run_dir))


def _real_auto_fold(net, board, target_fps):
    from bitscale.cost_model import auto_fold

    return auto_fold(net, board, target_fps=target_fps)


def _real_estimate(net, folding, board):
    from bitscale.cost_model import estimate

    return estimate(net, folding, board).to_json()


def _real_generate(net, folding, out_dir, run_dir, log=None):
    from bitscale.hw.generate import generate

    return generate(net, folding, out_dir, run_dir=run_dir, log=log)


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def _real_simulate(build_dir, images, simulator, log=_log):
    from bitscale.sim.simulate import simulate

    return simulate(build_dir, images=images, simulator=simulator, log=log)


def _real_synth(build_dir, family, board, log=_log):
    from bitscale.boards.synth import synth

    return synth(build_dir, family, board=board, log=log)


def _real_folding_from_json(doc):
    from bitscale.hw.folding import Folding

    return Folding.from_json(doc)


@dataclass(frozen=True)
class Stages:
    """The stage functions the sweep calls. Module-level functions only (they are pickled
    to worker processes). ``estimate`` returns the Estimate's JSON; ``auto_fold``
    returns an object with ``to_json()``."""

    train: TrainStage = _real_train
    load_net: LoadNetStage = _real_load_net
    auto_fold: AutoFoldStage = _real_auto_fold
    estimate: EstimateStage = _real_estimate
    folding_from_json: FoldingFromJsonStage = _real_folding_from_json
    generate: GenerateStage = _real_generate
    simulate: SimulateStage = _real_simulate
    synth: SynthStage = _real_synth
    search: SearchStage = _real_search

    @staticmethod
    def real() -> "Stages":
        return Stages()
