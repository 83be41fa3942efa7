"""Datasets on disk: load, check, save with versions, restore, import, export, and register for
LLaMA-Factory.

Files live in DATA_ROOT/datasets/<name>.json in their own format (Alpaca, ShareGPT or OpenAI
messages). Every save first copies the previous file to datasets/.versions/<name>/, so nothing
is overwritten without a copy. dataset_info.json (LLaMA-Factory's registry) is rewritten by the
studio from the files present; users never edit it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

from studio import config, formats
from studio.words import Said, join, zh

SAMPLE = config.REPO / "assets" / "sample_dataset.json"
SAMPLE_NAME = "support_sample"
PREFERENCE_NAME = "support_preference"  # pairs for DPO, ORPO and KTO, on the same support topics
SAMPLES = {SAMPLE_NAME: SAMPLE, PREFERENCE_NAME: config.REPO / "assets" / "sample_preference.json"}
FIELDS = formats.ALPACA
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


class DatasetError(ValueError):
    """A problem the user can act on; the message says what and how."""


def folder(s: config.Settings) -> Path:
    d = s.path("datasets")
    missing = [n for n in SAMPLES if not (d / f"{n}.json").exists()]
    for name in missing:
        shutil.copyfile(SAMPLES[name], d / f"{name}.json")
    if missing:
        _register(d)
    return d


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise DatasetError(Said(f"'{name}' is not a valid dataset name: use letters, digits, '_' or '-' "
                                "(up to 64), starting with a letter or digit.",
                                f"'{name}' 不是有效的数据集名称：请用字母、数字、'_' 或 '-'（最多 64 个），"
                                "并以字母或数字开头。"))
    return name


def list_names(s: config.Settings) -> list[str]:
    return sorted(p.stem for p in folder(s).glob("*.json") if p.name != "dataset_info.json")


def free_name(s: config.Settings, wanted: str, also: set[str] = frozenset()) -> str:
    """A valid dataset name close to `wanted` (a file's stem) that no saved dataset has (nor any
    name in `also`): what an import offers to save as, so one click cannot overwrite another dataset."""
    base = re.sub(r"[^A-Za-z0-9_\-]+", "_", wanted or "").strip("_-")[:56] or "imported"
    if not base[0].isalnum():
        base = "d" + base
    taken = set(list_names(s)) | set(also)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def load(s: config.Settings, name: str) -> tuple[str, list[dict]]:
    """(format, records) of a saved dataset."""
    path = folder(s) / f"{check_name(name)}.json"
    if not path.exists():
        raise DatasetError(Said(f"There is no dataset named '{name}'.", f"没有名为 '{name}' 的数据集。"))
    try:
        return formats.read(path)
    except formats.FormatError as e:
        raise DatasetError(Said(f"{path.name}: {e}", f"{path.name}：{zh(e)}")) from e


def describe(problems: list[tuple[int, str]], limit: int = 10) -> Said:
    text = join("; ", [Said(f"row {i}: {m}", f"第 {i} 行：{zh(m)}") if i else m for i, m in problems[:limit]],
                "；")
    more = len(problems) - limit
    return Said(text + (f" (and {more} more)" if more > 0 else ""),
                text.zh + (f"（另有 {more} 个）" if more > 0 else ""))


def save(s: config.Settings, name: str, fmt: str, records: list[dict]) -> Path:
    """Check, keep the previous version, then write. Refuses (and writes nothing) if invalid."""
    name = check_name(name)
    if fmt not in formats.FORMATS:
        raise DatasetError(Said(f"Unknown format {fmt}.", f"未知格式 {fmt}。"))
    problems = formats.check(fmt, records)
    if problems:
        found = describe(problems)
        raise DatasetError(Said("Not saved: " + found, "未保存：" + found.zh))
    d = folder(s)
    path = d / f"{name}.json"
    with _lock:  # two users saving at once: each version kept, the registry rewritten whole
        tmp = _aside(path)
        try:
            _keep_version(d, path)
            tmp.write_text(formats.dump(records, "json"), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            # A full disk or a read-only folder: the dataset on disk is the previous one, whole.
            tmp.unlink(missing_ok=True)
            raise DatasetError(Said(f"Not saved: {e.strerror or e} while writing {path.name}. The saved "
                                    "dataset is unchanged; free some disk space (old runs and checkpoints "
                                    "under the data root) and save again.",
                                    f"未保存：写入 {path.name} 时出错（{e.strerror or e}）。已保存的数据集没有变化；"
                                    "请释放一些磁盘空间（数据目录下旧的训练任务和检查点），再保存一次。")) from e
        _reviewed(d, name)
        try:
            _register(d)
        except OSError as e:
            raise DatasetError(Said(f"Saved {path.name}, but the trainer's list of datasets could not be "
                                    f"rewritten ({e.strerror or e}): free some disk space and save again "
                                    "before training on it.",
                                    f"已保存 {path.name}，但训练器的数据集列表没能更新（{e.strerror or e}）："
                                    "请释放一些磁盘空间并再保存一次，然后再用它训练。")) from e
    return path


_lock = threading.Lock()


def _aside(path: Path) -> Path:
    """A temporary name of this thread's own beside path, renamed over it once written."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _keep_version(d: Path, path: Path) -> None:
    if path.exists():
        vdir = d / ".versions" / path.stem
        vdir.mkdir(parents=True, exist_ok=True)
        t = time.time_ns()  # one clock reading, so names sort in save order
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t / 1e9)) + f".{t % 10**9:09d}"
        try:
            shutil.copy2(path, vdir / f"{stamp}.json")
        except OSError:
            (vdir / f"{stamp}.json").unlink(missing_ok=True)  # no half-copied version is listed
            raise


