#!/usr/bin/env python3
"""Which registers the accelerator's flip-flops belong to.

Usage: tools/ff_profile.py BUILD_DIR [--top 40]

BUILD_DIR is a `lutna build --out` folder: its top.json is yosys' netlist after synth_ice40.
Every SB_DFF* cell is named by the register its Q output drives (RustHDL's `name$q` nets, with
array indices folded into [i]), and the counts are listed largest first. On the iCE40 a
flip-flop shares a logic cell only with the LUT that drives it, so registers loaded straight
from a block RAM, a DSP or another register (descriptor words, pipeline stages) each cost a
logic cell of their own: these counts, beside nextpnr's "LCs used as DFF only" in the build's
pack.log, show where such cells go (docs/fpga-fit.md).
"""
import argparse
import collections
import json
import os
import re


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    path = os.path.join(args.build_dir, "top.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: run `lutna build --out {args.build_dir}` first")
    netlist = json.load(open(path))
    module = netlist["modules"]["top"]
    name_of = {}
    for name, net in module["netnames"].items():
        if net.get("hide_name"):
            continue
        for bit in net["bits"]:
            if isinstance(bit, int):
                name_of.setdefault(bit, name)
    counts = collections.Counter()
    for cell in module["cells"].values():
        if not cell["type"].startswith("SB_DFF"):
            continue
        name = name_of.get(cell["connections"]["Q"][0], "(unnamed)")
        name = re.sub(r"\[\d+\]$", "", name)
        name = re.sub(r"\$\d+", "[i]", name)
        name = re.sub(r"\$[qd]$", "", name)
        counts[name] += 1
    print(f"flip-flops: {sum(counts.values())}")
    for name, n in counts.most_common(args.top):
        print(f"{n:6}  {name}")


if __name__ == "__main__":
    main()
