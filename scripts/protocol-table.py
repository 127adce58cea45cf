#!/usr/bin/env python3
"""Markdown table of finished finetuning runs (one row per label, mean over seeds with range) from their metrics.jsonl:
the probes' first row (step 0) is "before", the last probe row is "after". Used for the protocol tables in docs/results.md.

usage: scripts/protocol-table.py RUNS_DIR [RUNS_DIR ...]   (folders holding runs/<label>_s<seed>[_<model>]/metrics.jsonl)
"""
import glob, json, os, re, sys
from collections import defaultdict

KEYS = ["target-f1/f1", "target-f1/exact_match", "target-f1/partial", "target-f1/answer_nll", "known-facts-f1/f1",
        "heldout-nll/nll_per_token", "blimp/accuracy"]

def probe_rows(path):
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if "target-f1/f1" in r]

runs = defaultdict(list)
for root in sys.argv[1:]:
    for d in sorted(glob.glob(os.path.join(root, "runs", "*"))):
        m = re.match(r"(.*)_s(\d+)(_[A-Za-z0-9-]+)?$", os.path.basename(d))   # a run on a named model ends in _NAME
        f = os.path.join(d, "metrics.jsonl")
        if not m or not os.path.exists(os.path.join(d, "summary.json")):
            continue
        rows = probe_rows(f)
        if len(rows) < 2:
            continue
        runs[m.group(1) + (m.group(3) or "")].append((int(m.group(2)), rows[0], rows[-1]))

def stat(values, fmt):
    mean = sum(values) / len(values)
    s = fmt.format(mean)
    return s if len(values) == 1 else f"{s} ({fmt.format(min(values))}–{fmt.format(max(values))})"

print("| run | seeds | target F1 | EM | partly right | answer NLL | known-facts drop | held-out NLL | BLiMP |")
print("|---|---|---|---|---|---|---|---|---|")
for label, rs in runs.items():
    b = lambda k: [r[1].get(k, float("nan")) for r in rs]
    a = lambda k: [r[2].get(k, float("nan")) for r in rs]
    drop = [100 * (x - y) / x for x, y in zip(b("known-facts-f1/f1"), a("known-facts-f1/f1"))]
    held = [100 * (y - x) / x for x, y in zip(b("heldout-nll/nll_per_token"), a("heldout-nll/nll_per_token"))]
    bl = a("blimp/accuracy")
    print(f"| {label} | {','.join(str(r[0]) for r in rs)} | {stat(b('target-f1/f1'), '{:.2f}')} → **{stat(a('target-f1/f1'), '{:.2f}')}** "
          f"| {stat(a('target-f1/exact_match'), '{:.2f}')} | {stat(a('target-f1/partial'), '{:.2f}')} "
          f"| {stat(b('target-f1/answer_nll'), '{:.2f}')} → {stat(a('target-f1/answer_nll'), '{:.2f}')} "
          f"| {stat(drop, '{:.1f}')}% | +{stat(held, '{:.1f}')}% "
          f"| {(stat(b('blimp/accuracy'), '{:.3f}') + ' → ' + stat(bl, '{:.3f}')) if all(v == v for v in bl) else '–'} |")
