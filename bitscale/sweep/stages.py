"""The stage functions the sweep calls, looked up through :class:`Stages` so tests can inject
fakes; the product path always uses :meth:`Stages.real`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


def _real_train(kw: dict, out_dir, log):
    from bitscale.nn.train import TrainConfig, train
    return train(TrainConfig(**kw), out_dir, log=log)


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


_log = logging.getLogger(__name__).info   # progress: the bitscale.* loggers (the CLI shows them on stderr)


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

    train: Callable = _real_train                 # (config kwargs, out_dir, log) -> metrics dict
    load_net: Callable = _real_load_net           # run_dir -> QuantizedNetwork
    auto_fold: Callable = _real_auto_fold         # (net, Board, target_fps|None) -> Folding
    estimate: Callable = _real_estimate           # (net, Folding, Board) -> Estimate JSON
    folding_from_json: Callable = _real_folding_from_json
    generate: Callable = _real_generate           # (net, Folding, out_dir, run_dir) -> design dict
    simulate: Callable = _real_simulate           # (build_dir, images, simulator) -> sim dict
    synth: Callable = _real_synth                 # (build_dir, family, board name) -> synth dict

    @staticmethod
    def real() -> "Stages":
        return Stages()
