#!/usr/bin/env python3
"""The scenarios of `smf bench` (and pretraining and generation) in PyTorch eager, on the model of model.py.

    python3 bench.py --preset base --rounds 3 --out torch.json      # fresh model of a preset, random tokens
    python3 bench.py --model runs/base --scenarios generate           # a checkpoint

Scenarios (each timed as smf times it; ms per step is the mean over the timed steps of one round, medians over rounds):

  pretrain     one pretraining step: batch train.batch_size x train.seq_len of the preset (base: 32 x 128), AdamW with
               the memory values in their own group at value_lr (clipped separately), matrices with weight decay, 1-D
               parameters without, betas (0.9, 0.95), warmup + cosine lr, gradient clip 1; reported as tokens/s too
  full         full finetuning step as smf finetune --method full builds it: batch 16 x 32, AdamW lr 1e-4, weight
               decay 0.1, betas (0.9, 0.999), clip 1
  sparse       sparse memory finetuning step (t = 512, TF-IDF against statistics of 20 other random batches, SGD lr
               100): values read outside autograd, backward to the reads, slot counts, top-t, the t row gradients
               formed from the reads (index_add), row update -- the algorithm of docs/method.md#sparse-update
  floor        forward + backward down to the memory reads, nothing ranked or updated (smf bench's floor row)
  generate     greedy generation of --gen-tokens tokens (200), batch 1, no KV cache: every token reruns the model
               on the whole sequence, as smf's TextGenerator does; tokens/s
  generate_kv  the same tokens with a KV cache (model.generate(use_cache=True)), for reference

Batches are random token ids in [0, V-2), as smf bench's; a fresh model is built (seeded) for every round.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import LanguageModel, ModelConfig, generate, load_run, read_json_with_comments  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ALL_SCENARIOS = ["pretrain", "full", "sparse", "floor", "generate", "generate_kv"]

# Train-section defaults of src/SparseMemory/Config/TrainConfig.cs (a preset overrides some of them).
TRAIN_DEFAULTS = dict(steps=1000, batch_size=32, seq_len=128, lr=2e-3, value_lr=1e-3, weight_decay=0.0,
                      value_weight_decay=0.0, beta1=0.9, beta2=0.95, eps=1e-8, warmup_steps=100, min_lr_ratio=0.1,
                      grad_clip=1.0)


def preset(name_or_path: str) -> dict:
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(REPO, "presets", name_or_path + ".json")
    return read_json_with_comments(path)


# --------------------------------------------------------------------------------------------------------- environment


def blas_info() -> Dict[str, object]:
    """Which BLAS this torch really calls: its build setting, the BLAS libraries mapped into the process (Debian's
    torch is built against the generic libblas.so.3, which the alternatives system points at the reference BLAS or at
    OpenBLAS), and a measured float32 GEMM rate (the reference BLAS gives ~1-3 GFLOP/s, OpenBLAS tens)."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if re.search(r"blas|lapack|mkl|gomp|omp", os.path.basename(p), re.I):
                    libs.add(f"{p} -> {os.path.realpath(p)}" if os.path.islink(p) else p)
    except OSError:
        pass
    n = 512
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    gflops = 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9
    return {"blas_info": m.group(1) if m else "?", "libraries": sorted(libs), "sgemm_512_gflops": round(gflops, 2),
            "threads": torch.get_num_threads(), "parallel": torch.__config__.parallel_info().splitlines()[:4]}


# --------------------------------------------------------------------------------------------------------- helpers


def random_batch(g: torch.Generator, vocab: int, b: int, t: int):
    x = torch.randint(0, vocab - 2, (b, t + 1), generator=g)
    return x[:, :t], x[:, 1:]


def fresh_model(cfg: ModelConfig, seed: int) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(cfg).train()


def param_groups(model: LanguageModel, lr: float, wd: float, value_lr: float, value_wd: float) -> List[dict]:
    """FullTraining.cs: values (own lr, clipped separately), matrices with decay, 1-D parameters without."""
    values = model.memory_values.weight if model.memory_values is not None else None
    rest = [p for p in model.parameters() if p is not values]
    groups = []
    if values is not None:
        groups.append({"params": [values], "lr": value_lr, "weight_decay": value_wd, "clip_alone": True})
    groups.append({"params": [p for p in rest if p.dim() >= 2], "lr": lr, "weight_decay": wd, "clip_alone": False})
    groups.append({"params": [p for p in rest if p.dim() < 2], "lr": lr, "weight_decay": 0.0, "clip_alone": False})
    return [g for g in groups if g["params"]]


