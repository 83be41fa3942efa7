"""Exact parameter counts and peak-memory estimates, from a model's config.json alone.

Counts come from the real architecture: transformers builds the model on the "meta" device (shapes,
no memory, a second or two even for 72B), and we walk its modules the way LLaMA-Factory and peft
do. So the trainable count is the one peft prints, for any architecture transformers knows.

Memory model (bytes; documented in docs/memory.md with how it was checked):
  weights      P x bytes/param of the method (bf16 2, fp32 4, NF4 ~0.5 for linear layers)
  adapters     LoRA params x 4 (LLaMA-Factory keeps trainable params in fp32)
  gradients    trainable x 4 (fp32), or P x 2 for a bf16 full fine-tune
  optimizer    AdamW: two moments per trainable param, 4 bytes each (2 in pure bf16)
  activations  per layer and token: the tensors autograd saves, itemised in _layer_activation;
               with gradient checkpointing only each layer's input plus one layer recomputed
  logits       batch x seq x vocab x 12 (bf16 logits, fp32 copy for the loss, fp32 gradient)
  kv cache     inference only: 2 x layers x kv heads x head dim x bytes, per token
  overhead     CUDA context and allocator slack, a fixed 0.75 GiB
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from studio.words import Said

GIB = 1024**3
METHODS = ("inference", "lora", "qlora", "full_bf16", "full_fp32")
FORBIDDEN = {"lm_head": (), "output_layer": ("chatglm",), "output": ("internlm2",)}
OVERHEAD = int(0.75 * GIB)


@dataclass(frozen=True)
class Counts:
    total: int
    active: int  # per token; differs from total for mixture-of-experts models
    linear: dict  # module short name -> list of (in_features, out_features), LoRA candidates
    quantizable: int  # params in nn.Linear layers (what QLoRA stores in 4 bit)


def _config(cfg: dict):
    from transformers import AutoConfig

    cfg = {k: v for k, v in cfg.items() if k not in ("auto_map", "quantization_config")}
    return AutoConfig.for_model(cfg.pop("model_type"), **cfg)


@lru_cache(maxsize=32)
def _counts_cached(cfg_json: str) -> Counts:
    import torch
    from transformers import AutoModelForCausalLM

    cfg = json.loads(cfg_json)
    model_type = cfg.get("model_type")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(_config(cfg))
    total = experts = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if ".experts." in name and ".shared_experts." not in name:
            experts += p.numel()
    forbidden = [k for k, types in FORBIDDEN.items() if not types or model_type in types]
    linear: dict[str, list] = {}
    quantizable = 0
    for name, mod in model.named_modules():
        kind = type(mod).__name__
        if "Linear" in kind and "Embedding" not in kind:
            if not any(f in name for f in forbidden):
                linear.setdefault(name.split(".")[-1], []).append((mod.in_features, mod.out_features))
                quantizable += mod.in_features * mod.out_features
    t = text_config(cfg)
    n_exp = t.get("n_routed_experts") or t.get("num_local_experts") or t.get("num_experts")
    k = t.get("num_experts_per_tok") or 0
    active = total - experts + (experts * k // n_exp if n_exp else 0)
    return Counts(total=total, active=active, linear=linear, quantizable=quantizable)


def counts(cfg: dict) -> Counts:
    return _counts_cached(json.dumps(cfg, sort_keys=True))


def lora_targets(c: Counts, targets: str) -> list[str]:
    """LLaMA-Factory's lora_target: 'all' means every linear layer but the output head."""
    if targets.strip() == "all":
        return sorted(c.linear)
    return [t.strip() for t in targets.split(",") if t.strip()]


def lora_params(c: Counts, rank: int, targets: str) -> int:
    """Exactly what peft adds: lora_A (in x r) and lora_B (r x out) on every targeted linear."""
    names = lora_targets(c, targets)
    unknown = [n for n in names if n not in c.linear]
    if unknown:
        raise ValueError(Said(f"No linear layers named {', '.join(unknown)} in this model; it has "
                              f"{', '.join(sorted(c.linear))}.",
                              f"这个模型没有名为 {', '.join(unknown)} 的线性层；它有 {', '.join(sorted(c.linear))}。"))
    return sum(rank * (i + o) for n in names for i, o in c.linear[n])


