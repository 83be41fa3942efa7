"""The model catalog: today's open instruct models with their config.json shipped (so facts and
memory estimates work offline) and the LLaMA-Factory template each one really has in the pinned
LLaMA-Factory (its own model registry, extras/constants.py, was read for every entry)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from studio import config
from studio.words import Said

CONFIGS = config.REPO / "assets" / "configs"  # config.json of catalog models, for offline facts


@dataclass(frozen=True)
class CatalogEntry:
    repo_id: str
    family: str
    size: str
    template: str  # LLaMA-Factory's template name for this model; a wrong one makes a tuned model babble
    note: Said | None = None  # what a beginner should know before picking it


_THINKS = Said("A reasoning model: its answers open with a <think> section. Train it on answers that "
               "keep one, or it unlearns the reasoning.",
               "推理模型：回答以 <think> 思考段开头。训练数据的回答也要保留思考段，否则它会丢掉推理能力。")
_QWEN3 = Said("Thinks before answering by default (template qwen3); LLaMA-Factory's qwen3_nothink "
              "template trains plain answers.",
              "默认先思考再回答（模板 qwen3）；想训练直接回答，可用 LLaMA-Factory 的 qwen3_nothink 模板。")
_VISION = Said("Reads images too (a vision tower of 0.4B parameters); the studio's datasets and chat "
               "are text only.",
               "也能看图（0.4B 参数的视觉编码器）；工作台的数据集和对话只用文字。")

CATALOG = [
    CatalogEntry("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2", "135M", "smollm2"),
    CatalogEntry("HuggingFaceTB/SmolLM2-360M-Instruct", "SmolLM2", "360M", "smollm2"),
    CatalogEntry("Qwen/Qwen3-0.6B", "Qwen3", "0.6B", "qwen3", _QWEN3),
    CatalogEntry("Qwen/Qwen3-1.7B", "Qwen3", "1.7B", "qwen3", _QWEN3),
    CatalogEntry("Qwen/Qwen3-4B", "Qwen3", "4B", "qwen3", _QWEN3),
    CatalogEntry("Qwen/Qwen3-8B", "Qwen3", "8B", "qwen3", _QWEN3),
    CatalogEntry("Qwen/Qwen3-30B-A3B", "Qwen3", "30B MoE (3.3B active)", "qwen3", _QWEN3),
    CatalogEntry("Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5", "0.5B", "qwen"),
    CatalogEntry("Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5", "1.5B", "qwen"),
    CatalogEntry("Qwen/Qwen2.5-7B-Instruct", "Qwen2.5", "7B", "qwen"),
    CatalogEntry("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "DeepSeek-R1-Distill", "1.5B", "deepseekr1", _THINKS),
    CatalogEntry("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill", "7B", "deepseekr1", _THINKS),
    CatalogEntry("deepseek-ai/DeepSeek-V2-Lite-Chat", "DeepSeek", "16B MoE (2.4B active)", "deepseek"),
    CatalogEntry("meta-llama/Llama-3.2-1B-Instruct", "Llama 3.x", "1B", "llama3"),
    CatalogEntry("meta-llama/Llama-3.2-3B-Instruct", "Llama 3.x", "3B", "llama3"),
    CatalogEntry("meta-llama/Llama-3.1-8B-Instruct", "Llama 3.x", "8B", "llama3"),
    # LLaMA-Factory registers the text-only Gemma 3 models under its gemma2 template.
    CatalogEntry("google/gemma-3-270m-it", "Gemma 3", "270M", "gemma2"),
    CatalogEntry("google/gemma-3-1b-it", "Gemma 3", "1B", "gemma2"),
    CatalogEntry("google/gemma-3-4b-it", "Gemma 3", "4B (text + vision)", "gemma3", _VISION),
    CatalogEntry("THUDM/glm-4-9b-chat-hf", "GLM-4", "9B", "glm4"),
]

# A folder that is not a catalog model: its template from its model_type.
BY_TYPE = {"qwen2": "qwen", "qwen3": "qwen3", "qwen3_moe": "qwen3", "llama": "llama3",
           "deepseek_v2": "deepseek", "gemma3_text": "gemma2", "gemma3": "gemma3", "glm4": "glm4",
           "glm": "glm4", "chatglm": "glm4"}


def entry(name: str) -> CatalogEntry | None:
    """The catalog entry for a hub id or a folder name (case-insensitive), if any."""
    name = str(name).lower()
    return next((e for e in CATALOG if name in (e.repo_id.lower(), e.repo_id.split("/")[1].lower())), None)


def derived(name: str) -> CatalogEntry | None:
    """The entry a merged or fully tuned model came from: the studio names those folders
    <base folder>-<run>, and the base's template is theirs (model_type alone can mislead)."""
    name = str(name).lower()
    found = [e for e in CATALOG if name.startswith(e.repo_id.split("/")[1].lower() + "-")]
    return max(found, key=lambda e: len(e.repo_id), default=None)


def template_by_type(cfg: dict) -> str:
    return BY_TYPE.get(cfg.get("model_type", ""), "default")


def catalog_config(repo_id: str) -> dict:
    """The shipped config.json of a catalog model, so its facts show before any download."""
    from studio.models import ModelError

    f = CONFIGS / f"{repo_id.split('/')[-1]}.json"
    if not f.exists():
        raise ModelError(Said(f"No shipped config for {repo_id}: download it, then read its facts.",
                              f"工作台没有附带 {repo_id} 的配置：请先下载，再查看它的参数。"))
    return json.loads(f.read_text())
