#!/usr/bin/env python3
"""Prints the paper-style comparison table of docs/paper-comparison.md from the
`lutna analyze` reports in analysis/<model>/report.json (one row per model).

    python3 tools/paper_table.py [analysis]
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "analysis"
order = ["vgg11", "vgg19", "resnet18", "resnet34", "googlenet", "icebreaker"]
reports = []
for d in sorted(os.listdir(root)):
    p = os.path.join(root, d, "report.json")
    if os.path.exists(p):
        with open(p) as f:
            reports.append(json.load(f))
reports.sort(key=lambda r: next((i for i, a in enumerate(order) if r["model"].startswith(a)), 99))

print("| model | LUT-NA vs T-LUT area / energy | LUT-NA vs array MAC area / energy | "
      "LUT-NA vs Wallace MAC area / energy | A-LUT-NA vs array MAC area / energy | "
      "mixed (search) vs T-LUT area / energy | mixed (search) vs array MAC area / energy | "
      "mixed loss vs exact (pp) | A-LUT-NA layers |")
print("|---|---|---|---|---|---|---|---|---|")
for r in reports:
    s, p = r["schemes"], r["plans"]["search"]
    a = lambda k: s[k]["area_transistors"]
    e = lambda k: s[k]["energy_pj"]
    pa = p["area_transistors_mac_weighted"]
    loss = 100 * (s["exact"]["top1"] - p["top1"])
    n = sum(1 for x in p["layers"] if x != "lutna")
    print(f"| {r['model']} | {a('tlut')/a('lutna'):.2f}x / {e('tlut')/e('lutna'):.2f}x "
          f"| {a('array')/a('lutna'):.2f}x / {e('array')/e('lutna'):.2f}x "
          f"| {a('wallace')/a('lutna'):.2f}x / {e('wallace')/e('lutna'):.2f}x "
          f"| {a('array')/a('alutna'):.2f}x / {e('array')/e('alutna'):.2f}x "
          f"| {a('tlut')/pa:.2f}x / {e('tlut')/p['energy_pj']:.2f}x "
          f"| {a('array')/pa:.2f}x / {e('array')/p['energy_pj']:.2f}x "
          f"| {loss:.2f} | {n} of {len(p['layers'])} |")
print("| paper (arXiv 2406.05282) | 29.54x / 3.34x | 1.23x / 1.80x (vs Wallace/array) | | "
      "2.64x / 4.38x | | 1.35-2.14x / 1.99-3.38x | ~1 | |")
