"""Dataset formats: Alpaca, ShareGPT and OpenAI messages. Detect, read (JSON, JSONL, CSV), check,
convert, and the table the editor shows.

The editor's table is one row per Alpaca example, or one row per message for chat formats
(conversation number, role, content), so every problem can be named by its row.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

FORMATS = ("alpaca", "sharegpt", "openai")
ALPACA = ("instruction", "input", "output")
CHAT_COLUMNS = ("conversation", "role", "content")
# ShareGPT's role names -> ours (and back)
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
ROLES = ("system", "user", "assistant")

# LLaMA-Factory's dataset_info.json entry for each format
INFO = {
    "alpaca": {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input",
                                                   "response": "output"}},
    "sharegpt": {"formatting": "sharegpt", "columns": {"messages": "conversations"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                          "assistant_tag": "gpt", "system_tag": "system"}},
    "openai": {"formatting": "sharegpt", "columns": {"messages": "messages"},
               "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                        "assistant_tag": "assistant", "system_tag": "system"}},
}


class FormatError(ValueError):
    """A problem the user can act on; the message says what and how."""


def headers(fmt: str) -> list[str]:
    return list(ALPACA if fmt == "alpaca" else CHAT_COLUMNS)


def detect(records: list) -> str:
    if not records or not isinstance(records, list) or not isinstance(records[0], dict):
        raise FormatError("Expected a list of JSON objects (one per example).")
    keys = set(records[0])
    if "conversations" in keys:
        return "sharegpt"
    if "messages" in keys:
        return "openai"
    if "instruction" in keys or "output" in keys:
        return "alpaca"
    raise FormatError(f"Unknown format: the first example has the fields {sorted(keys)}; expected "
                      "instruction/input/output (Alpaca), conversations (ShareGPT) or messages (OpenAI).")


def read(path: Path, mapping: dict | None = None, max_mib: int | None = None) -> tuple[str, list[dict]]:
    """(format, records) from a .json, .jsonl or .csv file. CSV columns are mapped onto Alpaca
    fields or chat columns by `mapping` ({our column: their column}), or by equal names."""
    from studio.kbreaders import decode, too_big

    path = Path(path)
    big = too_big(path.stat().st_size, max_mib << 20) if max_mib is not None else None
    if big:
        raise FormatError(f"{path.name} is {big}.")
    raw = path.read_bytes()
    if not raw.strip():
        raise FormatError(f"{path.name} is empty: export the data again and pick the new file.")
    # What Chinese Windows and Excel save is GBK, not UTF-8: decoded as such, not mangled.
    text = decode(raw)
    if "\ufffd" in text:
        raise FormatError(f"{path.name} is neither UTF-8 nor GBK text: save it again as UTF-8 "
                          "(in Excel: Save As, CSV UTF-8) and import that file.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(text, mapping or {})
    try:
        if suffix == ".jsonl":
            records = []
            for n, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:  # the file's own line, not the line within it
                    raise FormatError(f"{path.name} line {n} is not valid JSON: {e.msg} (column "
                                      f"{e.colno}). Fix that line and import again.") from e
        else:
            records = json.loads(text)
            if isinstance(records, dict):  # {"data": [...]} and similar wrappers
                records = next((v for v in records.values() if isinstance(v, list)), None)
    except json.JSONDecodeError as e:
        raise FormatError(f"{path.name} is not valid JSON (line {e.lineno}): {e.msg}") from e
    fmt = detect(records)
    odd = [i for i, r in enumerate(records, start=1) if not isinstance(r, dict)]
    if odd:
        raise FormatError(f"{path.name}: example {odd[0]} is {type(records[odd[0] - 1]).__name__}, not an "
                          f"object{f' (and {len(odd) - 1} more)' if len(odd) > 1 else ''}: every example "
                          "must be a JSON object with the same fields.")
    return fmt, records


def _read_csv(text: str, mapping: dict) -> tuple[str, list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    cols = reader.fieldnames or []
    want = {k: mapping.get(k) or k for k in (*ALPACA, *CHAT_COLUMNS)}
    if all(want[k] in cols for k in ("instruction", "output")):
        fmt, keys = "alpaca", ALPACA
    elif all(want[k] in cols for k in CHAT_COLUMNS):
        fmt, keys = "openai", CHAT_COLUMNS
    else:
        raise FormatError(f"Map the CSV columns {cols} onto instruction/input/output, or onto "
                          "conversation/role/content.")
    rows = [[r.get(want[k]) or "" for k in keys] for r in reader]
    return fmt, from_table(fmt, rows)


def to_table(fmt: str, records: list[dict]) -> list[list[str]]:
    if fmt == "alpaca":
        return [[str(r.get(k) or "") for k in ALPACA] for r in records]
    rows = []
    for n, rec in enumerate(records, start=1):
        for m in _messages(fmt, rec):
            rows.append([str(n), m["role"], m["content"]])
    return rows


def _messages(fmt: str, rec: dict) -> list[dict]:
    """A chat record's messages as [{role, content}] with our role names."""
    if fmt == "sharegpt":
        msgs = [{"role": SHAREGPT_ROLES.get(m.get("from"), str(m.get("from"))),
                 "content": str(m.get("value") or "")} for m in rec.get("conversations") or []]
        if rec.get("system"):
            msgs.insert(0, {"role": "system", "content": str(rec["system"])})
        return msgs
    return [{"role": str(m.get("role")), "content": str(m.get("content") or "")}
            for m in rec.get("messages") or []]


