"""SparseMemory's memory-layer language model in PyTorch, loading and saving smf run folders.

A line-by-line port of the C# model (src/SparseMemory/Model/*.cs and src/SparseMemory/Memory/ProductKeyMemory.cs):
the same modules, the same state-dict names (so ``model.state_dict()`` *is* the checkpoint's ``model.safetensors``),
the same arithmetic in the same order where the order matters for float32. ``check_logits.py`` verifies that the
logits equal smf's on a checkpoint.

    from model import load_run
    model, cfg = load_run("runs/base")                  # eval mode, float32, CPU
    logits = model(torch.tensor([[256, 72, 101]]))      # [B, T, V]

Letters: B batch, T time, D model dim, V vocab; memory: H heads, N sub-keys per half, S = N^2 slots, K top-k,
Dk key dim (each half Dk/2), Dv value dim.

Needs only ``torch`` (1.13 or later) and ``numpy``. The ``safetensors`` package is used when installed; otherwise a
small reader/writer of the format (below) does the same job. Tokenizer: ``tokenizer.json`` is in the Hugging Face
``tokenizers`` format (``tokenizers.Tokenizer.from_file``); ``decode`` below turns ids back into text without it.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field, fields
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------------------- config


@dataclass
class MemoryConfig:
    """The ``model.memory`` section of config.json (src/SparseMemory/Config/ModelConfig.cs)."""

    layers: List[int] = field(default_factory=lambda: [2])
    num_keys: int = 128          # N; S = N^2 slots
    heads: int = 4               # H
    top_k: int = 32              # K
    key_dim: int = 128           # Dk
    value_dim: int = -1          # Dv; -1 means D
    gated: bool = True

    @property
    def slots(self) -> int:
        return self.num_keys * self.num_keys

    def resolved_value_dim(self, dim: int) -> int:
        return dim if self.value_dim < 0 else self.value_dim


@dataclass
class ModelConfig:
    """The ``model`` section of config.json; defaults as in C#."""

    vocab_size: int = 4096
    dim: int = 128
    layers: int = 4
    heads: int = 4
    ffn_hidden: int = 384
    max_seq_len: int = 256
    tie_embeddings: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02
    memory: Optional[MemoryConfig] = field(default_factory=MemoryConfig)

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        known = {f.name for f in fields(ModelConfig)}
        kw = {k: v for k, v in d.items() if k in known and k != "memory"}
        cfg = ModelConfig(**kw)
        if "memory" in d:
            m = d["memory"]
            if m is None:
                cfg.memory = None
            else:
                mknown = {f.name for f in fields(MemoryConfig)}   # "slots" is derived and written only for reading
                cfg.memory = MemoryConfig(**{k: v for k, v in m.items() if k in mknown})
        return cfg


def read_json_with_comments(path: str) -> dict:
    """Reads config.json or a preset (presets/*.json may start with // comment lines)."""
    with open(path, encoding="utf-8") as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("//"))
    return json.loads(text)


