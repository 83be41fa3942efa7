"""What the trainer will see: rows rendered through LLaMA-Factory's template (in the train
environment, by studio/lf_render.py), token counts against cutoff_len, and dataset statistics."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from studio import config, formats, models

RENDERER = Path(__file__).with_name("lf_render.py")


class PreviewError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


def render(s: config.Settings, fmt: str, records: list[dict], rows: list[int], cutoff_len: int,
           model_dir: Path | None = None, with_segments: bool = True) -> list[dict]:
    if not 16 <= int(cutoff_len or 0) <= 131072:
        raise PreviewError("Cutoff length must be between 16 and 131072 tokens (what the trainer keeps of each row).")
    model_dir = Path(model_dir or models.active_model(s))
    req = {"model": str(model_dir), "template": models.template_for(model_dir),
           "cutoff_len": int(cutoff_len), "info": {"file_name": "-", **formats.INFO[fmt]},
           "records": records, "rows": rows, "segments": with_segments}
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(s.hf_home), "TOKENIZERS_PARALLELISM": "false",
           "DISABLE_VERSION_CHECK": "1", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory(dir=s.path("tmp")) as tmp:
        out = Path(tmp) / "rendered.json"
        try:
            # -I: the script folder (studio/, with its own datasets.py) must not shadow libraries
            done = subprocess.run([s.train_python, "-I", str(RENDERER), str(out)],
                                  input=json.dumps(req), capture_output=True, text=True,
                                  timeout=300, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PreviewError(f"Could not run the training environment's renderer: {e}") from e
        if done.returncode != 0 or not out.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PreviewError(f"LLaMA-Factory could not render these rows: {last}")
        return json.loads(out.read_text(encoding="utf-8"))["rows"]


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
