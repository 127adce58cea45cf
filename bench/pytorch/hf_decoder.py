"""A Llama-family decoder (Llama, Mistral, Qwen2) in PyTorch, read straight from a Hugging Face checkpoint folder.

Written from the published description of the architecture and of the ``config.json`` fields of Hugging Face
``transformers`` (LlamaConfig, MistralConfig, Qwen2Config), not from smf's code, so that ``check_import.py`` can check
smf's importer (``smf import``) and its model against something independent. It reads the Hugging Face tensor names
as they are in the files; nothing is renamed.

    from hf_decoder import HfDecoderConfig, load_hf_weights, forward
    cfg = HfDecoderConfig.from_dir("models/SmolLM-135M")
    w = load_hf_weights("models/SmolLM-135M")               # name -> tensor, as stored (bf16 stays bf16)
    logits = forward(cfg, w, [1, 415, 5565], dtype=torch.float64)   # [T, V]

The forward pass, per token sequence x_0..x_{T-1} (positions 0..T-1, one sequence, no padding):

  h = embed_tokens[ids]
  per layer:  a = RMSNorm(h; input_layernorm)
              q = a Wq^T (+ bq), k = a Wk^T (+ bk), v = a Wv^T (+ bv)      heads H, key/value heads KV, head_dim d
              q, k rotated per head by RoPE: the pair (i, i + d/2) of a head is rotated by the angle pos * f_i,
                f_i = rope_theta^(-2i/d), i = 0..d/2-1 (the "rotate half" layout of the Hugging Face weights),
                f_i changed by Llama 3's rule when rope_scaling.rope_type is llama3 (below)
              query head j reads key/value head j // (H / KV) (grouped-query attention; KV = H is plain attention)
              attention = softmax(q k^T / sqrt(d) + causal mask) v, heads concatenated, then Wo (+ bo, Llama's
                attention_bias only)
              h = h + attention
              m = RMSNorm(h; post_attention_layernorm)
              h = h + down_proj(silu(gate_proj(m)) * up_proj(m))
  logits = RMSNorm(h; model.norm) W^T, W = lm_head.weight, or embed_tokens.weight when tie_word_embeddings
  RMSNorm(x; g) = x / sqrt(mean(x^2) + rms_norm_eps) * g

Llama 3 rope_scaling {factor, low_freq_factor, high_freq_factor, original_max_position_embeddings = L}: a frequency
whose wavelength 2*pi/f is shorter than L / high_freq_factor is kept, one longer than L / low_freq_factor is divided
by factor, and one in between is mixed: (1 - s) f / factor + s f with s = (L / wavelength - low_freq_factor) /
(high_freq_factor - low_freq_factor). The attention scale stays 1 / sqrt(d).

Defaults where config.json omits a field (as the transformers config classes have them): num_key_value_heads = heads,
head_dim = hidden_size / heads, rms_norm_eps = 1e-6, rope_theta = 10000, tie_word_embeddings = false,
attention_bias = false. Qwen2 always has q/k/v biases (and no o_proj bias). Sliding-window attention (Mistral, Qwen2
with use_sliding_window) is exact only for sequences no longer than the window; longer ones are refused.

``forward`` computes in the dtype given (weights are upcast first, so a bf16 or f16 checkpoint is evaluated on its
exact float32 or float64 values). The rotary angles are computed in float64 and then cast. ``rotation`` and
``kv_sharing`` choose deliberately wrong variants (interleaved pairs; query head j reading key/value head j % KV);
``check_import.py`` uses them as controls that must *not* match.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from model import read_safetensors

ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM")


@dataclass
class RopeScaling:
    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


@dataclass
class HfDecoderConfig:
    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: Optional[RopeScaling]
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    sliding_window: Optional[int]

    @staticmethod
    def from_dict(c: dict) -> "HfDecoderConfig":
        arch = (c.get("architectures") or [None])[0]
        if arch not in ARCHITECTURES:
            raise ValueError(f"architectures[0] is {arch!r}; this reference knows {', '.join(ARCHITECTURES)}")
        if (c.get("hidden_act") or "silu") != "silu":
            raise ValueError(f"hidden_act is {c['hidden_act']!r}; only silu is written here")
        if c.get("mlp_bias"):
            raise ValueError("mlp_bias is true; not written here")
        heads = int(c["num_attention_heads"])
        kv = int(c.get("num_key_value_heads") or heads)
        hd = c.get("head_dim")
        hd = int(hd) if hd is not None else int(c["hidden_size"]) // heads
        if heads % kv:
            raise ValueError(f"num_key_value_heads {kv} does not divide num_attention_heads {heads}")
        scaling = None
        rs = c.get("rope_scaling")
        if rs is not None:
            kind = rs.get("rope_type", rs.get("type"))
            if kind == "llama3":
                scaling = RopeScaling(float(rs["factor"]), float(rs["low_freq_factor"]), float(rs["high_freq_factor"]),
                                      int(rs["original_max_position_embeddings"]))
            elif kind != "default":
                raise ValueError(f"rope_scaling type {kind!r} is not written here")
        qwen = arch == "Qwen2ForCausalLM"
        window = None
        if arch == "MistralForCausalLM" or (qwen and c.get("use_sliding_window")):
            window = c.get("sliding_window")
        return HfDecoderConfig(
            architecture=arch, vocab_size=int(c["vocab_size"]), hidden_size=int(c["hidden_size"]),
            intermediate_size=int(c["intermediate_size"]), num_hidden_layers=int(c["num_hidden_layers"]),
            num_attention_heads=heads, num_key_value_heads=kv, head_dim=hd,
            rms_norm_eps=float(c.get("rms_norm_eps", 1e-6)), rope_theta=float(c.get("rope_theta", 10000.0)),
            rope_scaling=scaling, tie_word_embeddings=bool(c.get("tie_word_embeddings", False)),
            qkv_bias=qwen or bool(c.get("attention_bias", False)),
            o_bias=(not qwen) and bool(c.get("attention_bias", False)),
            sliding_window=int(window) if window is not None else None)

    @staticmethod
    def from_dir(path: str) -> "HfDecoderConfig":
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            return HfDecoderConfig.from_dict(json.load(f))


def load_hf_weights(path: str) -> Dict[str, torch.Tensor]:
    """Every tensor of a Hugging Face folder: model.safetensors, or the shards model.safetensors.index.json names."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            files = list(dict.fromkeys(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out: Dict[str, torch.Tensor] = {}
    for name in files:
        tensors, _ = read_safetensors(os.path.join(path, name))
        for k, t in tensors.items():
            if k in out:
                raise ValueError(f"{name}: tensor {k} appears twice in the folder")
            out[k] = t
    return out


