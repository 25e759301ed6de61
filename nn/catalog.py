"""The catalog of model families and datasets: names, input shapes, classes. Torch- and numpy-free.

What the CLI, the sweep spec, the trainer and the data loader all check names against, and how a
model family shapes its input on a dataset. It imports nothing heavy, so validating a sweep spec
or a run's config loads no torch, and nn.models and nn.data no longer import each other.

Guaranteed: :func:`check_model` / :func:`check_dataset` raise one UserError listing the known names.
"""

from __future__ import annotations

from bitscale.errors import UserError

MODELS = ("fc", "tfc", "sfc", "lfc", "cnv", "vgg", "darknet")
CONV_MODELS = ("cnv", "vgg", "darknet")  # NCHW input, 32x32 (nn/presets.py: vgg, darknet)
CNV_INPUT = 32

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")
NATIVE_SHAPES = {"digits": (8, 8, 1), "fashion-mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NUM_CLASSES = {"digits": 10, "fashion-mnist": 10, "mnist": 10, "cifar10": 10}


def check_model(name: str) -> None:
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def input_shape_for(model: str, dataset: str) -> tuple[int, ...]:
    """The network input shape for a model family on a dataset (HWC, or flat for fc)."""
    check_model(model)
    check_dataset(dataset)
    h, w, c = NATIVE_SHAPES[dataset]
    if model in CONV_MODELS:
        return (CNV_INPUT, CNV_INPUT, c)
    return (h * w * c,)
