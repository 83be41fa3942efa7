"""What the training or the serving environment can really do with each architecture, asked of
the installed libraries themselves (setup runs it once per environment build):

    <train python> -I studio/models/envprobe.py train CONFIGS_DIR   > train/.studio-support.json
    <serve python> -I studio/models/envprobe.py serve CONFIGS_DIR   > serve/.studio-support.json

train: LLaMA-Factory's template names and the template its model registry gives each hub id,
the model types its transformers knows, and for each
architecture of the shipped configs whether transformers builds it (on the meta device: no
memory) and, for a model with a vision tower, whether its image processor can load (it needs
torchvision, which the CPU environments leave out).
serve: every architecture vLLM serves, and for each shipped one whether its class loads and
whether it takes LoRA adapters.

Standard library plus the environment's own packages: it runs under their python with -I.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _configs(folder: str) -> dict[str, dict]:
    """architecture -> one shipped config.json with it."""
    found: dict[str, dict] = {}
    for f in sorted(Path(folder).glob("*.json")):
        cfg = json.loads(f.read_text())
        for arch in cfg.get("architectures") or []:
            found.setdefault(arch, cfg)
    return found


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]


def train(folder: str) -> dict:
    import torch
    import transformers
    from llamafactory.data.template import TEMPLATES
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    try:
        import torchvision  # noqa: F401 - image processors of vision-language models need it
        vision = ""
    except Exception as e:  # noqa: BLE001 - a CUDA torchvision beside a CPU torch fails in many ways
        vision = _why(e)
    archs = {}
    for arch, cfg in _configs(folder).items():
        try:
            cfg = {k: v for k, v in cfg.items() if k not in ("auto_map", "quantization_config")}
            conf = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
            with torch.device("meta"):
                getattr(transformers, arch)._from_config(conf)
            archs[arch] = "" if not (vision and "vision_config" in cfg) else \
                "its image processor needs torchvision: " + vision
        except Exception as e:  # noqa: BLE001 - the reason is what the probe reports
            archs[arch] = _why(e)
    import llamafactory
    from llamafactory.extras.constants import DEFAULT_TEMPLATE, SUPPORTED_MODELS

    # hub id -> the template LLaMA-Factory's own model registry gives it (chat models only)
    registry = {repo.lower(): DEFAULT_TEMPLATE[name] for name, sources in SUPPORTED_MODELS.items()
                if DEFAULT_TEMPLATE.get(name) for repo in sources.values()}
    return {"env": "train", "llamafactory": llamafactory.__version__,
            "transformers": transformers.__version__, "templates": sorted(TEMPLATES),
            "model_types": sorted(CONFIG_MAPPING_NAMES), "archs": archs, "registry": registry}


def serve(folder: str) -> dict:
    import vllm
    from vllm.model_executor.models.interfaces import supports_lora
    from vllm.model_executor.models.registry import ModelRegistry

    supported = sorted(ModelRegistry.get_supported_archs())
    archs = {}
    for arch in _configs(folder):
        if arch not in supported:
            continue
        try:
            cls = ModelRegistry.models[arch].load_model_cls()  # raises what the import hit
            archs[arch] = {"error": "", "lora": bool(supports_lora(cls))}
        except Exception as e:  # noqa: BLE001
            archs[arch] = {"error": _why(e), "lora": False}
    return {"env": "serve", "vllm": vllm.__version__, "supported": supported, "archs": archs}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("train", "serve"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        found = (train if argv[0] == "train" else serve)(argv[1])
    except Exception as e:  # noqa: BLE001 - e.g. vLLM's CUDA build on a machine without a GPU
        found = {"env": argv[0], "error": _why(e)}
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
