"""Files -> LlamaIndex documents for the knowledge base: the formats, their encodings, and
folders and zip files opened safely inside the data root."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

from studio.words import Said

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".csv", ".json", ".jsonl")
MAX_UNZIPPED = 1 << 30  # a zip may expand to 1 GiB at most (zip bombs)
_SAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


class KnowledgeError(ValueError):
    """A problem the user can act on; the message says what and how."""


class ReadError(KnowledgeError):
    """A file that cannot be read; the message says why."""


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder (no separators, no '..')."""
    base = _SAFE.sub("_", name.replace("\\", "/").replace("/", "_")).strip("._")
    if not base:
        raise ReadError(unusable(name))
    return base


def safe_path(name: str) -> str:
    """A document's name with its folders kept ("manuals/sub/b.md"), each part a safe name, no
    part "." or "..": two files of the same name in different folders stay two documents, and
    "a/b.txt" and "a_b.txt" stay apart."""
    parts = [p for p in name.replace("\\", "/").split("/") if p.strip(". ")]
    clean = [q for q in (_SAFE.sub("_", p).strip("._") for p in parts) if q]
    if not clean:
        raise ReadError(unusable(name))
    return "/".join(clean)


def unusable(name: str) -> Said:
    return Said(f"'{name}' is not a usable file name.", f"'{name}' 不是可用的文件名。")


def distinct(names: list[str]) -> list[tuple[str, str | None]]:
    """Each name of one batch made unique: a repeat becomes "README-2.md" (browsers send a
    folder's files without their folders), with a note saying so; (name, note or None)."""
    seen, out = set(), []
    for name in names:
        final, n = name, 2
        stem, dot, ext = name.rpartition(".") if "." in name.rsplit("/", 1)[-1] else (name, "", "")
        while final in seen:
            final, n = f"{stem}-{n}{dot}{ext}", n + 1
        seen.add(final)
        out.append((final, None if final == name else Said(
                    f"another file in this upload is also named {name}: this one is stored as {final} "
                    "(a browser sends a folder's files without their folder names; upload the folder "
                    "as a zip to keep them)",
                    f"这次上传中还有一个文件也叫 {name}：这个文件存为 {final}"
                    "（浏览器上传文件夹时不带文件夹名；要保留它们，请把文件夹压缩成 zip 再上传）")))
    return out


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK and GB2312, what Chinese
    Windows saves), else the best guess of charset_normalizer."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    return str(best) if best is not None else raw.decode("utf-8", errors="replace")


