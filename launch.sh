#!/usr/bin/env bash
# Kestrel launcher.
#   ./launch.sh [app flags]      create .venv, install the pinned requirements (skipped when unchanged), start the UI
#   ./launch.sh --run-tests [pytest args]
#                                the same set-up plus dev requirements and Debian's chromium, then ruff, mypy and
#                                the tests (pytest-xdist: KESTREL_TEST_WORKERS=2 workers; pass -n 0 for one process)
# Flags pass through to app.py (A1111's names: --port, --listen, --data-dir, --ckpt, --xformers, ...).
# --workers N / --ray-address ADDR install the optional Ray requirements (requirements-ray.txt) first, as
# --xformers installs xformers; KESTREL_WITH_RAY=1 does the same for --run-tests (CI: tests/workers/ need Ray).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${KESTREL_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[launch] %s\n' "$*" >&2; }

find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "$candidate"; return
    fi
  done
  say "Python 3.11 is required (the pinned torch 2.14.1 wheels are built for it)."; exit 1
}

# Install a set of requirement files once; a stamp of their content makes an unchanged re-run skip pip entirely.
ensure_requirements() {
  local name="$1"; shift
  local stamp_file="$VENV/.installed-$name" stamp
  stamp="$(cd "$ROOT" && cat "$@" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then return; fi
  say "installing $name requirements (first run or requirements changed)"
  for file in "$@"; do
    case "$file" in
      *nodeps*) "$PY" -m pip install --no-deps -r "$ROOT/$file" ;;   # see the file: its deps would pull torch
      *) "$PY" -m pip install -r "$ROOT/$file" ;;
    esac
  done
  echo "$stamp" > "$stamp_file"
}

ensure_venv() {
  if [[ ! -x "$PY" ]]; then
    say "creating $VENV"
    "$(find_python)" -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
  fi
  ensure_requirements base requirements.txt requirements-nodeps.txt
}

# As in A1111, --xformers installs xformers (a CUDA-only library) when it is missing.
ensure_xformers() {
  for arg in "$@"; do
    if [[ "$arg" == "--xformers" ]] && ! "$PY" -c 'import xformers' >/dev/null 2>&1; then
      say "installing xformers (--xformers)"
      "$PY" -m pip install "xformers==0.0.35"
    fi
  done
}

# Device workers on Ray (--workers, --ray-address) are an optional install: only when asked for.
ensure_ray() {
  local wanted="${KESTREL_WITH_RAY:-}"
  for arg in "$@"; do
    case "$arg" in --workers|--workers=*|--ray-address|--ray-address=*) wanted=1 ;; esac
  done
  if [[ -n "$wanted" ]]; then ensure_requirements ray requirements-ray.txt; fi
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return; fi
  say "installing Debian's chromium for the browser tests"
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { say "chromium is missing and we are not root: apt-get install chromium"; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
}

run_tests() {
  ensure_requirements dev requirements-dev.txt
  ensure_ray
  ensure_chromium
  cd "$ROOT"
  say "ruff"
  "$VENV/bin/ruff" check .
  say "mypy"
  "$VENV/bin/mypy"
  # Two pytest-xdist workers (KESTREL_TEST_WORKERS), one test file each at a time, slow files first (tests/conftest.py
  # orders them; --no-loadscope-reorder keeps that order): the browser and server tests mostly wait, and the other
  # worker uses the time. Arguments after --run-tests follow and win (`-n 0`: one process, e.g. for --pdb).
  local workers="${KESTREL_TEST_WORKERS:-2}"
  say "pytest ($workers workers)"
  exec "$PY" -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
}

ensure_venv
if [[ "${1:-}" == "--run-tests" ]]; then
  shift
  run_tests "$@"
fi
ensure_xformers "$@"
ensure_ray "$@"
cd "$ROOT"
exec "$PY" app.py "$@"
