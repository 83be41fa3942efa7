"""Parameter counts against published numbers and peft's own line; activations against what
autograd really saves."""
import json

import pytest

from studio import config, estimate, models

CONFIGS = config.REPO / "assets" / "configs"


def cfg(name):
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.mark.parametrize("name,total", [
    ("Qwen2.5-0.5B-Instruct", 494_032_768), ("Qwen2.5-7B-Instruct", 7_615_616_512),
    ("Llama-3.1-8B-Instruct", 8_030_261_248), ("Llama-3.2-1B-Instruct", 1_235_814_400),
    ("DeepSeek-V2-Lite-Chat", 15_706_484_224), ("glm-4-9b-chat-hf", 9_399_951_360),
])
def test_totals_match_the_published_sizes(name, total):
    assert estimate.counts(cfg(name)).total == total


def test_moe_active_parameters_count_only_the_chosen_experts():
    c = estimate.counts(cfg("DeepSeek-V2-Lite-Chat"))  # 64 routed experts, 6 per token
    assert 2.4e9 < c.active < 2.8e9 < 15e9 < c.total


@pytest.mark.parametrize("name,rank,targets,line", [
    # the lines peft prints for these models (LLaMA-Factory logs them at start-up)
    ("Llama-3.1-8B-Instruct", 8, "all",
     "trainable params: 20,971,520 || all params: 8,051,232,768 || trainable%: 0.2605"),
    ("Qwen2.5-7B-Instruct", 8, "all",
     "trainable params: 20,185,088 || all params: 7,635,801,600 || trainable%: 0.2643"),
    ("Qwen2.5-0.5B-Instruct", 16, "q_proj,v_proj",
     "trainable params: 1,081,344 || all params: 495,114,112 || trainable%: 0.2184"),
])
def test_trainable_line_is_the_one_peft_prints(name, rank, targets, line):
    assert estimate.peft_line(estimate.estimate(cfg(name), "lora", rank, targets)) == line


def test_default_model_matches_its_real_training_log(settings):
    c = models.read_config(models.active_model(settings))
    est = estimate.estimate(c, "lora", 8, "all")
    # as LLaMA-Factory printed it on this machine for the sample run
    assert estimate.peft_line(est) == \
        "trainable params: 2,442,240 || all params: 136,957,248 || trainable%: 1.7832"


def test_unknown_target_modules_are_named():
    with pytest.raises(ValueError, match="No linear layers named qkv"):
        estimate.estimate(cfg("Qwen2.5-0.5B-Instruct"), "lora", 8, "qkv")


def test_gqa_and_mla_shrink_the_kv_cache():
    kv, full = estimate.kv_bytes_per_token(cfg("Llama-3.1-8B-Instruct"))
    assert (kv, full) == (131_072, 524_288)  # 8 KV heads instead of 32: a quarter
    kv, full = estimate.kv_bytes_per_token(cfg("DeepSeek-V2-Lite-Chat"))
    assert kv == 27 * (512 + 64) * 2 and full == 27 * 16 * (192 + 128) * 2 and kv < full / 8


def test_memory_grows_as_expected_between_methods():
    c = cfg("Llama-3.1-8B-Instruct")
    inf, lora, qlora = (estimate.estimate(c, m, seq=1024)["total"]
                        for m in ("inference", "lora", "qlora"))
    full16, full32 = (estimate.estimate(c, m, seq=1024)["total"] for m in ("full_bf16", "full_fp32"))
    assert qlora < inf < lora < full16 < full32
    assert 14 < lora / estimate.GIB < 20 and 7 < qlora / estimate.GIB < 11
    parts = estimate.estimate(c, "full_fp32")["parts"]
    assert parts["weights"] + parts["gradients"] + parts["optimizer"] == 16 * 8_030_261_248
    ckpt = estimate.estimate(c, "lora", batch=4, seq=2048, grad_ckpt=True)["parts"]["activations"]
    full = estimate.estimate(c, "lora", batch=4, seq=2048, grad_ckpt=False)["parts"]["activations"]
    assert full > 8 * ckpt


@pytest.mark.parametrize("name,over", [
    ("SmolLM2-360M-Instruct", {}), ("Qwen2.5-0.5B-Instruct", {}),
    ("gemma-3-270m-it", {}),  # q/k norms, and norms before and after attention and MLP
    # Per-token activations do not depend on how many experts there are (each token meets k of
    # them) nor on the vocabulary: fewer of both keep these copies small enough to run here.
    ("Qwen3-30B-A3B", {"num_experts": 16, "vocab_size": 1024}),  # q/k norms and routed experts
    ("DeepSeek-V2-Lite-Chat", {"n_routed_experts": 8, "vocab_size": 1024, "first_k_dense_replace": 0}),  # MLA
])
def test_activation_term_matches_what_autograd_saves(name, over):
    """Per-layer activations: the estimate against the bytes autograd saves for backward, measured
    as the slope between a 2-layer and a 3-layer copy of the model (fp32, CPU, SDPA attention)."""
    import torch
    from transformers import AutoModelForCausalLM

    def saved_bytes(layers):
        c = {**cfg(name), **over, "num_hidden_layers": layers}
        if "layer_types" in c:
            c["layer_types"] = c["layer_types"][:layers]
        model = AutoModelForCausalLM.from_config(estimate._config(dict(c)),
                                                 attn_implementation="sdpa", dtype=torch.float32)
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        ids = torch.randint(0, estimate.text_config(c)["vocab_size"], (1, 128))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(input_ids=ids, labels=ids)
        weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        return sum(n for ptr, n in seen.items() if ptr not in weights)

    measured = saved_bytes(3) - saved_bytes(2)
    predicted = estimate._layer_activation({**cfg(name), **over}, 4) * 128
    assert abs(predicted - measured) / measured < 0.05