def html_text(raw: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head"]):
        tag.decompose()
    lines = (ln.strip() for ln in soup.get_text("\n").splitlines())
    return "\n".join(ln for ln in lines if ln)


def csv_text(raw: str) -> str:
    """Each row as 'column: value' pairs, one row per paragraph, so a chunk keeps its headers."""
    rows = list(csv.reader(io.StringIO(raw)))
    if not rows:
        return ""
    head, body = rows[0], rows[1:]
    return "\n\n".join("; ".join(f"{h}: {v}" for h, v in zip(head, r) if v.strip()) for r in body)


def json_text(raw: str, lines: bool) -> str:
    """Each record as 'path: value' lines, one record per paragraph."""
    try:
        records = [json.loads(x) for x in raw.splitlines() if x.strip()] if lines else json.loads(raw)
    except json.JSONDecodeError as e:
        raise ReadError(Said(f"not valid JSON (line {e.lineno}: {e.msg})",
                             f"不是有效的 JSON（第 {e.lineno} 行：{e.msg}）")) from e
    if not isinstance(records, list):
        records = [records]

    def flat(x, path=""):
        if isinstance(x, dict):
            for k, v in x.items():
                yield from flat(v, f"{path}.{k}" if path else str(k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                yield from flat(v, f"{path}[{i}]")
        elif x is not None and str(x).strip():
            yield f"{path}: {x}" if path else str(x)

    return "\n\n".join("\n".join(flat(r)) for r in records)


def read(path: Path, name: str) -> list:
    """Documents of one file (PDF: one per page), with file name and page as metadata."""
    from llama_index.core import Document

    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ReadError(Said(f"unsupported type {suffix or '(none)'}; use {', '.join(SUFFIXES)}",
                             f"不支持的文件类型 {suffix or '（无）'}；请使用 {'、'.join(SUFFIXES)}"))
    try:
        if suffix in (".pdf", ".docx"):
            from llama_index.readers.file import DocxReader, PDFReader

            docs = (PDFReader() if suffix == ".pdf" else DocxReader()).load_data(file=path)
        else:
            text = decode(path.read_bytes())
            if suffix in (".html", ".htm"):
                text = html_text(text)
            elif suffix == ".csv":
                text = csv_text(text)
            elif suffix in (".json", ".jsonl"):
                text = json_text(text, lines=suffix == ".jsonl")
            docs = [Document(text=text)]
    except ReadError:
        raise
    except Exception as e:  # a broken PDF/DOCX raises whatever its parser raises
        if hasattr(e, "last_attempt"):  # PDFReader retries, then wraps the real error
            e = e.last_attempt.exception() or e
        raise ReadError(Said(f"could not be read ({type(e).__name__}: {str(e)[:200]})",
                             f"无法读取（{type(e).__name__}：{str(e)[:200]}）")) from e
    for d in docs:
        d.metadata = {"file_name": name, "page": str(d.metadata.get("page_label", ""))}
        # Kept out of the embedded text, so the splitter gives chunks their full token budget.
        d.excluded_embed_metadata_keys = list(d.metadata)
        d.excluded_llm_metadata_keys = list(d.metadata)
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise ReadError(Said("no text found (a scanned PDF needs OCR first)",
                             "没有找到文字（扫描版 PDF 需要先做 OCR 文字识别）"))
    return docs


def too_big(size: int, max_bytes: int) -> Said | None:
    if size <= max_bytes:
        return None
    return Said(f"{size / 2**20:.0f} MiB, over the limit of {max_bytes >> 20} MiB (STUDIO_UPLOAD_MAX_MIB): "
                "split it, or raise the limit",
                f"有 {size / 2**20:.0f} MiB，超过了 {max_bytes >> 20} MiB 的上限（STUDIO_UPLOAD_MAX_MIB）："
                "请拆分文件，或调高上限")


def expand(paths: list[Path], scratch: Path, max_bytes: int = MAX_UNZIPPED) -> list[tuple[Path, str]]:
    """Uploaded files, folders and zips -> (file, name to store it under). Zips are unpacked into
    scratch (inside the data root) with every member checked to stay there, and their contents
    kept under max_bytes in all (zip bombs)."""
    out: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += [(f, f.relative_to(p.parent).as_posix()) for f in sorted(p.rglob("*"))
                    if f.is_file() and not f.name.startswith(".")]
        elif p.suffix.lower() == ".zip":
            out += _unzip(p, scratch, max_bytes)
        else:
            out.append((p, p.name))
    return out


def _unzip(p: Path, scratch: Path, max_bytes: int = MAX_UNZIPPED) -> list[tuple[Path, str]]:
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        return [(p, p.name)]  # read() reports it, and the rest of the batch goes on
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not Path(m.filename).name.startswith(".")
                   and "__MACOSX" not in m.filename]
        big = too_big(sum(m.file_size for m in members), max_bytes)
        if big:  # the sizes the zip declares, checked before anything is unpacked
            raise ReadError(Said(f"{p.name} unpacks to {big}", f"{p.name} 解压后{big.zh}"))
        dest = scratch / safe_name(p.stem)
        out = []
        for m in members:
            if not m.flag_bits & 0x800:  # no UTF-8 flag: Chinese Windows zips names in GBK
                try:
                    m.filename = m.filename.encode("cp437").decode("gb18030")
                except (UnicodeEncodeError, UnicodeDecodeError):
                    pass
            target = (dest / safe_name(m.filename)).resolve()
            if not target.is_relative_to(dest.resolve()):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as dst:
                # A member may lie about its size: never write more than it declared.
                left = m.file_size
                while chunk := src.read(min(1 << 20, left + 1)):
                    left -= len(chunk)
                    if left < 0:
                        raise ReadError(Said(f"{p.name}: {m.filename} is larger than the zip says; not unpacked",
                                             f"{p.name}：{m.filename} 比压缩包声明的更大；未解压"))
                    dst.write(chunk)
            out.append((target, f"{p.name}/{m.filename}"))
    return out
