#!/usr/bin/env bash
# The zoo on the virtual board (Verilator, the Verilog the bitstreams are built from): every
# model that fits the 64 KiB activation memory under LUT-NA and, where `lutna analyze` wrote one,
# under its searched mixed plan; `lutna run` checks every image against the golden engine.
#   tools/zoo_board.sh [IMAGES] [BOARD] [LANES]   (default 10, icebreaker, 8; or ulx3s-85f 16)
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-10}
board=${2:-icebreaker}
lanes=${3:-8}
# The dev profile is optimized (Cargo.toml), and shares its build with `cargo test`.
cargo build -q -p lutna-host
lutna=${CARGO_TARGET_DIR:-target}/debug/lutna
log=$(mktemp)
$lutna board --virtual --board "$board" --lanes "$lanes" --sim verilator >"$log.out" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$log.out"' EXIT
while [ ! -s "$log.out" ]; do sleep 0.2; done
port=$(head -1 "$log.out")
printf '%-18s %-8s %6s %10s %8s %18s %18s %6s\n' model plan images mismatches weights cycles/image model-cycles top-1
status=0
for m in models/*.lutna; do
    name=$(basename "$m" .lutna)
    plans=(lutna)
    [ -f "analysis/$name/plan-search.json" ] && plans+=(search)
    for plan in "${plans[@]}"; do
        args=()
        [ "$plan" = search ] && args=(--plan "analysis/$name/plan-search.json")
        if ! json=$($lutna run --port "$port" --model "$m" --data data/cifar10-sample \
            --limit "$images" --json "${args[@]}" 2>"$log.err"); then
            printf '%-18s %-8s %s\n' "$name" "$plan" "$(tail -1 "$log.err")"
            grep -q "does not fit" "$log.err" || status=1
            continue
        fi
        python3 - "$name" "$plan" "$json" <<'PY'
import json, sys
name, plan, js = sys.argv[1:]
r = json.loads(js)
print(f"{name:<18} {plan:<8} {r['images']:>6} {r['mismatches']:>10} {r['weights']:>8} "
      f"{r['cycles_per_image']:>18,.0f} {r['predicted_cycles_per_image']:>18,} {100*r['top1']:>5.0f}%")
PY
    done
done
rm -f "$log.err"
exit $status
