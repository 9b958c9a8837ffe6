#!/usr/bin/env bash
# Reruns the headline benchmarks of docs/benchmarks.md in one go:
#   1. the golden engine against tract on the shipped iCEBreaker model (the full CIFAR-10 test
#      set when DATA has test_batch.bin, else the shipped 100-image sample, said so);
#   2. the virtual board's speed, RustHDL against Verilator in the same run (tools/bench_board.sh).
#   tools/bench.sh [DATA_DIR] [IMAGES]     (default ../shared/cifar10 and 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/cifar10}
images=${2:-10000}
if [ ! -f "$data/test_batch.bin" ]; then
    echo "NOTE: $data/test_batch.bin not found: golden vs tract runs on the shipped 100-image sample"
    data=data/cifar10-sample
    images=100
fi
echo "== golden engine vs tract: models/icebreaker-w0.5, $images images of $data"
cargo run --release -q -p lutna-onnx --example golden_vs_tract -- models/icebreaker-w0.5 "$data" "$images"
echo
echo "== virtual board: RustHDL (2 images) and Verilator (100 images), same run"
tools/bench_board.sh 2 100