def clip(groups: List[dict], max_norm: float) -> float:
    """Trainer.Clip: separately clipped groups alone, the rest together; returns the total pre-clip norm."""
    sets = [g["params"] for g in groups if g["clip_alone"]]
    sets.append([p for g in groups if not g["clip_alone"] for p in g["params"]])
    total = 0.0
    for s in sets:
        s = [p for p in s if p.grad is not None]
        if not s:
            continue
        if max_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(s, max_norm))
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in s])))
        total += norm * norm
    return math.sqrt(total)


def lr_factor(step: int, steps: int, warmup: int, min_ratio: float) -> float:
    """Linear warmup then cosine decay to min_ratio (LrScheduleMath.WarmupCosine)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def timed(step: Callable[[int], None], warmup: int, steps: int) -> float:
    """ms per step over `steps` timed steps after `warmup` untimed ones."""
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return (time.perf_counter() - t0) * 1000.0 / steps


# --------------------------------------------------------------------------------------------------------- scenarios


class Bench:
    """One PyTorch measurement of each scenario per `run_round` call."""

    def __init__(self, cfg: ModelConfig, train: dict, seed: int = 1, batch_size: int = 16, seq_len: int = 32,
                 top_t: int = 512, warmup: int = 5, steps: int = 20, pretrain_warmup: int = 2, pretrain_steps: int = 8,
                 gen_tokens: int = 200, prompt: Optional[List[int]] = None, checkpoint: Optional[str] = None,
                 eos_id: Optional[int] = None):
        self.cfg, self.train, self.seed = cfg, {**TRAIN_DEFAULTS, **train}, seed
        self.b, self.t, self.top_t = batch_size, seq_len, top_t
        self.warmup, self.steps = warmup, steps
        self.pretrain_warmup, self.pretrain_steps = pretrain_warmup, pretrain_steps
        self.gen_tokens, self.checkpoint, self.eos_id = gen_tokens, checkpoint, eos_id
        g = torch.Generator().manual_seed(seed + 7)
        self.prompt = prompt if prompt else torch.randint(0, cfg.vocab_size - 2, (8,), generator=g).tolist()
        self.last_generated: Dict[str, int] = {}

    # -- training steps

    def _batches(self, b: int, t: int, offset: int = 0):
        cache: Dict[int, tuple] = {}

        def get(step: int):
            if step not in cache:
                cache.clear()
                cache[step] = random_batch(torch.Generator().manual_seed(self.seed * 1_000_003 + offset + step),
                                           self.cfg.vocab_size, b, t)
            return cache[step]
        return get

    def pretrain(self) -> Dict[str, float]:
        tr = self.train
        model = fresh_model(self.cfg, self.seed)
        groups = param_groups(model, tr["lr"], tr["weight_decay"], tr["value_lr"], tr["value_weight_decay"])
        opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "clip_alone"} for g in groups],
                                betas=(tr["beta1"], tr["beta2"]), eps=tr["eps"])
        base_lrs = [g["lr"] for g in groups]
        batch = self._batches(tr["batch_size"], tr["seq_len"])
        total = self.pretrain_warmup + self.pretrain_steps

        def step(i: int) -> None:
            model.train()
            f = lr_factor(i, total, min(tr["warmup_steps"], total), tr["min_lr_ratio"])
            for pg, g, lr in zip(opt.param_groups, groups, base_lrs):
                pg["lr"] = lr if g["clip_alone"] else lr * f          # values keep their fixed lr
            x, y = batch(i)
            loss = LanguageModel.loss(model(x), y)
            loss.backward()
            clip(groups, tr["grad_clip"])
            loss.item()
            opt.step()
            opt.zero_grad()

        ms = timed(step, self.pretrain_warmup, self.pretrain_steps)
        return {"ms": ms, "tokens_per_s": tr["batch_size"] * tr["seq_len"] / (ms / 1000.0)}

    def full(self) -> Dict[str, float]:
        model = fresh_model(self.cfg, self.seed)
        groups = param_groups(model, 1e-4, 0.1, 1e-4, 0.1)
        opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "clip_alone"} for g in groups],
                                betas=(0.9, 0.999), eps=1e-8)
        batch = self._batches(self.b, self.t)

        def step(i: int) -> None:
            model.train()
            x, y = batch(i)
            loss = LanguageModel.loss(model(x), y)
            loss.backward()
            clip(groups, 1.0)
            loss.item()
            opt.step()
            opt.zero_grad()

        ms = timed(step, self.warmup, self.steps)
        return {"ms": ms, "tokens_per_s": self.b * self.t / (ms / 1000.0)}

    def _idf(self, model: LanguageModel) -> torch.Tensor:
        """ln((|B|+1)/(df+1)) from 20 random batches the timed steps do not use (smf bench does the same)."""
        s = self.cfg.memory.slots
        df = torch.zeros(s, dtype=torch.int64)
        batch = self._batches(self.b, self.t, offset=1000)
        model.eval()
        for m in model.memory_layers:
            m.capture_reads = True
        with torch.no_grad():
            for i in range(20):
                model(batch(i)[0])
                ids = torch.cat([m.last_read["ids"].reshape(-1) for m in model.memory_layers])
                df += (torch.bincount(ids, minlength=s) > 0).long()
        return torch.log(torch.tensor(21.0, dtype=torch.float64) / (df.double() + 1))

    def _sparse_like(self, update: bool) -> Dict[str, float]:
        model = fresh_model(self.cfg, self.seed)
        idf = self._idf(model) if update else None
        for p in model.parameters():
            p.requires_grad_(False)
        for m in model.memory_layers:
            m.capture_reads = True
        values = model.memory_values.weight
        s = values.shape[0]
        batch = self._batches(self.b, self.t)
        lr = 100.0

        def step(i: int) -> None:
            model.train()
            x, y = batch(i)
            loss = LanguageModel.loss(model(x), y)
            loss.backward()
            if update:
                reads = [m.last_read for m in model.memory_layers]
                counts = torch.bincount(torch.cat([r["ids"].reshape(-1) for r in reads]), minlength=s)
                cand = counts.nonzero().squeeze(1)                                   # read slots, ascending id
                c = counts[cand].double()
                score = c / c.sum() * idf[cand]
                order = torch.sort(-score, stable=True).indices[: self.top_t]       # score desc, id asc
                sel = cand[order]
                pos = torch.full((s,), -1, dtype=torch.int64)
                pos[sel] = torch.arange(sel.numel())
                grad = torch.zeros(sel.numel(), values.shape[1])
                for r in reads:
                    ids, w, gy = r["ids"], r["weights"], r["read"].grad              # (BT, HK), (BT, HK), (BT, Dv)
                    p = pos[ids.reshape(-1)]
                    hit = p >= 0
                    token = torch.arange(ids.shape[0]).repeat_interleave(ids.shape[1])[hit]
                    grad.index_add_(0, p[hit], w.reshape(-1)[hit, None] * gy[token])
                grad.norm().item()                                                   # the step's grad_norm metric
                with torch.no_grad():
                    values.index_add_(0, sel, grad, alpha=-lr)                       # plain SGD on the t rows
            loss.item()

        ms = timed(step, self.warmup, self.steps)
        return {"ms": ms, "tokens_per_s": self.b * self.t / (ms / 1000.0)}

    def sparse(self) -> Dict[str, float]:
        return self._sparse_like(update=True)

    def floor(self) -> Dict[str, float]:
        return self._sparse_like(update=False)

    # -- generation

    def _gen_model(self) -> LanguageModel:
        if self.checkpoint:
            return load_run(self.checkpoint)[0]
        return fresh_model(self.cfg, self.seed).eval()

    def _generate(self, use_cache: bool) -> Dict[str, float]:
        model = self._gen_model()
        generate(model, self.prompt, 5, eos_id=None, use_cache=use_cache)           # warm-up
        t0 = time.perf_counter()
        out = generate(model, self.prompt, self.gen_tokens, eos_id=self.eos_id, use_cache=use_cache)
        sec = time.perf_counter() - t0
        n = max(1, len(out) + (1 if self.eos_id is not None and len(out) < self.gen_tokens else 0))   # EOS is computed too
        self.last_generated["generate_kv" if use_cache else "generate"] = len(out)
        return {"ms": sec * 1000.0 / n, "tokens_per_s": n / sec, "generated": len(out)}

    def generate(self) -> Dict[str, float]:
        return self._generate(False)

    def generate_kv(self) -> Dict[str, float]:
        return self._generate(True)

    def run(self, name: str) -> Dict[str, float]:
        if name in ("sparse", "floor") and self.cfg.memory is None:
            raise ValueError(f"scenario {name} needs a memory layer")
        return getattr(self, name)()


def summarize(per_round: Dict[str, List[Dict[str, float]]]) -> List[dict]:
    out = []
    for name, rounds in per_round.items():
        ms = [r["ms"] for r in rounds]
        tps = [r["tokens_per_s"] for r in rounds]
        out.append({"name": name, "median_ms": statistics.median(ms), "ms": ms,
                    "median_tokens_per_s": statistics.median(tps), "tokens_per_s": tps,
                    **({"generated": rounds[-1]["generated"]} if "generated" in rounds[-1] else {})})
    return out


def environment(threads: int) -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "threads": threads, **blas_info()}


def bench_from_args(a) -> Bench:
    if a.model:
        cfg = load_run(a.model)[0].config
        train = read_json_with_comments(os.path.join(a.model, "config.json")).get("train", {})
    else:
        p = preset(a.preset)
        cfg = ModelConfig.from_dict(p.get("model", {}))
        train = p.get("train", {})
    prompt = [int(x) for x in re.split(r"[,\s]+", a.prompt_ids.strip())] if a.prompt_ids else None
    return Bench(cfg, train, seed=a.seed, batch_size=a.batch_size, seq_len=a.seq_len, top_t=a.top_t,
                 warmup=a.warmup, steps=a.steps, pretrain_warmup=a.pretrain_warmup, pretrain_steps=a.pretrain_steps,
                 gen_tokens=a.gen_tokens, prompt=prompt, checkpoint=a.model, eos_id=a.eos_id)


def add_bench_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--preset", default="base", help="preset name (presets/NAME.json) or JSON file; default base")
    ap.add_argument("--model", help="run folder: its architecture, and its weights for generation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16, help="finetuning batch (smf bench: 16)")
    ap.add_argument("--seq-len", type=int, default=32, help="finetuning sequence length (smf bench: 32)")
    ap.add_argument("--top-t", type=int, default=512)
    ap.add_argument("--warmup", type=int, default=5, help="untimed finetuning steps per round (smf bench: 5)")
    ap.add_argument("--steps", type=int, default=20, help="timed finetuning steps per round (smf bench: 20)")
    ap.add_argument("--pretrain-warmup", type=int, default=2)
    ap.add_argument("--pretrain-steps", type=int, default=8)
    ap.add_argument("--gen-tokens", type=int, default=200)
    ap.add_argument("--prompt-ids", help="prompt token ids for generation (default: 8 random ids)")
    ap.add_argument("--eos-id", type=int, default=None, help="stop generation at this id (smf generate stops at 256)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(ap)
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help="comma-separated, of: " + ", ".join(ALL_SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = [s for s in a.scenarios.split(",") if s]
    unknown = [s for s in names if s not in ALL_SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; choose from {ALL_SCENARIOS}")
    env = environment(a.threads)
    print(f"torch {env['torch']}, BLAS {env['blas_info']}, sgemm 512: {env['sgemm_512_gflops']} GFLOP/s, "
          f"{env['threads']} threads", file=sys.stderr)
    for lib in env["libraries"]:
        print(f"  {lib}", file=sys.stderr)
    bench = bench_from_args(a)
    per_round: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    for r in range(a.rounds):
        for j in range(len(names)):
            n = names[(j + r) % len(names)]               # rotate the order every round, as smf bench does
            res = bench.run(n)
            per_round[n].append(res)
            print(f"round {r + 1}/{a.rounds}: {n} {res['ms']:.1f} ms/{'token' if n.startswith('generate') else 'step'}, "
                  f"{res['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    scen = summarize(per_round)
    for s in scen:
        unit = "token" if s["name"].startswith("generate") else "step"
        print(f"{s['name']:<12} {s['median_ms']:9.1f} ms/{unit:<5} {s['median_tokens_per_s']:9.0f} tokens/s")
    result = {"implementation": "pytorch-eager", "environment": env, "model": a.model or a.preset,
              "batch_size": a.batch_size, "seq_len": a.seq_len, "top_t": a.top_t, "rounds": a.rounds,
              "pretrain_batch": [bench.train["batch_size"], bench.train["seq_len"]], "gen_tokens": a.gen_tokens,
              "scenarios": scen}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