def inverse_frequencies(cfg: HfDecoderConfig) -> torch.Tensor:
    """f_i = theta^(-2i/d), i = 0..d/2-1, with Llama 3's rescaling when configured; float64."""
    d = cfg.head_dim
    f = cfg.rope_theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    s = cfg.rope_scaling
    if s is None:
        return f
    wavelength = 2 * math.pi / f
    short_limit = s.original_max_position_embeddings / s.high_freq_factor   # shorter wavelengths: unchanged
    long_limit = s.original_max_position_embeddings / s.low_freq_factor     # longer: divided by factor
    mix = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
    between = (1 - mix) * f / s.factor + mix * f
    return torch.where(wavelength < short_limit, f, torch.where(wavelength > long_limit, f / s.factor, between))


def rotate(x: torch.Tensor, angles: torch.Tensor, rotation: str) -> torch.Tensor:
    """x [heads, T, d] rotated by angles [T, d/2]: pair (i, i + d/2) ("half", Hugging Face layout) or (2i, 2i+1)."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    half = x.shape[-1] // 2
    if rotation == "half":
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    if rotation == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    raise ValueError(rotation)


def rms_norm(x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gain


@torch.no_grad()
def forward(cfg: HfDecoderConfig, weights: Dict[str, torch.Tensor], ids: Sequence[int],
            dtype: torch.dtype = torch.float32, rotation: str = "half", kv_sharing: str = "grouped") -> torch.Tensor:
    """Logits [T, V] of one token sequence, every weight upcast to ``dtype`` first."""
    used = set()

    def w(name: str) -> torch.Tensor:
        if name not in weights:
            raise KeyError(f"the checkpoint lacks {name}")
        used.add(name)
        return weights[name].to(dtype)

    T = len(ids)
    if cfg.sliding_window is not None and T > cfg.sliding_window:
        raise ValueError(f"sequence of {T} tokens is longer than sliding_window {cfg.sliding_window}; not written here")
    H, KV, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    ids_t = torch.tensor(list(ids), dtype=torch.long)
    h = w("model.embed_tokens.weight")[ids_t]                                         # [T, D]
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inverse_frequencies(cfg)[None, :]   # [T, d/2]
    if kv_sharing == "grouped":
        kv_of_head = torch.arange(H) // (H // KV)
    elif kv_sharing == "modulo":
        kv_of_head = torch.arange(H) % KV
    else:
        raise ValueError(kv_sharing)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        a = rms_norm(h, w(p + "input_layernorm.weight"), cfg.rms_norm_eps)

        def proj(kind: str) -> torch.Tensor:
            b = w(p + f"self_attn.{kind}_proj.bias") if cfg.qkv_bias else None
            return F.linear(a, w(p + f"self_attn.{kind}_proj.weight"), b)

        q = proj("q").view(T, H, d).transpose(0, 1)                                    # [H, T, d]
        k = proj("k").view(T, KV, d).transpose(0, 1)                                   # [KV, T, d]
        v = proj("v").view(T, KV, d).transpose(0, 1)
        q, k = rotate(q, angles, rotation), rotate(k, angles, rotation)
        k, v = k[kv_of_head], v[kv_of_head]                                            # [H, T, d]
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(future, float("-inf"))
        att = (scores.softmax(-1) @ v).transpose(0, 1).reshape(T, H * d)
        ob = w(p + "self_attn.o_proj.bias") if cfg.o_bias else None
        h = h + F.linear(att, w(p + "self_attn.o_proj.weight"), ob)
        m = rms_norm(h, w(p + "post_attention_layernorm.weight"), cfg.rms_norm_eps)
        gate = F.linear(m, w(p + "mlp.gate_proj.weight"))
        up = F.linear(m, w(p + "mlp.up_proj.weight"))
        h = h + F.linear(F.silu(gate) * up, w(p + "mlp.down_proj.weight"))
    h = rms_norm(h, w("model.norm.weight"), cfg.rms_norm_eps)
    out = w("model.embed_tokens.weight") if cfg.tie_word_embeddings else w("lm_head.weight")
    logits = F.linear(h, out)
    if T > 0:
        left = [k for k in weights if k not in used and not k.endswith("rotary_emb.inv_freq")
                and not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
        if left:
            raise ValueError(f"the checkpoint has tensors this architecture does not use: {left[:3]}")
    return logits


def expected_shapes(cfg: HfDecoderConfig) -> Dict[str, List[int]]:
    """Hugging Face name -> shape of every tensor of the model ``cfg`` describes (for writing random checkpoints)."""
    D, F_, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    q, kv = cfg.num_attention_heads * cfg.head_dim, cfg.num_key_value_heads * cfg.head_dim
    s: Dict[str, List[int]] = {"model.embed_tokens.weight": [V, D]}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = [D]
        s[p + "self_attn.q_proj.weight"] = [q, D]
        s[p + "self_attn.k_proj.weight"] = [kv, D]
        s[p + "self_attn.v_proj.weight"] = [kv, D]
        if cfg.qkv_bias:
            s[p + "self_attn.q_proj.bias"] = [q]
            s[p + "self_attn.k_proj.bias"] = [kv]
            s[p + "self_attn.v_proj.bias"] = [kv]
        s[p + "self_attn.o_proj.weight"] = [D, q]
        if cfg.o_bias:
            s[p + "self_attn.o_proj.bias"] = [D]
        s[p + "post_attention_layernorm.weight"] = [D]
        s[p + "mlp.gate_proj.weight"] = [F_, D]
        s[p + "mlp.up_proj.weight"] = [F_, D]
        s[p + "mlp.down_proj.weight"] = [D, F_]
    s["model.norm.weight"] = [D]
    if not cfg.tie_word_embeddings:
        s["lm_head.weight"] = [V, D]
    return s
