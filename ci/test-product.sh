#!/usr/bin/env bash
# `make test-product`: glassbench as a product repo sees it. Build the wheel, install it into a fresh
# venv (pip's cache is reused; only PyPI is needed), copy examples/product-repo to a temp dir outside
# this checkout, install it (its entry point registers the "acme" profile) and run its tests there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
venv=${PRODUCT_VENV:-$here/out/product-venv}
dist=$here/out/dist

rm -rf "$dist"
"$PYTHON" -m pip wheel -q --no-deps -w "$dist" "$here"
wheel=$(ls "$dist"/glassbench-*.whl)
test -x "$venv/bin/python" || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"          # dependencies (cached)
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

work=$(mktemp -d "${TMPDIR:-/tmp}/glassbench-product.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$here/examples/product-repo/." "$work/"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$work"
site=$("$venv/bin/python" -c 'import bench, pathlib; print(pathlib.Path(bench.__file__).parent)')
touch "$work/.installed"
cd "$work"
echo "product repo: $work  (glassbench $wheel)" >&2
"$venv/bin/python" -m pytest --plan acme-smoke -p no:randomly "$@"
# nothing may have been written into the installed package
if [ -n "$(find "$site" -newer "$work/.installed" -type f ! -name '*.pyc' -print -quit)" ]; then
  echo "test-product: files were written into the installed package $site:" >&2
  find "$site" -newer "$work/.installed" -type f ! -name '*.pyc' >&2
  exit 1
fi
test -s "$work/out/measurements.jsonl" || { echo "test-product: no out/measurements.jsonl in the product repo" >&2; exit 1; }
