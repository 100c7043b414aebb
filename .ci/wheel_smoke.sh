#!/usr/bin/env bash
# The installed package, as a user gets it: build a wheel, install it into a fresh virtual environment outside
# the checkout, then from an empty folder run `edgesnn verify`, export a shipped model and stream a few
# samples to the host board. Nothing may be written into the installed package (C builds go to the cache).
# Run after tests/run.sh (it uses the environment that made: $VIRTUAL_ENV, else .venv).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${VIRTUAL_ENV:-$repo/.venv}/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== wheel: build"
"$py" -m pip wheel -q --disable-pip-version-check --no-deps "$repo" -w "$work/dist"

echo "== wheel: install into $work/venv"
"$py" -m venv "$work/venv"
vpy="$work/venv/bin/python"
site="$("$vpy" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
# The dependencies (torch is ~700 MB) come from the test environment through a .pth file; edgesnn itself
# is installed from the wheel only (--ignore-installed: the checkout's editable install does not count).
"$py" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith(("site-packages", "dist-packages"))))' \
  > "$site/edgesnn-test-deps.pth"
"$vpy" -m pip install -q --disable-pip-version-check --no-deps --ignore-installed "$work"/dist/edgesnn-*.whl

mkdir "$work/run" && cd "$work/run"
export EDGESNN_CACHE="$work/cache"
"$vpy" - "$site" <<'PY'
import sys
from pathlib import Path

import edgesnn
from edgesnn import resources

site = Path(sys.argv[1]).resolve()
assert Path(edgesnn.__file__).resolve().is_relative_to(site), f"edgesnn from {edgesnn.__file__}, not {site}"
assert not resources.is_checkout(), f"resources point at a checkout: {resources.root()}"
print(f"edgesnn from {edgesnn.__file__}; resources in {resources.root()}; builds in {resources.build_dir()}")
PY
touch "$work/stamp"
edgesnn="$work/venv/bin/edgesnn"
zoo="$site/edgesnn/zoo"

echo "== wheel: edgesnn verify"
"$edgesnn" verify
echo "== wheel: edgesnn export + stream --device host"
"$edgesnn" export "$zoo/fashion_mnist_synac_w8_t4_qat.pt" --calib fashion-mnist --calib-samples 64 \
  --device host -o fm
"$edgesnn" stream --device host fm/model.esnn --dataset fashion-mnist --limit 5 --json stream.json

written="$(find "$site/edgesnn" -newer "$work/stamp" ! -name '*.pyc' ! -type d)"
if [ -n "$written" ]; then
  echo "wheel: the commands wrote into the installed package:"; echo "$written"; exit 1
fi
[ -n "$(ls "$EDGESNN_CACHE"/build/)" ] || { echo "wheel: no C build in $EDGESNN_CACHE/build"; exit 1; }
echo "wheel: ok"
