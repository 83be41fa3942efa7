"""Can this installation train and serve a model? Answered from what the training and serving
environments said of themselves when setup built them (studio/models/envprobe.py), so that a
model the pinned LLaMA-Factory or vLLM cannot handle is named before a run fails minutes in."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from studio import config
from studio.words import Said

FILE = ".studio-support.json"


def probe_path(python: str) -> Path:
    """Where setup left an environment's answers: beside its bin/ folder."""
    return Path(python).parents[1] / FILE


def _load(python: str) -> dict | None:
    try:
        found = json.loads(probe_path(python).read_text())
    except (OSError, ValueError):
        return None
    return None if found.get("error") else found


@dataclass
class Verdict:
    train: bool | None  # None: not checked (an environment set up before the probe existed)
    train_why: Said | None
    serve: bool | None
    lora: bool | None
    serve_why: Said | None


# The one gap the probe finds in the catalog today, said in words a beginner can act on.
_NO_TORCHVISION = Said("its image processor needs torchvision, which this CPU installation leaves out "
                       "(PyPI's torchvision is built for CUDA and breaks a CPU torch); on a GPU machine "
                       "or in the CUDA image it is there",
                       "它的图像处理器需要 torchvision，而这套 CPU 安装没有装它（PyPI 上的 torchvision 是 CUDA "
                       "版本，会破坏 CPU 版的 torch）；GPU 机器或 CUDA 镜像里有它")


def _plain(problem: str) -> Said:
    return _NO_TORCHVISION if "torchvision" in problem else Said(problem, problem)


_UNCHECKED = Said("not checked here: run scripts/setup.sh once more to ask the environment",
                  "尚未检查：再运行一次 scripts/setup.sh，让环境回答")


def verdict(s: config.Settings, cfg: dict, template: str) -> Verdict:
    arch = (cfg.get("architectures") or [cfg.get("model_type", "?")])[0]
    return Verdict(*_train(_load(s.train_python), cfg, arch, template), *_serve(_load(s.serve_python), arch))


def _train(found: dict | None, cfg: dict, arch: str, template: str) -> tuple[bool | None, Said | None]:
    if found is None:
        return None, _UNCHECKED
    lf, tf = found.get("llamafactory", "?"), found.get("transformers", "?")
    if template not in found.get("templates", []):
        return False, Said(f"LLaMA-Factory {lf} has no chat template '{template}'.",
                           f"LLaMA-Factory {lf} 没有名为 '{template}' 的对话模板。")
    kind = cfg.get("model_type", "")
    if kind and kind not in found.get("model_types", []):
        return False, Said(f"transformers {tf} in the training environment does not know the model type "
                           f"'{kind}'.", f"训练环境里的 transformers {tf} 不认识模型类型 '{kind}'。")
    problem = found.get("archs", {}).get(arch)
    if problem:
        why = _plain(problem)
        return False, Said(f"the training environment cannot take {arch}: {why}",
                           f"训练环境无法处理 {arch}：{why.zh}")
    return True, None


def _serve(found: dict | None, arch: str) -> tuple[bool | None, bool | None, Said | None]:
    if found is None:
        return None, None, _UNCHECKED
    ver = found.get("vllm", "?")
    if arch not in found.get("supported", []):
        return False, False, Said(f"vLLM {ver} does not serve {arch}.", f"vLLM {ver} 不支持部署 {arch}。")
    probed = found.get("archs", {}).get(arch)
    if probed and probed.get("error"):
        why = _plain(probed["error"])
        return False, False, Said(f"vLLM {ver} cannot load {arch} here: {why}",
                                  f"这里的 vLLM {ver} 无法加载 {arch}：{why.zh}")
    if probed and not probed.get("lora"):
        return True, False, Said(f"vLLM {ver} serves {arch} without LoRA adapters: merge an adapter "
                                 "into the model to serve it.",
                                 f"vLLM {ver} 部署 {arch} 时不支持 LoRA 适配器：请先把适配器合并进模型再部署。")
    return True, True if probed else None, None


def refuse_training(s: config.Settings, cfg: dict, template: str) -> Said | None:
    """Why a run of this model would fail in the training environment, or None."""
    v = verdict(s, cfg, template)
    if v.train is False:
        return Said(f"This model cannot be trained here: {v.train_why}",
                    f"这个模型在这里无法训练：{v.train_why.zh}")
    return None


def refuse_serving(s: config.Settings, cfg: dict, adapters: bool) -> Said | None:
    """Why a deployment of this model (with adapters or not) would fail, or None."""
    v = verdict(s, cfg, "default")
    if v.serve is False or (adapters and v.lora is False):
        return Said(f"This model cannot be deployed here: {v.serve_why}",
                    f"这个模型在这里无法部署：{v.serve_why.zh}")
    return None
