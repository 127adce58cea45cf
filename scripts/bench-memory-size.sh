#!/usr/bin/env bash
# Step-time ratios against the memory size (docs/results.md, "Step time"): `smf bench` on the base architecture with
# N = 64, 128 (base) and 256 sub-keys per half (4,096 / 16,384 / 65,536 slots); per size the table is printed and the
# JSON object is kept in OUT_DIR/bench-nN.json. Usage: scripts/bench-memory-size.sh OUT_DIR [ROUNDS]
# Cost on 2 cores: about 3 minutes with 3 rounds. Run nothing else meanwhile: a concurrent job changes the ratios.
set -euo pipefail
out=${1:?output folder}; rounds=${2:-3}
smf() { dotnet "$(dirname "$0")/../src/SparseMemory.Cli/bin/Release/net10.0/linux-x64/smf.dll" "$@"; }
mkdir -p "$out"
for n in 64 128 256; do
  echo "== N = $n ($((n * n)) slots)"
  smf bench --preset base --rounds "$rounds" --set "model.memory.num_keys=$n" --json > "$out/bench-n$n.json.tmp" 2> "$out/bench-n$n.log"
  mv "$out/bench-n$n.json.tmp" "$out/bench-n$n.json"
  grep -o '"method":"[^"]*"\|"median_ms":[0-9.]*\|"median_ratio":[0-9.]*' "$out/bench-n$n.json" | paste - - - | sed 's/"//g'
done
