#!/bin/bash
# RSS and speed of pretraining per allocator policy (docs/pitfalls.md#glibc-malloc-rss-growth): one process per policy,
# policies in turn within each round, RSS from the rss_mb field the trainer logs every 50 steps. Quiet machine only.
#   scripts/alloc-measure.sh STEPS "POLICIES"        policies: glibc trim mmap jemalloc mimalloc
#   e.g. PRESET=base EXTRA=" " scripts/alloc-measure.sh 1000 "glibc mimalloc"   (EXTRA=" " keeps the preset's evals and checkpoints)
set -euo pipefail
SMF=${SMF:-src/SparseMemory.Cli/bin/Release/net10.0/linux-x64/smf}; ROUNDS=${ROUNDS:-1}; STEPS=$1; PRESET=${PRESET:-demo}
OUT=${OUT:-$(mktemp -d)}
for r in $(seq 1 "$ROUNDS"); do for p in $2; do
  d=$OUT/$p-r$r; rm -rf "$d"
  t1=$(date +%s.%N)
  SMF_MALLOC=$p "$SMF" pretrain --preset "$PRESET" --set train.steps=$STEPS --set train.log_every=50 \
    ${EXTRA:---set train.eval_every=$STEPS --set train.checkpoint_every=$STEPS} --out "$d" > "$d.log" 2>&1
  t2=$(date +%s.%N)
  python3 - "$d" "$p" "$r" "$(echo "$t2-$t1" | bc)" <<'PY'
import json, sys
d, p, r, w = sys.argv[1:]
rows = [json.loads(l) for l in open(d + '/metrics.jsonl') if 'rss_mb' in l]
rss = [x['rss_mb'] for x in rows]
mean = sum(rss) / len(rss)
print(f"round {r} {p:9s} wall {float(w):.1f} s  {rows[-1]['tokens_per_s']:.0f} tok/s  RSS MB min {min(rss):.0f} mean {mean:.0f} max {max(rss):.0f}"
      f" (max/mean {max(rss)/mean:.2f}, first {rss[0]:.0f}, last {rss[-1]:.0f})  series {' '.join(str(round(x)) for x in rss)}")
PY
done; done
