#!/bin/bash
# Two smf processes side by side against one alone, per OpenMP wait policy, policies alternating within each round
# (docs/pitfalls.md#openmp-contention). Run on a quiet machine.
#   scripts/contention-measure.sh PRESET STEPS "POLICIES" "POLICIES_ALSO_IN_PAIRS"
#   e.g. ROUNDS=2 scripts/contention-measure.sh demo 60 "SMF_OMP_SPIN=off SMF_OMP_SPIN=1000 OMP_WAIT_POLICY=PASSIVE" "SMF_OMP_SPIN=1000"
# SMF: the smf executable (default: the Release build); allocator fixed to glibc so that only the wait policy varies.
set -euo pipefail
SMF=${SMF:-src/SparseMemory.Cli/bin/Release/net10.0/linux-x64/smf}; ROUNDS=${ROUNDS:-3}; PRESET=$1; STEPS=$2
W=$(mktemp -d)
run() { env SMF_MALLOC=glibc $1 "$SMF" pretrain --preset "$PRESET" --set train.steps=$STEPS --set train.eval_every=$STEPS --set train.checkpoint_every=$STEPS --out "$W/$2" > "$W/$2.log" 2>&1; }
tps() { python3 -c "import json,sys;print(round([json.loads(l) for l in open(sys.argv[1])][-1]['tokens_per_s']))" "$W/$1/metrics.jsonl"; }
for r in $(seq 1 "$ROUNDS"); do
  for p in $3; do
    rm -rf "${W:?}"/*
    t1=$(date +%s.%N); run "$p" a; t2=$(date +%s.%N)
    line="round $r $p alone $(echo "$t2-$t1" | bc) s $(tps a) tok/s"
    if [[ " ${4:-} " == *" $p "* ]]; then
      t1=$(date +%s.%N); run "$p" b & run "$p" c & wait; t2=$(date +%s.%N)
      line="$line | pair $(echo "$t2-$t1" | bc) s $(tps b) $(tps c) tok/s"
    fi
    echo "$line"
  done
done
rm -rf "$W"
