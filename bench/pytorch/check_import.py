#!/usr/bin/env python3
"""Checks `smf import` and smf's model against an independent PyTorch forward pass (hf_decoder.py), per naming scheme.

    python3 check_import.py --smf path/to/smf            # every case, in a temporary folder
    python3 check_import.py --smf path/to/smf --keep DIR --case llama3-rope-scaling

For each case it writes a tiny random Hugging Face checkpoint folder (config.json with `architectures`, safetensors
with the Hugging Face tensor names, optionally sharded with model.safetensors.index.json, in float32, bfloat16 or
float16, a byte-level BPE tokenizer.json and tokenizer_config.json), runs `smf import --from HF --out RUN` and
`smf logits --model RUN` on a few token sequences (1 token, 9 random ids, max_position_embeddings random ids, one text
through the imported tokenizer), and compares smf's logits with hf_decoder.forward on the same weights (bf16/f16
weights upcast to float32, as the importer stores them). PASS when max |smf - reference| <= --atol (1e-5), both
float32. The float64 column is the same reference in float64: the distance each float32 implementation has from it
is float32 rounding.

Controls: for each case the reference is also run with one thing deliberately wrong that the case exercises (pairs
rotated interleaved instead of (i, i + d/2); query head j reading key/value head j % KV instead of j // (H/KV);
rope_scaling dropped; rope_theta 10000 instead of the configured one; q/k/v biases zeroed; rms_norm_eps 1e-6 for 1e-5
or back, in the cases whose embeddings are small enough for the epsilon to matter; tied output instead of lm_head).
Each control must differ from smf by more than 100 x atol, or the case could not have failed and the check fails as
"not discriminating".

Exit code 0 when every case passes and every control differs; 1 otherwise; 2 when smf refuses a case.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_decoder import HfDecoderConfig, expected_shapes, forward, load_hf_weights  # noqa: E402
from model import _byte_unicode, read_safetensors, write_safetensors  # noqa: E402

VOCAB, DIM, LAYERS, HEADS, FFN, MAX_POS = 300, 64, 2, 4, 96, 64
EOT = "<|endoftext|>"
TEXT = "the theme of the other thing: naïve café 3.14 — 東京"


@dataclass
class Case:
    name: str
    architecture: str
    tied: bool = False
    kv_heads: int = HEADS
    dtype: str = "float32"               # torch_dtype of config.json and of every tensor
    shards: int = 1
    theta: float = 10000.0
    eps: float = 1e-6
    head_dim: Optional[int] = None
    llama3: Optional[dict] = None        # rope_scaling of rope_type llama3
    extra: Dict[str, object] = field(default_factory=dict)    # further config.json fields
    extra_tensors: bool = False          # rotary_emb.inv_freq buffers, and a stale lm_head.weight when tied
    omit: Tuple[str, ...] = ()           # config.json fields left out (the reader's defaults apply)
    embed_scale: float = 0.1             # 0.003: the first RMSNorm sees mean(x^2) ~ 1e-5, so rms_norm_eps matters


CASES = [
    Case("llama-tied", "LlamaForCausalLM", tied=True),
    Case("llama-untied", "LlamaForCausalLM", extra={"attention_bias": False, "rope_scaling": None}),
    Case("llama-gqa", "LlamaForCausalLM", kv_heads=2),
    Case("llama3-rope-scaling", "LlamaForCausalLM", kv_heads=2, theta=500000.0, extra={"max_position_embeddings": 512},
         llama3={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 256}),
    Case("mistral", "MistralForCausalLM", kv_heads=2, eps=1e-5, theta=1e6, extra={"sliding_window": 4096, "head_dim": None}),
    Case("qwen2-bias-tied", "Qwen2ForCausalLM", tied=True, kv_heads=1,
         extra={"use_sliding_window": False, "sliding_window": 32, "max_window_layers": 2}),
    Case("qwen2-bias-gqa-untied", "Qwen2ForCausalLM", kv_heads=2, theta=1e6, extra={"use_sliding_window": False}),
    Case("llama-sharded", "LlamaForCausalLM", kv_heads=2, shards=3),
    Case("llama-bf16", "LlamaForCausalLM", kv_heads=2, dtype="bfloat16"),
    Case("qwen2-f16", "Qwen2ForCausalLM", dtype="float16"),
    Case("mistral-head-dim", "MistralForCausalLM", kv_heads=2, head_dim=8, theta=1e6),
    Case("llama-legacy-buffers", "LlamaForCausalLM", tied=True, extra_tensors=True, extra={"rope_scaling": {"type": "default"}}),
    Case("llama-eps", "LlamaForCausalLM", eps=1e-5, embed_scale=0.003, extra={"head_dim": DIM // HEADS}),
    Case("llama-defaults", "LlamaForCausalLM", embed_scale=0.003,
         omit=("num_key_value_heads", "rms_norm_eps", "rope_theta", "tie_word_embeddings", "hidden_act", "torch_dtype")),
]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# ------------------------------------------------------------------------------------------------ writing a folder


def hf_config(c: Case) -> dict:
    model_type = {"MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2"}.get(c.architecture, "llama")
    cfg = {
        "architectures": [c.architecture], "model_type": model_type, "vocab_size": VOCAB, "hidden_size": DIM,
        "intermediate_size": FFN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": c.kv_heads, "max_position_embeddings": MAX_POS, "rms_norm_eps": c.eps,
        "rope_theta": c.theta, "hidden_act": "silu", "tie_word_embeddings": c.tied, "bos_token_id": 256,
        "eos_token_id": 256, "torch_dtype": c.dtype, "initializer_range": 0.02, "use_cache": True,
    }
    if c.head_dim is not None:
        cfg["head_dim"] = c.head_dim
    if c.llama3 is not None:
        cfg["rope_scaling"] = {"rope_type": "llama3", **c.llama3}
    cfg.update(c.extra)
    for k in c.omit:
        del cfg[k]
    return cfg


def random_weights(cfg: HfDecoderConfig, seed: int, dtype: torch.dtype, extra: bool, embed_scale: float) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape in expected_shapes(cfg).items():
        if name == "model.embed_tokens.weight":
            w[name] = embed_scale * torch.randn(shape, generator=g)
        elif name.endswith("layernorm.weight") or name == "model.norm.weight":
            w[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:           # 0.1: logits of a few units, float32 rounding ~2e-6 (0.2 makes the residual stream ~20, ~1e-5)
            w[name] = 0.1 * torch.randn(shape, generator=g)
    if extra:
        for i in range(cfg.num_hidden_layers):
            w[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.rand(cfg.head_dim // 2, generator=g)
        if cfg.tie_word_embeddings:
            w["lm_head.weight"] = 0.1 * torch.randn(cfg.vocab_size, cfg.hidden_size, generator=g)
    return {k: v.to(dtype) for k, v in w.items()}


def write_tokenizer(path: str, bos_template: bool) -> None:
    """A byte-level BPE tokenizer.json: the 256 byte symbols (ids 0-255), <|endoftext|> (256), three merges."""
    symbols = {b: ch for ch, b in _byte_unicode().items()}
    vocab = {symbols[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    for i, (a, b) in enumerate(merges):
        vocab[a + b] = 257 + i
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    post = byte_level
    if bos_template:
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": EOT, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": EOT, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {EOT: {"id": EOT, "ids": [256], "tokens": [EOT]}}}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 256, "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": post, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


def write_checkpoint(c: Case, folder: str, seed: int) -> Tuple[HfDecoderConfig, Dict[str, torch.Tensor]]:
    os.makedirs(folder)
    cfg_json = hf_config(c)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg_json, f, indent=2)
    cfg = HfDecoderConfig.from_dict(cfg_json)
    weights = random_weights(cfg, seed, DTYPES[c.dtype], c.extra_tensors, c.embed_scale)
    meta = {"format": "pt"}
    if c.shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), weights, meta)
    else:
        names = list(weights)
        per = -(-len(names) // c.shards)
        weight_map, total = {}, 0
        for k in range(c.shards):
            file = f"model-{k + 1:05d}-of-{c.shards:05d}.safetensors"
            part = {n: weights[n] for n in names[k * per:(k + 1) * per]}
            write_safetensors(os.path.join(folder, file), part, meta)
            for n, t in part.items():
                weight_map[n] = file
                total += t.numel() * t.element_size()
        with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    write_tokenizer(os.path.join(folder, "tokenizer.json"), bos_template=c.architecture != "Qwen2ForCausalLM")
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": EOT, "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}, f)
    return cfg, weights


# ------------------------------------------------------------------------------------------------ controls


def controls(c: Case, cfg: HfDecoderConfig, w: Dict[str, torch.Tensor]) -> List[Tuple[str, Callable[[List[int]], torch.Tensor]]]:
    """(what is wrong, reference logits with that wrong) for the things this case exercises."""
    out = [("rotation interleaved", lambda ids: forward(cfg, w, ids, rotation="interleaved"))]
    if 1 < cfg.num_key_value_heads < cfg.num_attention_heads:
        out.append(("kv head j % KV", lambda ids: forward(cfg, w, ids, kv_sharing="modulo")))
    if cfg.rope_scaling is not None:
        plain = _with(cfg, rope_scaling=None)
        out.append(("no rope_scaling", lambda ids: forward(plain, w, ids)))
    if cfg.rope_theta != 10000.0:
        t = _with(cfg, rope_theta=10000.0)
        out.append(("rope_theta 10000", lambda ids: forward(t, w, ids)))
    if cfg.qkv_bias:
        zb = {k: (torch.zeros_like(v) if k.endswith("_proj.bias") else v) for k, v in w.items()}
        out.append(("q/k/v biases zeroed", lambda ids: forward(cfg, zb, ids)))
    if c.embed_scale < 0.01:
        other = 1e-6 if cfg.rms_norm_eps != 1e-6 else 1e-5
        e = _with(cfg, rms_norm_eps=other)
        out.append((f"rms_norm_eps {other:.0e}", lambda ids: forward(e, w, ids)))
    if not cfg.tie_word_embeddings:
        tied = _with(cfg, tie_word_embeddings=True)
        out.append(("tied output", lambda ids: forward(tied, w, ids)))
    return out


def _with(cfg: HfDecoderConfig, **changes) -> HfDecoderConfig:
    d = copy.copy(cfg)
    for k, v in changes.items():
        setattr(d, k, v)
    return d


# ------------------------------------------------------------------------------------------------ running smf


def run(cmd: List[str], what: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SmfFailed(f"{what} failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()}")


class SmfFailed(Exception):
    pass


def check_case(c: Case, smf: str, work: str, seed: int, atol: float) -> Tuple[bool, bool, str]:
    """(passed, controls differ, text) of one case."""
    hf, rundir = os.path.join(work, c.name, "hf"), os.path.join(work, c.name, "run")
    cfg, weights = write_checkpoint(c, hf, seed)
    run([smf, "import", "--from", hf, "--out", rundir], "smf import")
    g = torch.Generator().manual_seed(seed + 1)
    seqs = [[VOCAB - 1], torch.randint(0, VOCAB, (9,), generator=g).tolist(),
            torch.randint(0, VOCAB, (MAX_POS,), generator=g).tolist()]
    out = os.path.join(work, c.name, "logits.safetensors")
    args = [smf, "logits", "--model", rundir, "--out", out, "--text", TEXT]
    for s in seqs:
        args += ["--tokens", ",".join(map(str, s))]
    run(args, "smf logits")
    tensors, meta = read_safetensors(out)
    n = int(meta.get("count", sum(1 for k in tensors if k.startswith("logits."))))
    # the reference reads the folder back, so the check covers what was written, not what was meant to be written
    w_read = load_hf_weights(hf)
    assert all(torch.equal(w_read[k], weights[k]) for k in weights)
    cfg_read = HfDecoderConfig.from_dir(hf)
    ctrl = controls(c, cfg_read, w_read)
    worst = worst64 = ref64 = 0.0
    ctrl_max = {name: 0.0 for name, _ in ctrl}     # each control: its largest difference from smf over the sequences
    lengths = []
    for i in range(n):
        ids = tensors[f"tokens.{i}"].long().tolist()
        ours = tensors[f"logits.{i}"].float()
        r32 = forward(cfg_read, w_read, ids, torch.float32)
        r64 = forward(cfg_read, w_read, ids, torch.float64)
        if ours.shape != r32.shape:
            return False, True, f"{c.name}: logits.{i} has shape {list(ours.shape)}, the reference {list(r32.shape)}"
        worst = max(worst, (ours - r32).abs().max().item())
        worst64 = max(worst64, (ours.double() - r64).abs().max().item())
        ref64 = max(ref64, (r32.double() - r64).abs().max().item())
        lengths.append(len(ids))
        for name, f in ctrl:
            ctrl_max[name] = max(ctrl_max[name], (ours - f(ids)).abs().max().item())
    passed = worst <= atol
    caught = all(v > 100 * atol for v in ctrl_max.values())
    ctrl_text = ", ".join(f"{k} {v:.1e}" for k, v in ctrl_max.items())
    text = (f"{c.name:<24} {c.dtype:<8} {','.join(map(str, lengths)):<14} {worst:>9.2e} {worst64:>9.2e} {ref64:>9.2e}  "
            f"{'PASS' if passed else 'FAIL'}  controls: {ctrl_text}{'' if caught else '  NOT DISCRIMINATING'}")
    return passed, caught, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smf", required=True, help="path of the smf binary")
    ap.add_argument("--atol", type=float, default=1e-5, help="largest |smf - reference| accepted (default 1e-5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case", action="append", help="run only these cases (repeatable); default all: "
                    + ", ".join(c.name for c in CASES))
    ap.add_argument("--keep", help="write the folders here (must not exist) and keep them; default a temporary folder")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cases = CASES
    if a.case:
        unknown = set(a.case) - {c.name for c in CASES}
        if unknown:
            ap.error(f"unknown case(s) {sorted(unknown)}; known: {', '.join(c.name for c in CASES)}")
        cases = [c for c in CASES if c.name in a.case]
    tmp = None
    if a.keep:
        os.makedirs(a.keep)
        work = a.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="smf-check-import-")
        work = tmp.name
    print(f"smf import + smf logits against hf_decoder.py; torch {torch.__version__}; dim {DIM}, {LAYERS} layers, "
          f"{HEADS} heads, vocab {VOCAB}; tolerance {a.atol:.0e}")
    print(f"{'case':<24} {'dtype':<8} {'lengths':<14} {'smf-ref':>9} {'smf-f64':>9} {'ref-f64':>9}")
    ok, refused = True, False
    started = time.time()
    for i, c in enumerate(cases):
        try:
            passed, caught, text = check_case(c, a.smf, work, a.seed + 100 * i, a.atol)
        except SmfFailed as e:
            print(f"{c.name:<24} REFUSED: {e}")
            refused = True
            continue
        print(text, flush=True)
        ok = ok and passed and caught
    print(f"{len(cases)} case(s), {time.time() - started:.0f} s: {'PASS' if ok and not refused else 'FAIL'}")
    if tmp:
        tmp.cleanup()
    return 2 if refused else (0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
