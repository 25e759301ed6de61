"""Issue #17's layering rule, checked on the source: imports flow one way,
nn -> hw -> (boards | sim | cost_model) -> bitscale/ (the CLI, sweep, report, api).

Every .py file under nn/, hw/, boards/, sim/ and cost_model/ is parsed with ``ast``; every import
counts (module level, inside functions, under ``if TYPE_CHECKING:``), relative ones resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nn", "hw", "boards", "sim", "cost_model")
# bitscale/ modules every layer may use: shared utilities with no project imports of their own
UTILITIES = {
    "bitscale.errors",  # UserError, read_json
    "bitscale.atomic",  # write_json / write_text
    "bitscale.proc",  # run() for external tools, pid_alive
    "bitscale.outdir",  # prepare(): the output-directory safety check (imports only errors)
}
# what each layer may not import (besides the top-level bitscale/ modules, forbidden to all)
FORBIDDEN = {
    "nn": ("hw", "boards", "sim", "cost_model"),
    "hw": ("boards", "sim", "cost_model"),
    "boards": (),
    "sim": (),
    "cost_model": (),
}
# known violations left for later: (file, imported module) -> reason. Keep empty if you can.
ALLOWED: dict[tuple[str, str], str] = {}


def _imports(src: str, rel: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``src``, the file ``rel`` (relative to the repository root)."""
    tree = ast.parse(src, str(rel))
    rel = rel.with_suffix("")
    here = ["bitscale", *rel.parts[:-1]]  # the package dirs install as bitscale.<dir>
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # "from bitscale import cli" imports the module bitscale.cli
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if mod == "bitscale"]
    return out


def _layer(module: str) -> str | None:
    """The layer of a bitscale module: one of PACKAGES, 'top' (a bitscale/ module), or None (third party)."""
    parts = module.split(".")
    if parts[0] != "bitscale":
        return None
    if len(parts) == 1:
        return "bitscale"  # the package itself: only meaningful with a name ("from bitscale import x")
    if parts[1] in PACKAGES:
        return parts[1]
    return "top"


def _violations() -> list[str]:
    bad = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            for line, mod in _imports(path.read_text(), path.relative_to(ROOT)):
                layer = _layer(mod)
                if layer is None or layer == "bitscale":
                    continue
                if layer == "top" and ".".join(mod.split(".")[:2]) in UTILITIES:
                    continue
                if layer == "top" or layer in FORBIDDEN[package]:
                    if (name, mod) not in ALLOWED:
                        bad.append(f"{name}:{line}: {package}/ imports {mod}")
    return bad


def test_imports_flow_one_way():
    bad = _violations()
    assert not bad, "layering (nn -> hw -> boards|sim|cost_model -> bitscale/) broken:\n" + "\n".join(bad)


def test_the_checker_sees_every_kind_of_import():
    src = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bitscale.cost_model.packing import X\n"
        "def f():\n    import bitscale.sim.run\n    from ..boards import FAMILY\n    from bitscale import cli\n"
        "    from . import mvtu\n"
    )
    mods = {m for _, m in _imports(src, Path("hw/probe.py"))}
    assert {"bitscale.cost_model.packing", "bitscale.sim.run", "bitscale.boards", "bitscale.cli", "bitscale.hw"} <= mods
    assert [_layer(m) for m in ("bitscale.hw.top", "bitscale.cli", "numpy")] == ["hw", "top", None]
