"""Typed stage results: what training, simulation and synthesis tell the sweep, the store and the report.

Each is a frozen dataclass with a JSON round trip (``from_json(to_json(x)) == x``). A stage's own
document (nn/train's metrics.json, sim.json, synth.json) is read in exactly one place, the
``from_*`` constructor here, with one name per field: no alias lists downstream.

Guaranteed: accuracies and agreements are fractions in [0, 1] (a stage reporting a percent is an
error at this boundary, never a guess in the report); counts are non-negative integers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, cast


def _fraction(name: str, v) -> float | None:
    if v is None:
        return None
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], not {v!r}")
    return v


def _count(name: str, v) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or int(v) != v or v < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {v!r}")
    return int(v)


class _JSON:
    """to_json / from_json for the result dataclasses below (tuples travel as JSON lists)."""

    FORMAT = ""

    def to_json(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cast(Any, self)).items()}
        return {"format": self.FORMAT, **d}

    @classmethod
    def from_json(cls, doc: dict):
        if doc.get("format") != cls.FORMAT:
            raise ValueError(f"not a {cls.FORMAT} document (format {doc.get('format')!r})")
        names = {f.name for f in fields(cast(Any, cls))}
        unknown = set(doc) - names - {"format"}
        if unknown:
            raise ValueError(f"{cls.FORMAT}: unknown keys {sorted(unknown)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class TrainResult(_JSON):
    """A trained point: test accuracy, golden-vs-Brevitas agreement, weight count (float points)."""

    accuracy: float | None
    golden_agreement: float | None = None
    params: int | None = None

    FORMAT = "bitscale.TrainResult"

    def __post_init__(self):
        object.__setattr__(self, "accuracy", _fraction("accuracy", self.accuracy))
        object.__setattr__(self, "golden_agreement", _fraction("golden_agreement", self.golden_agreement))
        object.__setattr__(self, "params", _count("params", self.params))

    @staticmethod
    def from_metrics(doc: dict) -> "TrainResult":
        """From bitscale.nn.train's metrics.json (``test_acc``, ``golden_agreement``, ``params``)."""
        return TrainResult(doc.get("test_acc"), doc.get("golden_agreement"), doc.get("params"))


@dataclass(frozen=True)
class SimResult(_JSON):
    """A simulated build: images streamed, frames equal to the golden model, measured cycles."""

    images: int
    passed: bool  # every frame came back and equals the golden model, no errors
    golden_match: int | None = None  # frames equal to the golden model
    hw_correct: int | None = None  # frames whose argmax is the label
    cycles_per_frame: float | None = None
    errors: tuple[str, ...] = ()

    FORMAT = "bitscale.SimResult"

    def __post_init__(self):
        for name in ("images", "golden_match", "hw_correct"):
            object.__setattr__(self, name, _count(name, getattr(self, name)))
        object.__setattr__(self, "errors", tuple(str(e) for e in self.errors))

    @property
    def accuracy(self) -> float | None:
        return self.hw_correct / self.images if self.hw_correct is not None and self.images else None

    @staticmethod
    def from_sim(doc: dict) -> "SimResult":
        """From bitscale.sim.simulate's sim.json."""
        errors = tuple(doc.get("errors") or ())
        images = int(doc["images"])
        passed = (
            bool(doc.get("all_frames_match"))
            and not errors
            and (doc.get("golden_match") is None or doc["golden_match"] == images)
        )
        return SimResult(
            images, passed, doc.get("golden_match"), doc.get("hw_correct"), doc.get("cycles_per_frame"), errors
        )


@dataclass(frozen=True)
class SynthResult(_JSON):
    """A synthesized build: the family's LUT, FF, block-RAM units, DSP; fmax where placed."""

    LUT: int
    FF: int
    BRAM18: int
    DSP: int
    fmax_mhz: float | None = None
    bram_kind: str | None = None

    FORMAT = "bitscale.SynthResult"

    def __post_init__(self):
        for name in ("LUT", "FF", "BRAM18", "DSP"):
            object.__setattr__(self, name, _count(name, getattr(self, name)))

    @staticmethod
    def from_synth(doc: dict) -> "SynthResult":
        """From bitscale.boards.synth's synth.json."""
        return SynthResult(doc["LUT"], doc["FF"], doc["BRAM18"], doc["DSP"], doc.get("fmax_mhz"), doc.get("bram_kind"))


@dataclass(frozen=True)
class SearchResult(_JSON):
    """A searched mixed-precision point (``bitscale sweep --mixed K``): per-layer bits, the BRAM18
    budget it was searched under, the ILP's predicted cost and objective, and its source run."""

    wbits: tuple[int, ...]  # per compute layer
    abits: tuple[int, ...]  # bits entering each compute layer (abits[0] = the input's 8)
    label: str  # e.g. w1.1.1.2-a8.4.4.4
    budget_bram18: int
    predicted_lut: int
    predicted_bram18: int
    predicted_dsp: int
    perturbation: float
    solve_seconds: float
    source_run: str
    k: int = 0  # the k-th (0-based) of ``of`` budgets of the width's frontier
    of: int = 1

    FORMAT = "bitscale.SearchResult"

    def __post_init__(self):
        object.__setattr__(self, "wbits", tuple(int(b) for b in self.wbits))
        object.__setattr__(self, "abits", tuple(int(b) for b in self.abits))
        if not self.wbits or len(self.wbits) != len(self.abits):
            raise ValueError(f"per-layer bits need one wbits and one abits per layer, not {self.wbits} / {self.abits}")
        for b in self.wbits + self.abits:
            if not 1 <= b <= 16:
                raise ValueError(f"per-layer bits must be 1..16, not {b}")
        for name in ("budget_bram18", "predicted_lut", "predicted_bram18", "predicted_dsp", "k", "of"):
            object.__setattr__(self, name, _count(name, getattr(self, name)))
        if not 0 <= self.k < self.of:
            raise ValueError(f"mixed point k={self.k} of {self.of}: need 0 <= k < of")

    @staticmethod
    def from_search(doc: dict) -> "SearchResult":
        """From bitscale.mixed.search_point's search_point.json."""
        p = doc["predicted"]
        return SearchResult(
            tuple(doc["wbits"]),
            tuple(doc["abits"]),
            doc["label"],
            doc["budget"]["BRAM18"],
            p["LUT"],
            p["BRAM18"],
            p["DSP"],
            float(doc["perturbation"]),
            float(doc["solve_seconds"]),
            str(doc["source_run"]),
            doc.get("k", 0),
            doc.get("of", 1),
        )