# --------------------------------------------------------------------------------------------------------- model


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * g (RmsNorm.cs), in that order of operations."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Rotary:
    """Rotary tables (rotate-half convention), computed in float64 and cast once per (device, dtype) (Attention.cs)."""

    def __init__(self, head_dim: int, max_seq_len: int, theta: float):
        self.head_dim, self.max_seq_len, self.theta = head_dim, max_seq_len, theta
        self._cache: Dict[Tuple[torch.device, torch.dtype], Tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, device: torch.device, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        key = (device, dtype)
        if key not in self._cache:
            exps = torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim
            inv = 1.0 / torch.pow(torch.tensor(self.theta, dtype=torch.float64), exps)              # (hd/2)
            ang = torch.outer(torch.arange(self.max_seq_len, dtype=torch.float64), inv)             # (T, hd/2)
            full = torch.cat([ang, ang], -1)                                                         # (T, hd)
            self._cache[key] = (full.cos().to(device=device, dtype=dtype), full.sin().to(device=device, dtype=dtype))
        return self._cache[key]

    def apply(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Rotates [B, H, T, hd] for positions start .. start+T-1."""
        t = x.shape[2]
        if start + t > self.max_seq_len:
            raise ValueError(f"sequence length {start + t} exceeds model.max_seq_len {self.max_seq_len}")
        cos, sin = self.tables(x.device, x.dtype)
        cos, sin = cos[start:start + t], sin[start:start + t]
        x1, x2 = x.chunk(2, -1)
        rotated = torch.cat([-x2, x1], -1)
        return x * cos + rotated * sin


_HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd) + causal mask) v over [B, H, T, hd]; query i sits at position offset + i of the keys."""
    if _HAS_SDPA and offset == 0 and q.shape[2] == k.shape[2]:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tq, tk = q.shape[2], k.shape[2]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(diagonal=offset)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


class Attention(nn.Module):
    """Causal multi-head self-attention with rotary positions; wq, wk, wv, wo are bias-free [D, D]."""

    def __init__(self, cfg: ModelConfig, rotary: Rotary):
        super().__init__()
        self.heads, self.head_dim, self.rotary = cfg.heads, cfg.dim // cfg.heads, rotary
        self.wq = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cache: Optional[dict] = None) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)                # (B, H, T, hd)
        k = self.wk(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        start = 0 if cache is None else cache.get("len", 0)
        q, k = self.rotary.apply(q, start), self.rotary.apply(k, start)
        if cache is not None:                     # KV cache (generation only): append this call's keys and values
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"], cache["len"] = k, v, start + t
        y = causal_attention(q, k, v, offset=start)                                           # (B, H, T, hd)
        return self.wo(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w2 = nn.Linear(cfg.ffn_hidden, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def candidate_pairs(k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The rank pairs (u, v) with (u+1)(v+1) <= K, u-major: the only pairs of two sorted top-K lists that can be in the
    top K of their sums (each is beaten by every pair at ranks u' <= u, v' <= v)."""
    pairs = [(u, v) for u in range(k) for v in range(k) if (u + 1) * (v + 1) <= k]
    return torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])


class ProductKeyMemory(nn.Module):
    """Product-key memory with Memory+ gating, replacing a block's FFN (ProductKeyMemory.cs).

    Per token x: q = Wq x + b (H*Dk); per head split q in halves and score each against its N sub-keys; top-K per half;
    the best K of the pair sums (exact, via ``candidate_pairs``); softmax per head; y = sum_h sum_j w_hj V[id_hj]
    (heads summed: one token's weights add up to H); out = W2 (y * silu(W1 x + b1)) + b2, or W2 y + b2 ungated.
    The value table V (``memory_values.weight``, shared by all memory layers) belongs to the model and is passed in.
    """

    def __init__(self, dim: int, mem: MemoryConfig):
        super().__init__()
        self.heads, self.num_keys, self.top_k, self.key_dim = mem.heads, mem.num_keys, mem.top_k, mem.key_dim
        self.value_dim = mem.resolved_value_dim(dim)
        self.query = nn.Linear(dim, mem.heads * mem.key_dim, bias=True)
        self.keys = nn.Parameter(torch.empty(2 * mem.heads * mem.num_keys, mem.key_dim // 2))   # viewed (H, 2, N, Dk/2)
        self.gate_proj = nn.Linear(dim, self.value_dim, bias=True) if mem.gated else None
        self.out_proj = nn.Linear(self.value_dim, dim, bias=True)
        pu, pv = candidate_pairs(mem.top_k)
        self.register_buffer("pair_u", pu, persistent=False)
        self.register_buffer("pair_v", pv, persistent=False)
        self.capture_reads = False        # sparse finetuning: read values outside autograd, keep y as a grad leaf
        self.last_read: Optional[dict] = None

    def reset_parameters(self, dim: int) -> None:
        """The Memory+ initialisation (docs/method.md#memory-plus-initialisation)."""
        with torch.no_grad():
            bound = 1.0 / math.sqrt(self.key_dim)
            nn.init.uniform_(self.keys, -bound, bound)
            nn.init.xavier_uniform_(self.query.weight)
            self.query.bias.zero_()
            std = 1.0 / math.sqrt(dim)
            if self.gate_proj is not None:
                nn.init.normal_(self.gate_proj.weight, 0, std)
                self.gate_proj.bias.zero_()
            nn.init.normal_(self.out_proj.weight, 0, std)
            self.out_proj.bias.zero_()

    def search(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x [BT, D] -> slot ids [BT, H, K] (int64) and scores [BT, H, K], best first per head. The selection runs
        without autograd; the chosen scores are gathered again from the half scores, so gradients reach query and keys."""
        bt, half = x.shape[0], self.key_dim // 2
        q = self.query(x).view(bt, self.heads, 2, half)                                     # (BT, H, 2, Dk/2)
        k = self.keys.view(self.heads, 2, self.num_keys, half)                              # (H, 2, N, Dk/2)
        s = torch.einsum("bhcd,hcnd->bhcn", q, k)                                            # (BT, H, 2, N)
        with torch.no_grad():
            plain = s.detach()
            a1, i1 = plain[:, :, 0].topk(self.top_k, dim=-1)                                 # (BT, H, K), sorted
            a2, i2 = plain[:, :, 1].topk(self.top_k, dim=-1)
            cand = a1.index_select(-1, self.pair_u) + a2.index_select(-1, self.pair_v)     # (BT, H, P)
            _, pos = cand.topk(self.top_k, dim=-1)                                           # (BT, H, K)
            first = i1.gather(-1, self.pair_u[pos])
            second = i2.gather(-1, self.pair_v[pos])
        scores = s[:, :, 0].gather(-1, first) + s[:, :, 1].gather(-1, second)                # (BT, H, K)
        return first * self.num_keys + second, scores

    def forward(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        flat = x.reshape(b * t, d)                                                            # (BT, D)
        ids, scores = self.search(flat)
        if scores.dtype in (torch.float16, torch.bfloat16):     # softmax in at least float32
            w = torch.softmax(scores.float(), dim=-1).to(scores.dtype)
        else:
            w = torch.softmax(scores, dim=-1)
        bag_ids = ids.view(b * t, self.heads * self.top_k)                                  # (BT, H*K)
        bag_w = w.view(b * t, self.heads * self.top_k)
        if self.capture_reads:
            with torch.no_grad():
                y = F.embedding_bag(bag_ids, values, mode="sum", per_sample_weights=bag_w.detach())
            y.requires_grad_(True)
            self.last_read = {"ids": bag_ids, "weights": bag_w.detach(), "read": y}
        else:
            y = F.embedding_bag(bag_ids, values, mode="sum", per_sample_weights=bag_w)     # (BT, Dv)
        if self.gate_proj is not None:
            y = y * F.silu(self.gate_proj(flat))
        return self.out_proj(y).view(b, t, d)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + ffn(norm(x)); ffn is SwiGLU or a product-key memory."""

    def __init__(self, cfg: ModelConfig, rotary: Rotary, has_memory: bool):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg, rotary)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        if has_memory:
            self.memory = ProductKeyMemory(cfg.dim, cfg.memory)
            self.feed_forward = None
        else:
            self.feed_forward = FeedForward(cfg)
            self.memory = None

    def forward(self, x: torch.Tensor, values: Optional[torch.Tensor], cache: Optional[dict] = None) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cache)
        h = self.ffn_norm(x)
        return x + (self.memory(h, values) if self.memory is not None else self.feed_forward(h))


class LanguageModel(nn.Module):
    """The decoder-only LM of LanguageModel.cs. State-dict names are the checkpoint's tensor names:
    tok_embeddings.weight; layers.{i}.attention_norm.weight; layers.{i}.attention.{wq,wk,wv,wo}.weight;
    layers.{i}.ffn_norm.weight; layers.{i}.feed_forward.{w1,w2,w3}.weight (dense blocks);
    layers.{i}.memory.{query.weight,query.bias,keys,gate_proj.weight,gate_proj.bias,out_proj.weight,out_proj.bias};
    memory_values.weight; norm.weight; output.weight (only when tie_embeddings is false)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        rotary = Rotary(cfg.dim // cfg.heads, cfg.max_seq_len, cfg.rope_theta)
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        mem_layers = set(cfg.memory.layers) if cfg.memory is not None else set()
        # nn.Embedding only for its state-dict name; reads go through F.embedding_bag in the memory layers.
        self.memory_values = (nn.Embedding(cfg.memory.slots, cfg.memory.resolved_value_dim(cfg.dim))
                              if cfg.memory is not None else None)
        self.layers = nn.ModuleList(TransformerBlock(cfg, rotary, i in mem_layers) for i in range(cfg.layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = None if cfg.tie_embeddings else nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of the C# model (same distributions; the draws differ, the RNGs are not the same)."""
        cfg = self.config
        out_std = cfg.init_std / math.sqrt(2.0 * cfg.layers)
        with torch.no_grad():
            nn.init.normal_(self.tok_embeddings.weight, 0, cfg.init_std)
            if self.memory_values is not None:
                dv = self.memory_values.weight.shape[1]
                nn.init.normal_(self.memory_values.weight, 0, 1.0 / math.sqrt(dv))
            for layer in self.layers:
                a = layer.attention
                for p in (a.wq, a.wk, a.wv):
                    nn.init.normal_(p.weight, 0, cfg.init_std)
                nn.init.normal_(a.wo.weight, 0, out_std)
                if layer.feed_forward is not None:
                    nn.init.normal_(layer.feed_forward.w1.weight, 0, cfg.init_std)
                    nn.init.normal_(layer.feed_forward.w3.weight, 0, cfg.init_std)
                    nn.init.normal_(layer.feed_forward.w2.weight, 0, out_std)
                else:
                    layer.memory.reset_parameters(cfg.dim)
            if self.output is not None:
                nn.init.normal_(self.output.weight, 0, cfg.init_std)

    @property
    def memory_layers(self) -> List[ProductKeyMemory]:
        return [layer.memory for layer in self.layers if layer.memory is not None]

    def forward(self, tokens: torch.Tensor, caches: Optional[List[dict]] = None) -> torch.Tensor:
        """Token ids [B, T] (int64) -> logits [B, T, V]. ``caches`` (one dict per block, from ``new_caches``) turns on
        the KV cache: each call then continues the sequence the earlier calls gave."""
        values = self.memory_values.weight if self.memory_values is not None else None
        h = self.tok_embeddings(tokens)                                                      # (B, T, D)
        for i, layer in enumerate(self.layers):
            h = layer(h, values, None if caches is None else caches[i])
        h = self.norm(h)
        return self.output(h) if self.output is not None else F.linear(h, self.tok_embeddings.weight)

    def new_caches(self) -> List[dict]:
        return [{} for _ in self.layers]

    @staticmethod
    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy; targets < 0 are ignored (LanguageModel.Loss)."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


# --------------------------------------------------------------------------------------------------------- safetensors

_DTYPES = {"F32": (np.float32, torch.float32), "F64": (np.float64, torch.float64), "F16": (np.float16, torch.float16),
           "I64": (np.int64, torch.int64), "I32": (np.int32, torch.int32), "U8": (np.uint8, torch.uint8),
           "BOOL": (np.bool_, torch.bool)}


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Tensors and ``__metadata__`` of a safetensors file: 8-byte little-endian header length N, N bytes of JSON
    {name: {dtype, shape, data_offsets}} (+ ``__metadata__``), then the little-endian data. Uses the ``safetensors``
    package when it is installed. BF16 (which numpy lacks) is read as its 16-bit patterns and viewed as bfloat16."""
    try:
        from safetensors import safe_open  # type: ignore
        out = {}
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            for name in f.keys():
                out[name] = f.get_tensor(name)
        return out, meta
    except ImportError:
        pass
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, e in header.items():
        bf16 = e["dtype"] == "BF16"
        if e["dtype"] not in _DTYPES and not bf16:
            raise ValueError(f"{path}: tensor {name} has dtype {e['dtype']}, which this reader does not handle")
        np_t = np.int16 if bf16 else _DTYPES[e["dtype"]][0]
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(np_t).newbyteorder("<"))
        if arr.size != int(np.prod(e["shape"], dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: {arr.size} elements for shape {e['shape']}")
        t = torch.from_numpy(arr.astype(np_t, copy=True).reshape(e["shape"]))
        out[name] = t.view(torch.bfloat16) if bf16 else t
    return out, meta


def write_safetensors(path: str, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes tensors (CPU copies, in the dict's order) in the layout smf writes and reads: metadata first, header
    padded with spaces to a multiple of 8. Written to a temp file and renamed, as smf does. BF16 tensors are written
    as their 16-bit patterns."""
    rev = {tt: name for name, (_, tt) in _DTYPES.items()}
    rev[torch.bfloat16] = "BF16"
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in rev:
            raise ValueError(f"tensor {name}: dtype {t.dtype} not supported by this writer")
        a = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": rev[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------------------- run folders


def load_run(run_dir: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Tuple[LanguageModel, ModelConfig]:
    """Model of an smf run folder (config.json + model.safetensors), strictly: every tensor present with its shape,
    nothing extra. Returned in eval mode, cast to ``dtype`` (float64 gives a reference for float32 checks)."""
    cfg = ModelConfig.from_dict(read_json_with_comments(os.path.join(run_dir, "config.json"))["model"])
    model = LanguageModel(cfg)
    state, _ = read_safetensors(os.path.join(run_dir, "model.safetensors"))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise ValueError(f"{run_dir}: tensors do not match config.json (missing {missing[:5]}, unexpected {extra[:5]})")
    for name, t in state.items():
        if tuple(t.shape) != tuple(own[name].shape):
            raise ValueError(f"{run_dir}: {name} has shape {list(t.shape)}, the model expects {list(own[name].shape)}")
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval(), cfg


def save_weights(run_dir: str, model: LanguageModel, step: Optional[int] = None) -> None:
    """Writes ``run_dir/model.safetensors`` (float32) in smf's layout, loadable by smf generate/eval/finetune when
    ``run_dir`` also holds the run's config.json and tokenizer.json."""
    meta = {"format": "pt", "library": "SparseMemory"}
    if step is not None:
        meta["step"] = str(step)
    write_safetensors(os.path.join(run_dir, "model.safetensors"),
                      {k: v.float() for k, v in model.state_dict().items()}, meta)


# --------------------------------------------------------------------------------------------------------- tokens


def _byte_unicode() -> Dict[str, int]:
    """The byte-level BPE alphabet: printable bytes map to themselves, the rest to code points 256 + n."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + n)] = b
            n += 1
    return chars


def load_vocab(run_dir: str) -> Dict[int, str]:
    """id -> token string of tokenizer.json (merged tokens and special tokens)."""
    with open(os.path.join(run_dir, "tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    vocab = {i: s for s, i in t["model"]["vocab"].items()}
    for a in t.get("added_tokens", []):
        vocab[a["id"]] = a["content"]
    return vocab


def decode(vocab: Dict[int, str], ids: Iterable[int]) -> str:
    """Text of token ids (special tokens appear as their names, e.g. <|endoftext|>)."""
    table = _byte_unicode()
    out = bytearray()
    for i in ids:
        s = vocab[int(i)]
        if s.startswith("<|") and s.endswith("|>"):
            out += s.encode("utf-8")
        else:
            out += bytes(table[c] for c in s)
    return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------------- generation


@torch.no_grad()
def generate(model: LanguageModel, prompt: List[int], max_new_tokens: int, eos_id: Optional[int] = 256,
             use_cache: bool = False) -> List[int]:
    """Greedy continuation of one prompt, as smf's TextGenerator does it: every step runs the model on the last
    ``max_seq_len`` tokens (positions restart at 0 in the window) and takes the argmax; stops at ``eos_id`` (not
    returned) unless it is None. ``use_cache`` keeps keys and values instead of recomputing them, which gives the same
    tokens while the sequence fits in ``max_seq_len``; past that it falls back to recomputing the window."""
    model.eval()
    device = next(model.parameters()).device
    seq, out = list(prompt), []
    max_len = model.config.max_seq_len
    caches = model.new_caches() if use_cache else None
    fed = 0                      # tokens of seq already in the caches
    for _ in range(max_new_tokens):
        if caches is not None and len(seq) <= max_len:
            logits = model(torch.tensor([seq[fed:]], device=device), caches)
            fed = len(seq)
        else:
            logits = model(torch.tensor([seq[-max_len:]], device=device))
        nxt = int(logits[0, -1].argmax())
        seq.append(nxt)
        if eos_id is not None and nxt == eos_id:
            break
        out.append(nxt)
    return out
