"""Model catalog, local folders, hub download, the active model, and facts read from config.json."""
from __future__ import annotations

import json
import os
import re
import struct
import threading
from pathlib import Path

from studio import config, defaults, estimate
from studio.core import runtime
from studio.models import catalog
from studio.models.catalog import CATALOG, CONFIGS, CatalogEntry, catalog_config, entry  # noqa: F401
from studio.words import Said


class ModelError(ValueError):
    """A problem the user can act on; the message says what and how."""


def template_for(path: Path) -> str:
    """LLaMA-Factory template for a model folder: its catalog entry by name, else from model_type."""
    found = catalog.entry(Path(path).name) or catalog.derived(Path(path).name)
    return found.template if found else catalog.template_by_type(read_config(path))


def read_config(path: Path) -> dict:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        raise ModelError(Said(f"{path} has no config.json: not a Hugging Face model folder.",
                              f"{path} 中没有 config.json：不是 Hugging Face 模型文件夹。"))
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(Said(f"{cfg} is not valid JSON: {e}", f"{cfg} 不是有效的 JSON：{e}")) from e


def _safetensors_params(path: Path) -> int | None:
    """Exact parameter count from the safetensors headers, without loading any weights."""
    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for key, meta in header.items():
            if key != "__metadata__":
                count = 1
                for d in meta["shape"]:
                    count *= d
                total += count
    return total


def _formula_params(c: dict) -> int:
    """Dense decoder estimate from config.json, for folders whose weights are not here yet."""
    h, layers, vocab = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    heads = c["num_attention_heads"]
    kv = c.get("num_key_value_heads", heads)
    hd = c.get("head_dim") or h // heads
    inter = c.get("intermediate_size", 4 * h)
    attn = h * heads * hd * 2 + h * kv * hd * 2
    per_layer = attn + 3 * h * inter + 2 * h
    head = 0 if c.get("tie_word_embeddings") else vocab * h
    return vocab * h + layers * per_layer + h + head


def exact_params(path: Path) -> int | None:
    """A model folder's parameter count from its safetensors headers (no weights read)."""
    return _safetensors_params(Path(path))


def facts(path: Path | None = None, cfg: dict | None = None, name: str | None = None) -> dict:
    """Facts of a model folder (exact counts from its weights when present), or of a bare config."""
    if cfg is None:
        cfg = read_config(path)
        name = Path(path).name
    text = estimate.text_config(cfg)  # multimodal configs nest the language model
    exact = _safetensors_params(Path(path)) if path is not None else None
    heads = text.get("num_attention_heads")
    kv = text.get("num_key_value_heads") or heads
    try:
        counted = estimate.counts(cfg)
        total, active = counted.total, counted.active
    except Exception:  # an architecture this transformers does not know: fall back to arithmetic
        total = active = _formula_params(text)
    kv_bytes, mha_bytes = estimate.kv_bytes_per_token(cfg) if heads else (None, None)
    return {
        "name": name or "?",
        "architecture": (cfg.get("architectures") or [cfg.get("model_type", "?")])[0],
        "parameters": exact if exact is not None else total,
        "parameters_exact": exact is not None,
        "active_parameters": active,
        "layers": text.get("num_hidden_layers"),
        "hidden_size": text.get("hidden_size"),
        "attention_heads": heads,
        "kv_heads": kv,
        "gqa": bool(heads and kv and kv < heads),
        "mla": bool(text.get("kv_lora_rank")),
        "kv_cache_per_token": kv_bytes,
        "kv_cache_per_token_mha": mha_bytes,
        "context_length": text.get("max_position_embeddings"),
        "vocab_size": text.get("vocab_size"),
        "experts": text.get("n_routed_experts") or text.get("num_local_experts")
        or text.get("num_experts"),
        "experts_per_token": text.get("num_experts_per_tok"),
        "template": template_for(path) if path is not None else catalog.template_by_type(cfg),
    }


def detect_gpu() -> tuple[str, float] | None:
    """(name, GiB) of the first GPU this process may use, from nvidia-smi; None without one."""
    gpus = runtime.visible_gpus()
    return (gpus[0]["name"], gpus[0]["mib"] / 1024) if gpus else None


