#!/usr/bin/env bash
# Learning-rate sweep behind the finetuning defaults (docs/results.md, "Finetuning defaults"): each method learns the first
# N new facts (one step per fact) from a base checkpoint; target-f1 (those facts) and known-facts-f1 (knowledge from
# pretraining) are probed before and after. Usage: scripts/lr-sweep.sh BASE_DIR OUT_ROOT [N]
# Cost on 2 cores with the base preset: about 10 minutes. Needs BASE_DIR/background.safetensors (smf background).
set -euo pipefail
base=${1:?base checkpoint folder}; out=${2:?output folder}; n=${3:-100}
smf() { dotnet "$(dirname "$0")/../src/SparseMemory.Cli/bin/Release/net10.0/linux-x64/smf.dll" "$@"; }
common=(--model "$base" --steps "$n" --set "data.limit=$n" --set probe_limit=200 --set checkpoint_every=100000)
mkdir -p "$out"
for t in 32 128 512; do
  for lr in 5 20 50 100; do
    [ -f "$out/sparse-t$t-lr$lr/summary.json" ] || smf finetune "${common[@]}" --method sparse --top-t "$t" --lr "$lr" --out "$out/sparse-t$t-lr$lr"
  done
done
for lr in 1e-5 3e-5 1e-4 3e-4; do
  [ -f "$out/full-lr$lr/summary.json" ] || smf finetune "${common[@]}" --method full --lr "$lr" --out "$out/full-lr$lr"
done
for lr in 1e-4 1e-3 3e-3; do
  [ -f "$out/lora-lr$lr/summary.json" ] || smf finetune "${common[@]}" --method lora --lr "$lr" --out "$out/lora-lr$lr"
done
python3 - "$out" <<'PY'
import json, os, sys
root = sys.argv[1]
print(f"{'run':<22} {'target F1':>18} {'known F1':>18} {'known drop':>10}")
for name in sorted(os.listdir(root)):
    m = os.path.join(root, name, "metrics.jsonl")
    if not os.path.exists(m): continue
    rows = [json.loads(l) for l in open(m)]
    first = rows[0]; last = [r for r in rows if "target-f1/f1" in r][-1]
    t0, t1 = first["target-f1/f1"], last["target-f1/f1"]
    k0, k1 = first["known-facts-f1/f1"], last["known-facts-f1/f1"]
    drop = (k0 - k1) / k0 * 100 if k0 > 0 else float("nan")
    print(f"{name:<22} {t0:>8.3f} → {t1:>6.3f} {k0:>8.3f} → {k1:>6.3f} {drop:>9.1f}%")
PY
