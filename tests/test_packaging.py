"""Packaging: the wheel holds every package of the source tree and works without the source.

test_wheel_installs_and_runs (slow) builds the wheel from a copy of the tree, installs it with
pip into a fresh venv (no source tree on sys.path, cwd elsewhere) and runs the CLI there:
``--help``, ``boards``, and a tiny train -> estimate. The dependencies come from the project
venv through a .pth file added *after* pip has installed the wheel, so nothing is downloaded and
pip never sees (or touches) the project's editable install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    "build",
    "dist",
    "runs",
    "out",
    "bench",
    "tests",
    "docs",
    "*.egg-info",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    "sim_build",
)


def _roots() -> dict[str, str]:
    """setup.py's ROOTS (import name -> folder), read without running setup()."""
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ROOTS")
    return ast.literal_eval(node.value)


def source_packages() -> set[str]:
    """Every package of the source tree: each folder with an __init__.py under a root."""
    out = set()
    for name, folder in _roots().items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" in rel.parts:
                continue
            out.add(".".join((name, *rel.parts)))
    return out


def build_wheel(dest: Path) -> Path:
    """The wheel, built from a fresh copy of the tree (a stale build/ must not leak old modules)."""
    src = dest / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dest / "dist"),
            str(src),
        ],
        check=True,
        timeout=300,
    )
    (whl,) = (dest / "dist").glob("bitscale-*.whl")
    return whl


def test_pyproject_metadata():
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    proj = doc["project"]
    assert proj["license"] == "MIT" and (ROOT / "LICENSE").is_file()
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert any(c.startswith("Programming Language :: Python :: 3") for c in proj["classifiers"])
    # ranges, not pins: the exact versions live in requirements.lock
    for dep in proj["dependencies"]:
        assert "==" not in dep, f"{dep}: pyproject.toml takes ranges; pin in requirements.lock"
    lock = {
        line.split("==")[0].lower() for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line
    }
    for dep in proj["dependencies"]:
        name = dep.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        assert name in lock, f"{name} is a dependency but not pinned in requirements.lock"
    assert (ROOT / "bitscale" / "py.typed").is_file()
    assert "packages" not in doc["tool"].get("setuptools", {}), "packages are derived in setup.py"


@pytest.mark.training
def test_wheel_installs_and_runs(tmp_path):
    whl = build_wheel(tmp_path)
    names = zipfile.ZipFile(whl).namelist()
    in_wheel = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert in_wheel == source_packages()
    assert "bitscale/py.typed" in names and "bitscale/cost_model/coefficients.json" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(whl)],
        check=True,
        timeout=300,
    )
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies: the project venv's site-packages, after the new venv's own (so the wheel's
    # bitscale wins; the editable install's finder is a .pth there, which a path entry does not run).
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    exe = str(env_dir / "bin" / "bitscale")

    def run(*args, timeout=300):
        r = subprocess.run(
            [exe, *args], check=False, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert r.returncode == 0, f"bitscale {' '.join(args)}: rc {r.returncode}\n{r.stderr[-3000:]}"
        return r

    where = subprocess.run(
        [str(py), "-c", "import bitscale; print(bitscale.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    assert "train" in run("--help").stdout
    boards = run("boards").stdout
    assert "ulx3s-85f" in boards and "pynq-z1" in boards
    assert {b["name"] for b in json.loads(run("boards", "--json").stdout)} >= {"pynq-z1", "ulx3s-85f"}
    run("train", "--dataset", "digits", "--epochs", "1", "--scale", "1/128", "--out", "run", "--json")
    est = json.loads(run("estimate", "run", "--board", "pynq-z1", "--fps", "10000", "--json").stdout)
    assert est["total"]["fits"] and est["total"]["fps"] >= 10000 and est["board"] == "pynq-z1"
    assert (work / "run" / "folding.json").is_file()
