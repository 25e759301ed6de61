#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: apt packages, a venv at .venv/, the pinned
# pip packages of requirements.lock, and bitscale installed editable. Cheap when done already.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_need=()
command -v iverilog >/dev/null 2>&1 || apt_need+=(iverilog)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || apt_need+=(dataset-fashion-mnist)
# the PostgreSQL store tests start a throw-away local server (initdb/pg_ctl) in a temp dir
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || apt_need+=(postgresql)
# the report's browser test (tests/test_report_browser.py): headless Chromium + its WebDriver
command -v chromium >/dev/null 2>&1 || apt_need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_need+=(chromium-driver)
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${apt_need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${apt_need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.bitscale-setup
want=$(cat requirements.lock pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing pinned packages (requirements.lock)"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned to the CPU build on this disk; never let a resolver pick a CUDA build.
  .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
