#!/usr/bin/env bash
# Virtual board speed, both simulators in the same run: `lutna board --virtual --sim S` serving
# `lutna run` on the shipped iCEBreaker model and sample images.
#   tools/bench_board.sh [RUSTHDL_IMAGES] [VERILATOR_IMAGES]      (default 2 and 100)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p lutna-host
lutna=${CARGO_TARGET_DIR:-target}/release/lutna
for spec in "rusthdl ${1:-2}" "verilator ${2:-100}"; do
    set -- $spec
    sim=$1 n=$2
    log=$(mktemp)
    $lutna board --virtual --sim "$sim" >"$log.out" 2>"$log" &
    pid=$!
    while [ ! -s "$log.out" ]; do sleep 0.2; done
    port=$(head -1 "$log.out")
    t0=$(date +%s.%N)
    json=$($lutna run --port "$port" --model models/icebreaker-w0.5.lutna \
        --data data/cifar10-sample --limit "$n" --json)
    t1=$(date +%s.%N)
    sleep 11 # the board reports its counters every 10 s
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$sim" "$n" "$t0" "$t1" "$json" "$log" <<'PY'
import json, re, sys
sim, n, t0, t1, js, log = sys.argv[1:]
r = json.loads(js)
lines = [l for l in open(log) if "cycles/s while busy" in l]
cps = float(re.search(r"\((\d+) cycles/s", lines[-1]).group(1)) if lines else float("nan")
print(f"{sim:>9}: {n:>3} images, {r['mismatches']} mismatches, {r['images_per_s']:.3f} images/s "
      f"({float(t1)-float(t0):.1f} s wall), {cps:,.0f} simulated cycles/s")
PY
    rm -f "$log" "$log.out"
done
