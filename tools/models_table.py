#!/usr/bin/env python3
"""Prints the models/README.md table row of each committed model, from lutna's own JSON.

    python3 tools/models_table.py [DATA_DIR [MODEL_STEM...]]   (default ../shared/cifar10, all)

Every figure comes from `lutna info --json`, `lutna eval --json` (test split, all 10,000 images)
and `lutna eval --onnx` (the float model run by tract), run here and now.
"""

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# $LUTNA names a lutna binary to use instead of building target/release/lutna here.
LUTNA = os.environ.get("LUTNA") or os.path.join(ROOT, "target", "release", "lutna")


def lutna(*args):
    out = subprocess.run([LUTNA, *args, "--json"], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/cifar10"
    if not os.environ.get("LUTNA"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "lutna-host"], check=True,
                       cwd=ROOT)
    print("| model | arch | width | params | nonzero | dense MACs | pruned MACs | MAC reduction "
          "| float | exact | lutna | alutna | alutna-c |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(ROOT, "models", "*.lutna"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        if len(sys.argv) > 2 and stem not in sys.argv[2:]:
            continue
        rel = os.path.relpath(path, ROOT)
        arch, _, width = stem.partition("-w")
        info = lutna("info", "--model", rel)
        top = {s: lutna("eval", "--model", rel, "--data", data, "--scheme", s)["top1"]
               for s in ["exact", "lutna", "alutna", "alutna-c"]}
        flt = lutna("eval", "--onnx", rel[:-len(".lutna")] + ".onnx", "--data", data)["top1"]
        red = 1 - info["macs_pruned"] / info["macs_dense"]
        print(f"| `{stem}` | {arch} | {width} | {info['params']:,} | {info['nonzero']:,} "
              f"| {info['macs_dense']:,} | {info['macs_pruned']:,} | {100 * red:.1f} % "
              f"| {100 * flt:.2f} | {100 * top['exact']:.2f} | {100 * top['lutna']:.2f} "
              f"| {100 * top['alutna']:.2f} | {100 * top['alutna-c']:.2f} |")


if __name__ == "__main__":
    main()