def text_config(cfg: dict) -> dict:
    """The language model's settings, with transformers' defaults for what config.json leaves out
    (Gemma 3's published config names almost nothing of its text side)."""
    return _text_config(json.dumps(cfg, sort_keys=True))


@lru_cache(maxsize=64)
def _text_config(cfg_json: str) -> dict:
    cfg = json.loads(cfg_json)
    try:
        full = _config(cfg).get_text_config().to_dict()
    except Exception:  # a model type this transformers does not know: what the file says
        full = {}
    return {**full, **cfg.get("text_config", cfg)}


def head_dims(cfg: dict) -> tuple[int, int, int, int]:
    """(attention heads, kv heads, head dim, layers)."""
    t = text_config(cfg)
    heads = t["num_attention_heads"]
    return heads, t.get("num_key_value_heads") or heads, t.get("head_dim") or \
        t["hidden_size"] // heads, t["num_hidden_layers"]


def kv_bytes_per_token(cfg: dict, dtype_bytes: int = 2) -> tuple[int, int]:
    """(this model's KV cache per token, the same model with full multi-head attention)."""
    t = text_config(cfg)
    heads, kv, hd, layers = head_dims(cfg)
    full = 2 * layers * heads * hd * dtype_bytes
    if t.get("kv_lora_rank"):  # DeepSeek's MLA caches one compressed latent plus the rope key
        k_dim = t.get("qk_nope_head_dim", 0) + t.get("qk_rope_head_dim", 0)
        full = layers * heads * (k_dim + t.get("v_head_dim", hd)) * dtype_bytes
        return layers * (t["kv_lora_rank"] + t.get("qk_rope_head_dim", 0)) * dtype_bytes, full
    return 2 * layers * kv * hd * dtype_bytes, full


QK_NORM = ("qwen3", "qwen3_moe", "gemma3_text", "gemma3")  # RMSNorm on each head's q and k
SANDWICH_NORM = ("gemma2", "gemma3_text", "gemma3")  # norms before and after attention and MLP


def _layer_activation(cfg: dict, bytes_per: int) -> int:
    """Bytes autograd keeps per token in one decoder layer (flash/SDPA attention: no s^2 term)."""
    t = text_config(cfg)
    h = t["hidden_size"]
    heads, kv, hd, _ = head_dims(cfg)
    moe = t.get("n_routed_experts") or t.get("num_experts") or t.get("num_local_experts")
    k = max(1, t.get("num_experts_per_tok") or 1) if moe else 1
    # DeepSeek and Qwen3-MoE name an expert's width apart; Mixtral's experts are intermediate_size wide
    inter = ((t.get("moe_intermediate_size") if moe else None) or t.get("intermediate_size") or 4 * h) * k
    # attention: norm in/out, q, k, v, attention output; MLP: norm in/out, gate, up, act, product;
    # plus the fp32 upcast inside each RMSNorm (2 norms x h x 4 bytes)
    attn = 2 * h + heads * hd + 2 * kv * hd + heads * hd
    if t.get("kv_lora_rank"):  # DeepSeek's MLA: q, the compressed kv and its norm, kv expanded per head
        nope, rope, v = t.get("qk_nope_head_dim", 0), t.get("qk_rope_head_dim", 0), t.get("v_head_dim", hd)
        lat, ql = t["kv_lora_rank"], t.get("q_lora_rank") or 0
        attn = (2 * h + 3 * ql + heads * (nope + rope) + lat + rope + 2 * lat + heads * (nope + v)
                + heads * (nope + rope) + heads * v + heads * rope + rope + heads * v)
    mlp = 2 * h + 4 * inter
    norms = 2 * h * 4  # the fp32 upcast inside each of the two RMSNorms
    if t.get("model_type") in QK_NORM:  # q and k normalised per head: their inputs and outputs kept
        attn += 2 * (heads + kv) * hd
    if t.get("model_type") in SANDWICH_NORM:  # two more norms, around the attention and the MLP
        mlp, norms = mlp + 2 * h, 2 * norms
    if moe:  # each token's hidden state copied to its k experts, and their outputs gathered back
        mlp += 2 * k * h + 4 * (t.get("n_shared_experts") or 0) * (t.get("moe_intermediate_size") or 0)
    return (attn + mlp) * bytes_per + norms