def versions(s: config.Settings, name: str) -> list[Path]:
    return sorted((folder(s) / ".versions" / check_name(name)).glob("*.json"), reverse=True)


def restore(s: config.Settings, name: str, version: str) -> Path:
    """Bring back an earlier version; the current one becomes a version itself."""
    match = [v for v in versions(s, name) if v.name == Path(version).name]
    if not match:
        raise DatasetError(Said(f"'{version}' is not a saved version of {name}.",
                                f"'{version}' 不是 {name} 的历史版本。"))
    d = folder(s)
    path = d / f"{check_name(name)}.json"
    with _lock:
        _keep_version(d, path)
        tmp = _aside(path)
        shutil.copyfile(match[0], tmp)
        tmp.replace(path)
        _register(d)
    return path


def export(s: config.Settings, name: str, to: str, kind: str) -> Path:
    """Write the dataset as another format and file type under DATA_ROOT/exports."""
    fmt, records = load(s, name)
    try:
        out = formats.convert(fmt, records, to)
        text = formats.table_csv(to, out) if kind == "csv" else formats.dump(out, kind)
    except formats.FormatError as e:
        raise DatasetError(*e.args) from e
    path = s.path("exports") / f"{name}.{to}.{kind}"
    tmp = _aside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DatasetError(Said(f"Not exported: {e.strerror or e}. Free some disk space and export again.",
                                f"未导出：{e.strerror or e}。请释放一些磁盘空间后再导出。")) from e
    return path


def _register(d: Path) -> None:
    """Rewrite LLaMA-Factory's dataset_info.json from the files present and their formats."""
    info = {}
    for p in sorted(d.glob("*.json")):
        if p.name == "dataset_info.json":
            continue
        try:
            fmt, _ = formats.read(p)
        except formats.FormatError:
            continue  # a broken file is reported when opened, never registered
        info[p.stem] = {"file_name": p.name, **formats.INFO[fmt]}
    tmp = _aside(d / "dataset_info.json")
    try:
        tmp.write_text(json.dumps(info, ensure_ascii=False, indent=1))
        tmp.replace(d / "dataset_info.json")
    finally:
        tmp.unlink(missing_ok=True)


def info_entry(fmt: str, file_name: str) -> dict:
    return {"file_name": file_name, **formats.INFO[fmt]}


# --- drafts: rows written by a model (studio/drafts.py), kept apart until someone has read them ---
def drafts(s: config.Settings) -> list[str]:
    """Drafts waiting for review. Not registered for LLaMA-Factory: nobody trains on them unread."""
    return sorted(p.stem for p in (folder(s) / ".drafts").glob("*.json"))


def _reviewed(d: Path, name: str) -> None:
    """A draft saved as a dataset leaves the waiting list; its file is kept in .drafts/reviewed
    (the save may have been of other rows under the draft's name)."""
    draft = d / ".drafts" / f"{name}.json"
    if draft.exists():
        done = d / ".drafts" / "reviewed"
        done.mkdir(exist_ok=True)
        draft.replace(done / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json")


def load_draft(s: config.Settings, name: str) -> tuple[str, list[dict]]:
    path = folder(s) / ".drafts" / f"{check_name(name)}.json"
    if not path.exists():
        raise DatasetError(Said(f"There is no draft named '{name}'.", f"没有名为 '{name}' 的草稿。"))
    return formats.read(path)
