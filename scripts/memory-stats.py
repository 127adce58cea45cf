#!/usr/bin/env python3
"""How a memory layer reads, on given texts: per-head score spread, top-1 weight, effective slots per head (exp of the
read weights' entropy), gate scale, the read gain (docs/own-model.md#read-gain: mean of (Σ w²)·‖W2 diag g‖²_F / D) and
the distinct slots among all reads. Used for the retrofit comparison in docs/own-model.md#retrofit-here.

usage:
  smf logits --model DIR --text "…" [--text "…" …] --out TOKENS.safetensors     # token ids of the texts (any model of the same tokenizer)
  scripts/memory-stats.py TOKENS.safetensors RUN [RUN …]

A RUN with memory built in is read as is; a retrofitted RUN (model.memory.parallel) is read on the hidden states of
its backbone (config.json's `backbone`), the memory applied beside the FFN as smf does. Needs torch and numpy
(bench/pytorch/model.py is imported).
"""
import json, os, sys
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "pytorch"))
import model as M  # noqa: E402

torch.set_num_threads(1)


def memory_inputs(lm, layer, sequences):
    """The input of block `layer`'s FFN (after ffn_norm) for each sequence, concatenated over tokens."""
    out = []
    hook = lm.layers[layer].ffn_norm.register_forward_hook(lambda mod, inp, o: out.append(o.detach()))
    with torch.no_grad():
        for t in sequences:
            lm(t[None])
    hook.remove()
    return torch.cat([o.reshape(-1, o.shape[-1]) for o in out])


def stats(mem, x, values):
    with torch.no_grad():
        ids, scores = mem.search(x)                                       # (BT, H, K)
        w = torch.softmax(scores, -1)
        entropy = -(w * torch.log(w + 1e-30)).sum(-1)
        g = F.silu(mem.gate_proj(x)) if mem.gate_proj is not None else torch.ones(x.shape[0], values.shape[1])
        W2 = mem.out_proj.weight                                          # (D, Dv)
        j = (W2.pow(2).sum(0)[None, :] * g.pow(2)).sum(1)                 # ‖W2 diag g‖²_F per token
        gain = (w.pow(2).sum((1, 2)) * j).mean() / W2.shape[0]
        return {"score_std": scores.std(-1).mean().item(), "top1_weight": w[..., 0].mean().item(),
                "effective_slots_per_head": entropy.exp().mean().item(), "gate_rms": g.pow(2).mean().sqrt().item(),
                "read_gain": gain.item(), "distinct_slots": ids.unique().numel(), "reads": ids.numel()}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tensors, _ = M.read_safetensors(sys.argv[1])
    sequences = [tensors[f"tokens.{i}"] for i in range(sum(k.startswith("tokens.") for k in tensors))]
    for run in sys.argv[2:]:
        cfg_json = M.read_json_with_comments(os.path.join(run, "config.json"))
        cfg = M.ModelConfig.from_dict(cfg_json["model"])
        if not (cfg_json["model"].get("memory") or {}).get("parallel"):
            lm, cfg = M.load_run(run)
            for layer in cfg.memory.layers:
                print(json.dumps({"run": run, "layer": layer, **stats(lm.layers[layer].memory, memory_inputs(lm, layer, sequences),
                                                                        lm.memory_values.weight)}))
            continue
        backbone, _ = M.load_run(cfg_json["backbone"])
        state, _ = M.read_safetensors(os.path.join(run, "model.safetensors"))
        for layer in cfg.memory.layers:
            mem = M.ProductKeyMemory(cfg.dim, cfg.memory)
            prefix = f"layers.{layer}.memory."
            mem.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            print(json.dumps({"run": run, "layer": layer, **stats(mem, memory_inputs(backbone, layer, sequences),
                                                                  state["memory_values.weight"])}))


if __name__ == "__main__":
    main()