def estimate(cfg: dict, method: str = "lora", rank: int = 8, targets: str = "all",
             batch: int = 1, seq: int = 1024, grad_ckpt: bool = True, bf16: bool = True) -> dict:
    """Peak accelerator memory in bytes, by part, for one configuration."""
    if method not in METHODS:
        raise ValueError(Said(f"method must be one of {', '.join(METHODS)}",
                              f"方法只能是 {'、'.join(METHODS)} 之一"))
    c = counts(cfg)
    t = text_config(cfg)
    layers, vocab = t["num_hidden_layers"], t["vocab_size"]
    act_bytes = 2 if bf16 else 4
    tokens = batch * seq
    part = dict.fromkeys(("weights", "adapters", "gradients", "optimizer", "activations",
                          "logits", "kv_cache", "overhead"), 0)
    part["overhead"] = OVERHEAD
    trainable = 0
    if method == "inference":
        part["weights"] = c.total * act_bytes
        part["kv_cache"] = kv_bytes_per_token(cfg, act_bytes)[0] * tokens
        part["logits"] = batch * vocab * 4  # only the last position is kept while generating
    else:
        if method in ("lora", "qlora"):
            trainable = lora_params(c, rank, targets)
            if method == "qlora":  # NF4 with double quantisation: ~4.127 bits per weight
                part["weights"] = int(c.quantizable * 4.127 / 8) + (c.total - c.quantizable) * 2
            else:
                part["weights"] = c.total * act_bytes
            part["adapters"] = trainable * 4
            part["gradients"] = trainable * 4
            part["optimizer"] = trainable * 8
        elif method == "full_bf16":
            trainable = c.total
            part["weights"], part["gradients"], part["optimizer"] = c.total * 2, c.total * 2, c.total * 4
        else:  # full_fp32: fp32 master weights, fp32 gradients, fp32 AdamW moments
            trainable = c.total
            part["weights"], part["gradients"], part["optimizer"] = c.total * 4, c.total * 4, c.total * 8
        per_layer = _layer_activation(cfg, act_bytes) * tokens
        if grad_ckpt:
            part["activations"] = layers * tokens * t["hidden_size"] * act_bytes + per_layer
        else:
            part["activations"] = layers * per_layer
        part["logits"] = tokens * vocab * 12
    total_params = c.total + (trainable if method in ("lora", "qlora") else 0)
    return {"parts": part, "total": sum(part.values()), "trainable": trainable,
            "all_params": total_params, "share": 100 * trainable / total_params,
            "params": c.total, "active_params": c.active}


def per_gpu(est: dict, gpus: int = 1, zero: str = "") -> dict:
    """What each of gpus holds when a run is spread over them (batch size per GPU as given).
    Data parallel alone copies everything; ZeRO-2 splits gradients and optimizer states; ZeRO-3
    also splits the weights. Activations and logits stay per GPU."""
    if gpus <= 1:
        return {**est, "gpus": 1}
    split = {"2": ("gradients", "optimizer"),
             "3": ("weights", "reference", "adapters", "gradients", "optimizer")}.get(zero, ())
    parts = {k: (-(-v // gpus) if k in split else v) for k, v in est["parts"].items()}
    return {**est, "parts": parts, "total": sum(parts.values()), "gpus": gpus}


def peft_line(est: dict) -> str:
    """The line peft prints for this configuration."""
    return (f"trainable params: {est['trainable']:,} || all params: {est['all_params']:,} "
            f"|| trainable%: {est['share']:.4f}")
