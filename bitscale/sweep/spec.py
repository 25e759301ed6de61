"""The sweep's spec and its user-facing parsing: grids of precisions and width scales, run keys.

Guaranteed: a :class:`SweepSpec` is validated on construction (one UserError naming the bad
value) and round-trips to JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction

from bitscale.errors import UserError
from bitscale.nn.catalog import DATASETS, MODELS  # noqa: F401  (the one torch-free catalog)

EXECUTORS = ("local", "ray")
SIMULATORS = ("verilator", "icarus")


# --- parsing user input ------------------------------------------------------------------------


def parse_bits(text: str, flag: str) -> tuple[int, ...]:
    """'1,2,float' -> (1, 2, 0): bit widths 1..16, 'float' (0) for the float baseline."""
    from bitscale.nn.precision import parse_bits_token

    out = []
    for tok in str(text).split(","):
        v = parse_bits_token(tok, flag)  # the one bit-width rule (bitscale train uses it too)
        if v not in out:
            out.append(v)
    if not out:
        raise UserError(f"{flag}: no bit widths given")
    return tuple(out)


def parse_scale(tok: str, flag: str = "--scales") -> Fraction:
    """The one width-scale rule (bitscale train uses it too): bitscale.nn.precision.parse_scale."""
    from bitscale.nn.precision import parse_scale as _parse

    return _parse(tok, flag)


def parse_scales(text: str, flag: str = "--scales") -> tuple[str, ...]:
    """'1/32,0.125' -> ('1/32', '1/8'): canonical fraction strings, in the given order."""
    out = []
    for tok in str(text).split(","):
        if not tok.strip():
            continue
        s = str(parse_scale(tok, flag))
        if s not in out:
            out.append(s)
    if not out:
        raise UserError(f"{flag}: no scales given")
    return tuple(out)


def precisions(wbits, abits, tied: bool) -> tuple[tuple[int, int], ...]:
    """The (wbits, abits) pairs of the grid; 0 = float and pairs only with 0."""
    if tied:
        return tuple((b, b) for b in wbits)
    if (0 in wbits) != (0 in abits):
        raise UserError(
            "'float' must be in both --wbits and --abits (the float baseline has no "
            "quantized weights or activations), or use --bits"
        )
    return tuple((w, a) for w in wbits for a in abits if (w == 0) == (a == 0))


def precision_label(wbits: int, abits: int) -> str:
    """'w2a2', 'float', or for the k-th of K searched mixed points (store.mixed_key) 'mixed2of3'."""
    if wbits < 0:
        return f"mixed{-wbits}of{-abits}"
    return "float" if wbits == 0 else f"w{wbits}a{abits}"


def scale_slug(scale: str) -> str:
    return scale.replace("/", "_")


# --- the spec ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep computes (not how it runs). Round-trips to JSON."""

    model: str = "fc"
    precisions: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (8, 8))
    scales: tuple[str, ...] = ("1/64", "1/32")
    dataset: str = "digits"
    board: str = "pynq-z1"
    fps: float | None = None  # target FPS for auto-folding; None = the fastest that fits
    epochs: int = 10
    seed: int = 0
    batch_size: int | None = None  # None: bitscale.nn.train's default
    lr: float | None = None
    device: str = "cpu"
    data_dir: str | None = None
    hw: bool = False
    hw_images: int = 8
    hw_max: int | None = None  # at most this many Pareto points go to hardware
    simulator: str = "verilator"
    mixed: int = 0  # searched mixed-precision points per width (bitscale.mixed)
    mixed_wbits: tuple[int, ...] = (1, 2, 4, 8)  # the search's per-layer candidates
    mixed_abits: tuple[int, ...] = (2, 4, 8)
    mixed_epochs: int | None = None  # fine-tuning epochs of a searched point; None: ``epochs``

    def __post_init__(self):
        if self.model not in MODELS:
            raise UserError(f"--model: {self.model!r} is not one of {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            raise UserError(f"--dataset: {self.dataset!r} is not one of {', '.join(DATASETS)}")
        from bitscale.boards import get as get_board

        get_board(self.board)
        if not self.precisions:
            raise UserError("the sweep has no precisions")
        for w, a in self.precisions:
            for v, what in ((w, "wbits"), (a, "abits")):
                if not isinstance(v, int) or not 0 <= v <= 16:
                    raise UserError(f"{what} must be 1..16 or 0 (float), not {v!r}")
            if (w == 0) != (a == 0):
                raise UserError(f"precision w{w}a{a}: float (0) pairs only with float")
        if not self.scales:
            raise UserError("the sweep has no scales")
        for s in self.scales:
            parse_scale(s)
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise UserError(f"--fps: {self.fps!r} is not a frame rate > 0")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise UserError(f"--epochs: {self.epochs!r} is not an integer >= 1")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise UserError(f"--batch-size: {self.batch_size!r} is not an integer >= 1")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"--lr: {self.lr!r} is not > 0")
        if not str(self.device).startswith(("cpu", "cuda")):
            raise UserError(f"--device: {self.device!r} is not cpu or cuda[:N]")
        if not isinstance(self.hw_images, int) or self.hw_images < 1:
            raise UserError(f"--hw-images: {self.hw_images!r} is not an integer >= 1")
        if self.hw_max is not None and (not isinstance(self.hw_max, int) or self.hw_max < 1):
            raise UserError(f"--hw-max: {self.hw_max!r} is not an integer >= 1")
        if self.simulator not in SIMULATORS:
            raise UserError(f"--simulator: {self.simulator!r} is not one of {', '.join(SIMULATORS)}")
        if isinstance(self.mixed, bool) or not isinstance(self.mixed, int) or self.mixed < 0:
            raise UserError(f"--mixed: {self.mixed!r} is not an integer >= 0")
        if self.mixed:
            if self.fps is None:
                raise UserError(
                    "--mixed needs a target --fps (the search costs each layer at the folding "
                    "that frame rate needs), not 'max'"
                )
            for flag, bits in (("--mixed-wbits", self.mixed_wbits), ("--mixed-abits", self.mixed_abits)):
                if not bits:
                    raise UserError(f"{flag}: no bit widths given")
                for b in bits:
                    if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 16:
                        raise UserError(f"{flag} must be 1..16, not {b!r}")
            if self.mixed_epochs is not None and (not isinstance(self.mixed_epochs, int) or self.mixed_epochs < 1):
                raise UserError(f"--mixed-epochs: {self.mixed_epochs!r} is not an integer >= 1")

    def to_json(self) -> dict:
        d = asdict(self)
        d["precisions"] = [list(p) for p in self.precisions]
        d["scales"] = list(self.scales)
        d["mixed_wbits"] = list(self.mixed_wbits)
        d["mixed_abits"] = list(self.mixed_abits)
        return {"format": "bitscale.SweepSpec", **d}

    @staticmethod
    def from_json(doc: dict) -> "SweepSpec":
        d = {k: v for k, v in doc.items() if k != "format"}
        d["precisions"] = tuple(tuple(p) for p in d.get("precisions", ()))
        d["scales"] = tuple(d.get("scales", ()))
        for k in ("mixed_wbits", "mixed_abits"):
            if k in d:
                d[k] = tuple(d[k])
        return SweepSpec(**d)

    def points(self):
        """The grid in order (scale-major), as store keys."""
        from bitscale.store import PointKey

        return [
            PointKey(self.model, w, a, s, self.dataset, self.epochs, self.seed, self.board, float(self.fps or 0.0))
            for s in self.scales
            for (w, a) in self.precisions
        ]

    def source_precision(self) -> tuple[int, int]:
        """The grid point a width's mixed search starts from (its sensitivity and its fine-tuning's
        initialization): the float baseline when the grid has one, else the widest precision."""
        return (0, 0) if (0, 0) in self.precisions else max(self.precisions)

    def mixed_points(self):
        """The searched mixed points (``mixed`` per width, keyed by store.mixed_key), as store keys."""
        from bitscale.store import PointKey, mixed_key

        return [
            PointKey(
                self.model,
                *mixed_key(k, self.mixed),
                s,
                self.dataset,
                self.epochs,
                self.seed,
                self.board,
                float(self.fps or 0.0),
            )
            for s in self.scales
            for k in range(self.mixed)
        ]

    def source_point(self, p):
        """The store key of the uniform point mixed point ``p`` is searched from."""
        from bitscale.store import PointKey

        w, a = self.source_precision()
        return PointKey(p.model, w, a, p.scale, p.dataset, p.epochs, p.seed, p.board, p.fps_target)


def run_key(p) -> str:
    """The run folder name of a point: its training configuration only (not board or FPS)."""
    return f"{p.model}-{precision_label(p.wbits, p.abits)}-s{scale_slug(p.scale)}-{p.dataset}-e{p.epochs}-seed{p.seed}"


def point_label(p) -> str:
    return f"{precision_label(p.wbits, p.abits)} s={p.scale}"
