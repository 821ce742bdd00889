#!/usr/bin/env bash
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Pack the wheels of benchmarks/gpu_wheels.txt (CPython 3.12, x86-64) into
# .whl/wheels.tar.xz for benchmarks/gpu_check.sh. The 51 wheels take 44 MB as they are
# (libfastdds.so is in the fastdds wheel three times); xz over the whole set packs them
# into 18 MB, which leaves room in the 64 MiB that travels to the lent machine.
# empy has no wheel on PyPI: it is built here (pure Python). Run from the repository root.
set -eu
PY=${PYTHON:-.venv/bin/python}
PYVER=${PYVER:-3.12}
TMP=$(mktemp -d)
grep -v -e '^#' -e '^empy==' benchmarks/gpu_wheels.txt > "$TMP/req.txt"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any; do
  platforms+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp "${platforms[@]}" -d "$TMP/w" -r "$TMP/req.txt"
"$PY" -m pip wheel -q --no-deps -w "$TMP/w" "$(grep '^empy==' benchmarks/gpu_wheels.txt)"
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
(cd "$TMP/w" && tar -cf - ./*.whl) | xz -9e -T2 --lzma2=preset=9e,dict=128MiB > .whl/wheels.tar.xz
ls -la .whl/wheels.tar.xz
rm -rf "$TMP"