def from_table(fmt: str, rows: list[list]) -> list[dict]:
    """The editor's rows back to records; blank editor lines are dropped."""
    rows = [["" if v is None else str(v) for v in list(r) + [""] * 3][:3] for r in rows]
    rows = [r for r in rows if any(v.strip() for v in r)]
    if fmt == "alpaca":
        return [dict(zip(ALPACA, r)) for r in rows]
    convs: dict[str, list] = {}
    for conv, role, content in rows:
        convs.setdefault(conv.strip() or "?", []).append({"role": role.strip(), "content": content})
    return [_chat_record(fmt, msgs) for msgs in convs.values()]


def _chat_record(fmt: str, msgs: list[dict]) -> dict:
    if fmt == "openai":
        return {"messages": msgs}
    back = {v: k for k, v in SHAREGPT_ROLES.items()}
    rec = {"conversations": [{"from": back.get(m["role"], m["role"]), "value": m["content"]}
                             for m in msgs if m["role"] != "system"]}
    system = [m["content"] for m in msgs if m["role"] == "system"]
    if system:
        rec["system"] = system[0]
    return rec


def convert(fmt: str, records: list[dict], to: str) -> list[dict]:
    if to not in FORMATS:
        raise FormatError(f"Unknown format {to}; choose one of {', '.join(FORMATS)}.")
    if fmt == to:
        return records
    if fmt == "alpaca":
        chats = [[{"role": "user", "content": "\n".join(x for x in (r.get("instruction"), r.get("input")) if x)},
                  {"role": "assistant", "content": r.get("output", "")}] for r in records]
        return [_chat_record(to, m) for m in chats]
    chats = [_messages(fmt, r) for r in records]
    if to != "alpaca":
        return [_chat_record(to, m) for m in chats]
    out = []
    for n, msgs in enumerate(chats, start=1):
        turns = [m for m in msgs if m["role"] != "system"]
        if len(turns) != 2:
            raise FormatError(f"Conversation {n} has {len(turns)} messages; Alpaca holds one "
                              "question and one answer. Keep it as ShareGPT or OpenAI.")
        out.append({"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]})
    return out


def check(fmt: str, records: list[dict]) -> list[tuple[int, str]]:
    """(table row, problem) for everything that would train badly or not at all; row 0: whole set."""
    if not records:
        return [(0, "the dataset has no rows")]
    if fmt == "alpaca":
        return _check_alpaca(records)
    problems, row = [], 0
    for n, rec in enumerate(records, start=1):
        msgs = _messages(fmt, rec)
        first = row + 1
        expect = "user"
        for i, m in enumerate(msgs):
            row += 1
            if m["role"] not in ROLES:
                problems.append((row, f"conversation {n}: unknown role '{m['role']}' (use system, user or assistant)"))
                continue
            if not m["content"].strip():
                problems.append((row, f"conversation {n}: empty {m['role']} message"))
            if "\ufffd" in m["content"]:
                problems.append((row, f"conversation {n}: {UNREADABLE}"))
            if m["role"] == "system":
                if i != 0:
                    problems.append((row, f"conversation {n}: a system message must come first"))
                continue
            if m["role"] != expect:
                problems.append((row, f"conversation {n}: expected a {expect} message here (roles must alternate, starting with user)"))
            expect = "assistant" if m["role"] == "user" else "user"
        if not msgs or msgs[-1]["role"] != "assistant":
            problems.append((max(row, first), f"conversation {n}: must end with an assistant answer"))
    return problems


UNREADABLE = ("holds unreadable characters (�): the file was not UTF-8; import it with Import, which "
              "reads GBK too")


def _check_alpaca(records: list[dict]) -> list[tuple[int, str]]:
    problems, seen = [], {}
    for i, r in enumerate(records, start=1):
        if any("\ufffd" in str(v) for v in r.values()):
            problems.append((i, UNREADABLE))
        if not str(r.get("instruction", "")).strip():
            problems.append((i, "instruction is empty"))
        if not str(r.get("output", "")).strip():
            problems.append((i, "output is empty: the model would learn to say nothing"))
        key = (str(r.get("instruction", "")).strip(), str(r.get("input", "")).strip())
        if key[0] and key in seen:
            problems.append((i, f"same instruction and input as row {seen[key]}"))
        seen.setdefault(key, i)
    return problems


def dump(records: list[dict], kind: str) -> str:
    """File text for export: json, jsonl or csv (csv: the editor's table)."""
    if kind == "json":
        return json.dumps(records, ensure_ascii=False, indent=1)
    if kind == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    raise FormatError("Export as json or jsonl; for csv use table_csv.")


def table_csv(fmt: str, records: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers(fmt))
    w.writerows(to_table(fmt, records))
    return buf.getvalue()
