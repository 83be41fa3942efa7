"""Alpaca datasets: load, validate, save with versions, and register for LLaMA-Factory.

Files live in DATA_ROOT/datasets/<name>.json. Every save first moves the previous file to
datasets/.versions/<name>/<timestamp>.json, so nothing is ever overwritten without a copy.
dataset_info.json (LLaMA-Factory's registry) is written by the studio; users never edit it.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from studio import config

FIELDS = ("instruction", "input", "output")
SAMPLE = config.REPO / "assets" / "sample_dataset.json"
SAMPLE_NAME = "support_sample"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


class DatasetError(ValueError):
    """A problem the user can act on; the message says what and how."""


def folder(s: config.Settings) -> Path:
    d = s.path("datasets")
    if not (d / f"{SAMPLE_NAME}.json").exists():
        shutil.copyfile(SAMPLE, d / f"{SAMPLE_NAME}.json")
        _register(d)
    return d


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise DatasetError(f"'{name}' is not a valid dataset name: use letters, digits, '_' or '-' "
                           "(up to 64), starting with a letter or digit.")
    return name


def list_names(s: config.Settings) -> list[str]:
    return sorted(p.stem for p in folder(s).glob("*.json") if p.name != "dataset_info.json")


def load(s: config.Settings, name: str) -> list[dict]:
    path = folder(s) / f"{check_name(name)}.json"
    if not path.exists():
        raise DatasetError(f"There is no dataset named '{name}'.")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path.name} is not valid JSON (line {e.lineno}): {e.msg}") from e
    if not isinstance(rows, list):
        raise DatasetError(f"{path.name} must hold a JSON list of rows.")
    return [{k: str(r.get(k, "") if isinstance(r, dict) else "") for k in FIELDS} for r in rows]


def normalise(rows) -> list[dict]:
    """Rows from the table editor (lists or dicts, None for empty cells) -> clean Alpaca dicts."""
    out = []
    for r in rows:
        if isinstance(r, dict):
            vals = [r.get(k) for k in FIELDS]
        else:
            vals = list(r)[: len(FIELDS)] + [None] * (len(FIELDS) - len(r))
        vals = ["" if v is None else str(v) for v in vals]
        if any(v.strip() for v in vals):  # a fully blank row is an unused editor line, not data
            out.append(dict(zip(FIELDS, vals)))
    return out


def validate(rows: list[dict]) -> list[tuple[int, str]]:
    """(row number starting at 1, problem) for every row that would train badly or not at all."""
    problems = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows, start=1):
        if not r.get("instruction", "").strip():
            problems.append((i, "instruction is empty"))
        if not r.get("output", "").strip():
            problems.append((i, "output is empty: the model would learn to say nothing"))
        key = (r.get("instruction", "").strip(), r.get("input", "").strip())
        if key[0] and key in seen:
            problems.append((i, f"same instruction and input as row {seen[key]}"))
        seen.setdefault(key, i)
    if not rows:
        problems.append((0, "the dataset has no rows"))
    return problems


def save(s: config.Settings, name: str, rows) -> Path:
    """Validate, keep the previous version, then write. Refuses (and writes nothing) if invalid."""
    name = check_name(name)
    rows = normalise(rows)
    problems = validate(rows)
    if problems:
        raise DatasetError("Not saved: " + "; ".join(
            f"row {i}: {msg}" if i else msg for i, msg in problems[:10])
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    d = folder(s)
    path = d / f"{name}.json"
    if path.exists():
        vdir = d / ".versions" / name
        vdir.mkdir(parents=True, exist_ok=True)
        t = time.time_ns()  # one clock reading, so names sort in save order
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t / 1e9)) + f".{t % 10**9:09d}"
        shutil.copy2(path, vdir / f"{stamp}.json")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    _register(d)
    return path


def versions(s: config.Settings, name: str) -> list[Path]:
    return sorted((folder(s) / ".versions" / check_name(name)).glob("*.json"), reverse=True)


def _register(d: Path) -> None:
    """Rewrite LLaMA-Factory's dataset_info.json from the files present (Alpaca columns)."""
    info = {p.stem: {"file_name": p.name, "formatting": "alpaca",
                     "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
            for p in sorted(d.glob("*.json")) if p.name != "dataset_info.json"}
    tmp = d / "dataset_info.json.tmp"
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=1))
    tmp.replace(d / "dataset_info.json")