def human_count(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


# --- what is on disk, and which one is active -------------------------------------------------
def local_models(s: config.Settings) -> list[Path]:
    root = s.models
    found = sorted(p for p in root.iterdir()
                   if not p.name.startswith(".") and (p / "config.json").exists()) if root.exists() else []
    builtin = defaults.default_model_dir(s)  # the image keeps it outside the data root
    if builtin not in found and (builtin / "config.json").exists():
        found.insert(0, builtin)
    return found


def _state_file(s: config.Settings) -> Path:
    return s.path() / "state.json"


_state_lock = threading.Lock()


def _read_state(s: config.Settings) -> dict:
    try:
        return json.loads(_state_file(s).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the defaults, not a broken tab


def active_model(s: config.Settings, user: str | None = None) -> Path:
    """The model this user works on: each signed-in user has their own choice (one user's pick
    does not change another's tabs); the studio's own choice is the last one made without
    sign-in, and a new user starts on it."""
    state = _read_state(s)
    for raw in ((state.get("active_by_user") or {}).get(user or ""), state.get("active_model")):
        if raw and (Path(raw) / "config.json").exists():
            return Path(raw)
    return defaults.default_model_dir(s)


def set_active(s: config.Settings, folder: str | Path, user: str | None = None) -> Path:
    p = Path(folder).expanduser().resolve()
    read_config(p)  # raises a clear error for anything that is not a model folder
    with _state_lock:
        state = _read_state(s)
        if user:
            state.setdefault("active_by_user", {})[user] = str(p)
        else:
            state["active_model"] = str(p)
        # Written aside and renamed: an interrupted write never leaves a truncated file.
        tmp = _state_file(s).with_name(f".state.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(state, indent=2))
            os.replace(tmp, _state_file(s))
        finally:
            tmp.unlink(missing_ok=True)  # left only when the write failed (a full disk)
    return p


PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.py", "*.tiktoken"]
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def download_size(repo_id: str, token) -> int:
    """Bytes a download would fetch (the files matching PATTERNS), asked of the hub first."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    info = HfApi().model_info(repo_id, files_metadata=True, token=token)
    files = list(filter_repo_objects(info.siblings or [], allow_patterns=PATTERNS, key=lambda f: f.rfilename))
    return sum(f.size or 0 for f in files)


def download(s: config.Settings, repo_id: str, progress=None) -> Path:
    """Fetch a model from the hub into the models folder (resumable), up to the size cap."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    from studio.core import auth

    if not REPO_ID.match(repo_id or "") or ".." in repo_id:
        raise ModelError(Said(f"{repo_id!r} is not a hub model name: write it as owner/name, "
                              "for example Qwen/Qwen2.5-0.5B-Instruct.",
                              f"{repo_id!r} 不是 Hub 模型名称：请写成 所有者/名称，例如 Qwen/Qwen2.5-0.5B-Instruct。"))
    # False, not None: None would let the library take HF_TOKEN from the environment anyway.
    token = auth.hub_token(s, "download", None) or False
    target = s.models / repo_id.split("/")[-1]
    try:
        size = download_size(repo_id, token)
        if size > s.hub_max_download_gib * 2**30:
            raise ModelError(Said(f"{repo_id} is {size / 2**30:.1f} GiB, above this studio's download cap of "
                                  f"{s.hub_max_download_gib:g} GiB (the owner sets STUDIO_HUB_MAX_DOWNLOAD_GIB).",
                                  f"{repo_id} 有 {size / 2**30:.1f} GiB，超过了工作台的下载上限 "
                                  f"{s.hub_max_download_gib:g} GiB（由管理者通过 STUDIO_HUB_MAX_DOWNLOAD_GIB 设置）。"))
        snapshot_download(repo_id, local_dir=target, token=token, allow_patterns=PATTERNS)
    except ModelError:
        raise
    except GatedRepoError as e:
        raise ModelError(Said(f"{repo_id} is gated: accept its licence on the hub and set HF_TOKEN.",
                              f"{repo_id} 需要授权访问：请在 Hub 上接受它的许可协议，并设置 HF_TOKEN。")) from e
    except RepositoryNotFoundError as e:
        raise ModelError(Said(f"{repo_id} was not found on the hub (or is private: set HF_TOKEN).",
                              f"Hub 上找不到 {repo_id}（如果是私有模型，请设置 HF_TOKEN）。")) from e
    except Exception as e:  # offline, DNS, proxy: the library raises many kinds
        # The library's own text repeats itself ("...try again.. Offline, ..."): its kind is enough
        # to look it up.
        raise ModelError(Said(f"Could not reach the Hugging Face hub to download {repo_id} "
                              f"({type(e).__name__}): this machine is offline or the hub is blocked here. "
                              "Use a model folder on this machine, or the built-in default model.",
                              f"无法连接 Hugging Face Hub 下载 {repo_id}（{type(e).__name__}）：本机没有联网，"
                              "或这里屏蔽了 Hub。请使用本机上的模型文件夹，或内置的默认模型。")) from e
    return target
