#!/usr/bin/env python3
"""Where the accelerator's logic goes, before technology mapping.

Usage: tools/logic_profile.py BUILD_DIR [--module top$engine] [--top 40]

BUILD_DIR is a `lutna build --out` folder (its top.v, the Verilog yosys synthesized). The script
runs yosys' coarse synthesis without flattening (so every RustHDL block stays a module of its
own), then counts, per module and per Verilog line or register of one module, the bits of the
cells that become LUT4s on the iCE40: multiplexers ($mux width, $pmux width x cases), adders and
comparators ($alu output width, $eq/$ne/$lt half the operand width). These are not LUT4 counts
(ABC packs several into one LUT4 and folds constants) but they rank the places to narrow or
restructure, and they add up to about the yosys LUT4 total.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile


def width(cell, param):
    v = cell["parameters"].get(param, "0")
    return int(v, 2) if set(v) <= set("01") else int(v)


def cell_bits(cell):
    t = cell["type"]
    if t == "$mux":
        return width(cell, "WIDTH")
    if t == "$pmux":
        return width(cell, "WIDTH") * width(cell, "S_WIDTH")
    if t == "$alu":
        return width(cell, "Y_WIDTH")
    if t in ("$eq", "$ne", "$lt", "$le", "$gt", "$ge"):
        return max(width(cell, "A_WIDTH"), width(cell, "B_WIDTH")) // 2
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--module", default="top$engine", help="module to break down by line")
    ap.add_argument("--top", type=int, default=40, help="lines / registers to list")
    a = ap.parse_args()
    verilog = os.path.join(a.build_dir, "top.v")
    if not os.path.exists(verilog):
        sys.exit(f"error: {verilog} not found: pass the --out folder of a `lutna build`")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "coarse.json")
        script = (
            # The iCE40 primitives (SB_SPRAM256KA, SB_MAC16) as black boxes.
            f"read_verilog -lib +/ice40/cells_sim.v; read_verilog {verilog}; hierarchy -top lutna_design; "
            f"synth -top lutna_design -run :fine; opt -full; write_json {out}"
        )
        r = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"error: yosys failed:\n{r.stderr[-2000:]}")
        design = json.load(open(out))
    lines = open(verilog).read().split("\n")

    per_module = collections.Counter()
    per_line = collections.Counter()
    per_reg = collections.Counter()
    for mname, m in design["modules"].items():
        names = {}
        for n, net in m["netnames"].items():
            for b in net["bits"]:
                if isinstance(b, int) and (b not in names or names[b].startswith("$")):
                    names[b] = n
        for c in m["cells"].values():
            bits = cell_bits(c)
            if not bits:
                continue
            per_module[mname] += bits
            if mname != a.module:
                continue
            src = c["attributes"].get("src", "")
            line = src.split("|")[0].rsplit(":", 1)[-1].split(".")[0] if src else ""
            if line.isdigit() and line != "0":
                per_line[int(line)] += bits
            else:
                # No source line (case statements): name the register the cell drives.
                per_reg[names.get(c["connections"]["Y"][0], "?").split("[")[0]] += bits

    total = sum(per_module.values())
    print(f"logic bits (mux, adder, comparator) before mapping: {total}")
    print("\nper module (the lanes' blocks summed by kind):")
    kinds = collections.Counter()
    for mname, bits in per_module.items():
        kinds[mname.split("$0$")[0].split("$1$")[0] if "$lanes$" not in mname else
              "top$engine$lanes$*$" + mname.rsplit("$", 1)[-1]] += bits
    for k, v in kinds.most_common(15):
        print(f"{v:8d}  {k}")
    print(f"\n{a.module}, by Verilog line of {verilog}:")
    for ln, v in per_line.most_common(a.top):
        print(f"{v:8d}  L{ln:<6} {lines[ln - 1].strip()[:100]}")
    print(f"\n{a.module}, case-statement multiplexers by the register they drive:")
    for reg, v in per_reg.most_common(a.top // 2):
        print(f"{v:8d}  {reg}")


if __name__ == "__main__":
    main()
