"""What the trainer will see: rows rendered through LLaMA-Factory's template (in the train
environment, by studio/lf_render.py), token counts against cutoff_len, and dataset statistics."""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from studio import config, formats, models
from studio.words import Said

RENDERER = Path(__file__).with_name("lf_render.py")


class PreviewError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


# Seconds the renderer may go without a sign of life (loading LLaMA-Factory, or a batch of rows)
# before it is taken for hung; a large dataset takes as long as it needs.
QUIET_LIMIT = 180
PROGRESS = "STUDIO-PROGRESS "  # the renderer's progress lines on stderr: "<rows done> <rows>"
_runs: dict[str, dict] = {}
_lock = threading.Lock()
_KEEP = 8  # finished renderings remembered, for a page that asks again


def _check_cutoff(cutoff_len) -> None:
    if not 16 <= int(cutoff_len or 0) <= 131072:
        raise PreviewError(Said("Cutoff length must be between 16 and 131072 tokens (what the trainer keeps of each row).",
                                "截断长度须在 16 到 131072 个 token 之间（训练时每行保留的长度）。"))


def render(s: config.Settings, fmt: str, records: list[dict], rows: list[int], cutoff_len: int,
           model_dir: Path | None = None, with_segments: bool = True, progress=None) -> list[dict]:
    """The rows as LLaMA-Factory renders them; progress(done, total) as rows are rendered."""
    _check_cutoff(cutoff_len)
    model_dir = Path(model_dir or models.active_model(s))
    req = {"model": str(model_dir), "template": models.template_for(model_dir),
           "cutoff_len": int(cutoff_len), "info": {"file_name": "-", **formats.INFO[fmt]},
           "records": records, "rows": rows, "segments": with_segments}
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(s.hf_home), "TOKENIZERS_PARALLELISM": "false",
           "DISABLE_VERSION_CHECK": "1", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory(dir=s.path("tmp")) as tmp:
        out, src = Path(tmp) / "rendered.json", Path(tmp) / "request.json"
        src.write_text(json.dumps(req), encoding="utf-8")
        try:
            # -I: the script folder (studio/, with its own datasets.py) must not shadow libraries
            with src.open("rb") as inp:
                proc = subprocess.Popen([s.train_python, "-I", str(RENDERER), str(out)], stdin=inp,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        except OSError as e:
            raise PreviewError(Said(f"Could not run the training environment's renderer: {e}",
                                    f"无法运行训练环境里的渲染程序：{e}")) from e
        last, quiet = [time.monotonic()], [False]

        def watchdog():
            while proc.poll() is None:
                if time.monotonic() - last[0] > QUIET_LIMIT:
                    quiet[0] = True
                    proc.kill()
                time.sleep(1)

        threading.Thread(target=watchdog, daemon=True).start()
        tail = []
        for line in proc.stderr:
            last[0] = time.monotonic()
            if line.startswith(PROGRESS):
                done, total = (int(x) for x in line[len(PROGRESS):].split())
                if progress:
                    progress(done, total)
            else:
                tail = (tail + [line.rstrip()])[-20:]
        proc.wait()
        if quiet[0]:
            raise PreviewError(Said(f"The renderer gave no sign of life for {QUIET_LIMIT} s and was stopped: "
                                    "the machine may be overloaded; try again, or check fewer rows.",
                                    f"渲染程序 {QUIET_LIMIT} 秒没有响应，已被停止：机器可能负载过高，请重试，或少检查一些行。"))
        if proc.returncode != 0 or not out.exists():
            last_line = ([t for t in tail if t.strip()] or ["no output"])[-1]
            raise PreviewError(Said(f"LLaMA-Factory could not render these rows: {last_line}",
                                    f"LLaMA-Factory 无法渲染这些行：{last_line}"))
        return json.loads(out.read_text(encoding="utf-8"))["rows"]


def start(s: config.Settings, fmt: str, records: list[dict], rows: list[int], cutoff_len: int,
          model_dir: Path | None = None, with_segments: bool = True) -> dict:
    """render() in a background thread: {"status", "done", "total", "rows", "error"} to follow.
    The same request again (a page reloaded, a second click) gets the same run, running or done,
    so a closed page neither stops the work nor wastes it."""
    _check_cutoff(cutoff_len)
    model_dir = Path(model_dir or models.active_model(s))
    key = hashlib.sha256(json.dumps([fmt, records, rows, int(cutoff_len), str(model_dir), with_segments],
                                    sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    with _lock:
        run = _runs.get(key)
        if run is not None and run["status"] != "failed":
            return run
        run = _runs[key] = {"status": "running", "done": 0, "total": len(rows), "rows": None, "error": None}
        for old in [k for k, r in _runs.items() if r["status"] != "running"][:-_KEEP]:
            del _runs[old]

    def work():
        try:
            run["rows"] = render(s, fmt, records, rows, cutoff_len, model_dir, with_segments,
                                 progress=lambda done, total: run.update(done=done, total=total))
            run["status"] = "succeeded"
        except Exception as e:  # never lose the failure in a thread
            run.update(status="failed", error=e if isinstance(e, PreviewError) else
                       PreviewError(f"{type(e).__name__}: {e}"))

    threading.Thread(target=work, daemon=True, name="preview").start()
    return run


def wait(run: dict, progress=None, every: float = 0.3) -> list[dict]:
    """A started run's rows once rendered; progress(done, total) meanwhile."""
    while run["status"] == "running":
        if progress:
            progress(run["done"], run["total"])
        time.sleep(every)
    if run["status"] == "failed":
        raise run["error"]
    return run["rows"]


def over_cutoff(rendered: list[dict], cutoff_len: int) -> list[tuple[int, str]]:
    return [(r["row"], f"{r['length']} tokens, over the cutoff of {cutoff_len}: the end will be "
             "cut off in training") for r in rendered if r["length"] > cutoff_len]


def stats(fmt: str, records: list[dict], rendered: list[dict]) -> dict:
    lengths = [r["length"] for r in rendered]
    keys = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records]
    dupes = len(keys) - len(set(keys))
    return {"rows": len(records), "format": fmt, "duplicates": dupes,
            "tokens_min": min(lengths, default=0), "tokens_max": max(lengths, default=0),
            "tokens_mean": sum(lengths) / len(lengths) if lengths else 0, "lengths": lengths}
