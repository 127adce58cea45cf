#!/usr/bin/env python3
"""smf against PyTorch eager, scenario by scenario, in alternating rounds (run.sh calls this).

Each round measures every PyTorch scenario of bench.py in this process and the same scenarios with smf (as
subprocesses), the two halves in alternating order (PyTorch first in odd rounds, smf first in even ones), so a slow
phase of the machine hits both. Per round it prints smf's time ÷ PyTorch's time for each scenario (below 1: smf is
faster); at the end the median of those within-round ratios and the medians of each side.

smf measurements, kept to what smf prints anyway:
  full, sparse, floor   `smf bench --preset P --json --rounds 1` (same batch, t, warm-up and timed steps): the rows
                        whose names contain "full", "sparse … sgd" and "floor"; a `scenarios` list of {name, median_ms}
                        is read the same way as the current `methods` list of {method, median_ms}
  pretrain              `smf pretrain --preset P` with a small corpus slice and W + S steps, no evaluation before the
                        end: ms per step from the `elapsed_s` of the metrics rows of steps W .. W+S
  generate              `smf generate --max-tokens G` minus `--max-tokens 1` on the same checkpoint and prompt (process
                        start and loading cancel; each the faster of two runs), divided by the forward passes between them; the number of tokens smf
                        generates (it stops at <|endoftext|>) is known from the PyTorch run, whose greedy tokens are
                        the same (check_logits.py)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Bench, add_bench_args, environment, preset, summarize  # noqa: E402
from model import ModelConfig, read_safetensors  # noqa: E402

PROMPT = "The king of France"
SMALL_DATA = ["--set", "data.max_chars=300000", "--set", "data.tokenizer_train_chars=300000",
              "--set", "data.known_facts=null"]


def run(args: List[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p


def smf_pretrain_args(a, out: str, steps: int) -> List[str]:
    return [a.smf, "pretrain", "--preset", a.preset, *SMALL_DATA, "--set", f"train.steps={steps}",
            "--set", f"train.eval_every={steps}", "--set", "train.eval_batches=1", "--set", f"train.checkpoint_every={steps}",
            "--set", "train.log_every=1", "--set", f"threads={a.threads}", "--set", f"seed={a.seed}", "--out", out]


def classify(name: str) -> Optional[str]:
    """Our scenario name of an smf bench row, or None (LoRA, memory_all, the AdamW row variant, …)."""
    n = name.lower()
    if "floor" in n:
        return "floor"
    if n.startswith("full"):
        return "full"
    if n.startswith("sparse") and "adam" not in n:
        return "sparse"
    if "pretrain" in n:
        return "pretrain"
    return None


class Smf:
    def __init__(self, a, work: str, gen_model: str, gen_forwards: int):
        self.a, self.work, self.gen_model, self.gen_forwards = a, work, gen_model, gen_forwards

    def bench(self) -> Dict[str, Dict[str, float]]:
        a = self.a
        p = run([a.smf, "bench", "--preset", a.preset, "--json", "--rounds", "1", "--batch-size", str(a.batch_size),
                 "--seq-len", str(a.seq_len), "--top-t", str(a.top_t), "--warmup", str(a.warmup), "--steps", str(a.steps),
                 "--set", f"threads={a.threads}", "--set", f"seed={a.seed}"])
        doc = json.loads(p.stdout)
        rows = doc.get("scenarios") or doc.get("methods") or []
        out = {}
        for r in rows:
            kind = classify(r.get("name") or r.get("method") or "")
            if kind and kind not in out and "median_ms" in r:
                out[kind] = {"ms": r["median_ms"], "tokens_per_s": a.batch_size * a.seq_len / (r["median_ms"] / 1000.0),
                             "smf_name": r.get("name") or r.get("method")}
        return out

    def pretrain(self, rnd: int) -> Dict[str, float]:
        a = self.a
        w, s = a.pretrain_warmup, a.pretrain_steps
        out = os.path.join(self.work, f"smf-pretrain-{rnd}")
        shutil.rmtree(out, ignore_errors=True)
        run(smf_pretrain_args(a, out, w + s))
        rows = {}
        with open(os.path.join(out, "metrics.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if "elapsed_s" in r:
                    rows[r["step"]] = r
        ms = (rows[w + s]["elapsed_s"] - rows[w]["elapsed_s"]) * 1000.0 / s
        tokens = (rows[w + s]["tokens"] - rows[w]["tokens"]) / s
        shutil.rmtree(out, ignore_errors=True)
        return {"ms": ms, "tokens_per_s": tokens / (ms / 1000.0)}

    def generate(self) -> Dict[str, float]:
        a = self.a

        def wall(n: int) -> float:           # the faster of two runs: process start varies by ~0.1 s
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                run([a.smf, "generate", "--model", self.gen_model, "--prompt", PROMPT, "--max-tokens", str(n)])
                best = min(best, time.perf_counter() - t0)
            return best

        t1 = wall(1)
        tn = wall(a.gen_tokens)
        per = (tn - t1) / max(1, self.gen_forwards - 1)
        return {"ms": per * 1000.0, "tokens_per_s": 1.0 / per, "generated": self.gen_forwards}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(ap)
    ap.add_argument("--smf", required=True, help="path of the smf binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="folder for the generation checkpoint and the JSON results (default bench/pytorch/out)")
    a = ap.parse_args()
    if a.model:
        ap.error("compare.py times fresh models of --preset; use bench.py --model for a checkpoint")
    torch.set_num_threads(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)       # smf generate takes its thread count from libtorch's default
    os.makedirs(a.work, exist_ok=True)

    env = environment(a.threads)
    print(f"PyTorch {env['torch']} (python {env['python']}), BLAS_INFO={env['blas_info']}, "
          f"sgemm 512x512: {env['sgemm_512_gflops']} GFLOP/s, {env['threads']} threads; BLAS libraries loaded:")
    for lib in env["libraries"]:
        print(f"  {lib}")
    if env["sgemm_512_gflops"] < 10:
        print("WARNING: float32 GEMM below 10 GFLOP/s: torch is probably calling the reference BLAS (install "
              "libopenblas0-openmp, or: update-alternatives --config libblas.so.3-x86_64-linux-gnu)")
    try:
        smf_version = run([a.smf, "--version"]).stdout.strip()
        smf_version += " " + run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always",
                                  "--dirty"]).stdout.strip()
    except (RuntimeError, OSError):
        smf_version = "?"

    # The generation checkpoint: the preset's architecture after 2 pretraining steps; both sides generate from it.
    gen_model = os.path.join(a.work, "gen-model")
    if not os.path.exists(os.path.join(gen_model, "summary.json")):
        shutil.rmtree(gen_model, ignore_errors=True)
        print(f"building the generation checkpoint {gen_model} (smf pretrain, 2 steps) …")
        run(smf_pretrain_args(a, gen_model, 2))
    ids_file = os.path.join(a.work, "prompt.safetensors")
    run([a.smf, "logits", "--model", gen_model, "--text", PROMPT, "--out", ids_file])
    prompt_ids = read_safetensors(ids_file)[0]["tokens.0"].tolist()

    p = preset(a.preset)
    cfg = ModelConfig.from_dict(p.get("model", {}))
    bench = Bench(cfg, p.get("train", {}), seed=a.seed, batch_size=a.batch_size, seq_len=a.seq_len, top_t=a.top_t,
                  warmup=a.warmup, steps=a.steps, pretrain_warmup=a.pretrain_warmup, pretrain_steps=a.pretrain_steps,
                  gen_tokens=a.gen_tokens, prompt=prompt_ids, checkpoint=gen_model, eos_id=256)
    names = ["pretrain", "full", "sparse", "floor", "generate", "generate_kv"]
    if cfg.memory is None:
        names = [n for n in names if n not in ("sparse", "floor")]
    # Forward passes of one smf generation (tokens + the <|endoftext|> that stops it, if any), from PyTorch's run.
    g = bench.run("generate")
    forwards = g["generated"] + (1 if g["generated"] < a.gen_tokens else 0)
    print(f"generation: prompt {PROMPT!r} = {len(prompt_ids)} tokens, {g['generated']} tokens generated "
          f"({forwards} forward passes)")
    smf = Smf(a, a.work, gen_model, forwards)

    torch_rounds: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    smf_rounds: Dict[str, List[Dict[str, float]]] = {n: [] for n in names if n != "generate_kv"}
    ratios: Dict[str, List[float]] = {n: [] for n in smf_rounds}

    def torch_half(r: int) -> None:
        for n in names:
            torch_rounds[n].append(bench.run(n))

    def smf_half(r: int) -> None:
        res = smf.bench()
        res["pretrain"] = smf.pretrain(r)
        res["generate"] = smf.generate()
        for n in smf_rounds:
            if n not in res:
                raise RuntimeError(f"smf gave no measurement for {n} (its bench rows: {list(res)})")
            smf_rounds[n].append(res[n])

    print(f"\n{a.rounds} rounds; ratio = smf time ÷ PyTorch time within the round (< 1: smf faster)")
    hdr = f"{'round':<6} {'scenario':<12} {'smf ms':>9} {'torch ms':>9} {'ratio':>6} {'smf tok/s':>10} {'torch tok/s':>11}"
    for r in range(a.rounds):
        order = [torch_half, smf_half] if r % 2 == 0 else [smf_half, torch_half]
        for half in order:
            half(r)
        print(hdr)
        for n in names:
            t = torch_rounds[n][-1]
            if n in smf_rounds:
                s = smf_rounds[n][-1]
                ratios[n].append(s["ms"] / t["ms"])
                print(f"{r + 1:<6} {n:<12} {s['ms']:>9.1f} {t['ms']:>9.1f} {ratios[n][-1]:>6.2f} "
                      f"{s['tokens_per_s']:>10.0f} {t['tokens_per_s']:>11.0f}")
            else:
                print(f"{r + 1:<6} {n:<12} {'-':>9} {t['ms']:>9.1f} {'-':>6} {'-':>10} {t['tokens_per_s']:>11.0f}")
        sys.stdout.flush()

    ts, ss = summarize(torch_rounds), summarize(smf_rounds)
    ssd = {s["name"]: s for s in ss}
    print(f"\nmedians over {a.rounds} rounds (ms per step; per token for generate)")
    print(f"{'scenario':<12} {'smf ms':>9} {'torch ms':>9} {'ratio':>6} {'smf tok/s':>10} {'torch tok/s':>11}")
    for t in ts:
        n = t["name"]
        if n in ssd:
            s = ssd[n]
            print(f"{n:<12} {s['median_ms']:>9.1f} {t['median_ms']:>9.1f} {statistics.median(ratios[n]):>6.2f} "
                  f"{s['median_tokens_per_s']:>10.0f} {t['median_tokens_per_s']:>11.0f}")
        else:
            print(f"{n:<12} {'-':>9} {t['median_ms']:>9.1f} {'-':>6} {'-':>10} {t['median_tokens_per_s']:>11.0f}")
    result = {"environment": env, "smf": smf_version, "preset": a.preset, "rounds": a.rounds,
              "batch_size": a.batch_size, "seq_len": a.seq_len, "top_t": a.top_t,
              "pretrain_batch": [bench.train["batch_size"], bench.train["seq_len"]],
              "gen_tokens": a.gen_tokens, "gen_forwards": forwards,
              "ratio_smf_over_torch": {n: {"per_round": v, "median": statistics.median(v)} for n, v in ratios.items()},
              "torch": {"scenarios": ts}, "smf_measured": {"scenarios": ss}}
    path = os.path.join(a.work, "compare.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n→ {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
