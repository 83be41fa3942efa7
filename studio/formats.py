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

from studio.words import Said, zh

FORMATS = ("alpaca", "sharegpt", "openai", "preference", "grounded")
ALPACA = ("instruction", "input", "output")
# A question with a better and a worse answer: what DPO, ORPO and KTO learn from
PREFERENCE = ("instruction", "input", "chosen", "rejected")
# Questions and answers drafted from a knowledge base, each with the passage it rests on
GROUNDED = ("instruction", "input", "output", "source")
FLAT = {"alpaca": ALPACA, "preference": PREFERENCE, "grounded": GROUNDED}  # one editor row per example
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
    "grounded": {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input",
                                                     "response": "output"}},  # the source stays out of training
    "preference": {"formatting": "alpaca", "ranking": True,
                   "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                               "rejected": "rejected"}},
}


class FormatError(ValueError):
    """A problem the user can act on; the message says what and how."""


def headers(fmt: str) -> list[str]:
    return list(FLAT.get(fmt, CHAT_COLUMNS))


def detect(records: list) -> str:
    if not records or not isinstance(records, list) or not isinstance(records[0], dict):
        raise FormatError(Said("Expected a list of JSON objects (one per example).",
                               "应为 JSON 对象的列表（每个对象是一条样本）。"))
    keys = set(records[0])
    if "chosen" in keys and "rejected" in keys:
        return "preference"
    if "source" in keys and "output" in keys:
        return "grounded"
    if "conversations" in keys:
        return "sharegpt"
    if "messages" in keys:
        return "openai"
    if "instruction" in keys or "output" in keys:
        return "alpaca"
    raise FormatError(Said(f"Unknown format: the first example has the fields {sorted(keys)}; expected "
                           "instruction/input/output (Alpaca), conversations (ShareGPT), messages (OpenAI) "
                           "or instruction/input/chosen/rejected (preference pairs).",
                           f"无法识别的格式：第一条样本的字段是 {sorted(keys)}；应为 instruction/input/output"
                           "（Alpaca）、conversations（ShareGPT）、messages（OpenAI）或 instruction/input/"
                           "chosen/rejected（偏好对）。"))


def read(path: Path, mapping: dict | None = None, max_mib: int | None = None) -> tuple[str, list[dict]]:
    """(format, records) from a .json, .jsonl or .csv file. CSV columns are mapped onto Alpaca
    fields or chat columns by `mapping` ({our column: their column}), or by equal names."""
    from studio.kbreaders import decode, too_big

    path = Path(path)
    big = too_big(path.stat().st_size, max_mib << 20) if max_mib is not None else None
    if big:
        raise FormatError(Said(f"{path.name} is {big}.", f"{path.name} {zh(big)}。"))
    raw = path.read_bytes()
    if not raw.strip():
        raise FormatError(Said(f"{path.name} is empty: export the data again and pick the new file.",
                               f"{path.name} 是空文件：请重新导出数据，再选择新文件。"))
    # What Chinese Windows and Excel save is GBK, not UTF-8: decoded as such, not mangled.
    text = decode(raw)
    if "\ufffd" in text:
        raise FormatError(Said(f"{path.name} is neither UTF-8 nor GBK text: save it again as UTF-8 "
                               "(in Excel: Save As, CSV UTF-8) and import that file.",
                               f"{path.name} 既不是 UTF-8 也不是 GBK 编码的文本：请另存为 UTF-8"
                               "（Excel 中：另存为 → CSV UTF-8），再导入该文件。"))
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
                    raise FormatError(Said(f"{path.name} line {n} is not valid JSON: {e.msg} (column "
                                           f"{e.colno}). Fix that line and import again.",
                                           f"{path.name} 第 {n} 行不是有效的 JSON：{e.msg}（第 {e.colno} 列）。"
                                           "请改正这一行后重新导入。")) from e
        else:
            records = json.loads(text)
            if isinstance(records, dict):  # {"data": [...]} and similar wrappers
                records = next((v for v in records.values() if isinstance(v, list)), None)
    except json.JSONDecodeError as e:
        raise FormatError(Said(f"{path.name} is not valid JSON (line {e.lineno}): {e.msg}",
                               f"{path.name} 不是有效的 JSON（第 {e.lineno} 行）：{e.msg}")) from e
    fmt = detect(records)
    if fmt == "preference":
        records = flat_pairs(records, path.name)
    odd = [i for i, r in enumerate(records, start=1) if not isinstance(r, dict)]
    if odd:
        kind, more = type(records[odd[0] - 1]).__name__, len(odd) - 1
        raise FormatError(Said(f"{path.name}: example {odd[0]} is {kind}, not an "
                               f"object{f' (and {more} more)' if more else ''}: every example "
                               "must be a JSON object with the same fields.",
                               f"{path.name}：第 {odd[0]} 条样本是 {kind}，不是对象"
                               f"{f'（另有 {more} 条也是）' if more else ''}：每条样本都必须是字段相同的 JSON 对象。"))
    return fmt, records


def _read_csv(text: str, mapping: dict) -> tuple[str, list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    cols = reader.fieldnames or []
    want = {k: mapping.get(k) or k for k in (*PREFERENCE, "output", *CHAT_COLUMNS)}
    if all(want[k] in cols for k in ("instruction", "chosen", "rejected")):
        fmt, keys = "preference", PREFERENCE
    elif all(want[k] in cols for k in ("instruction", "output")):
        fmt, keys = "alpaca", ALPACA
    elif all(want[k] in cols for k in CHAT_COLUMNS):
        fmt, keys = "openai", CHAT_COLUMNS
    else:
        raise FormatError(Said(f"Map the CSV columns {cols} onto instruction/input/output, onto "
                               "instruction/input/chosen/rejected, or onto conversation/role/content.",
                               f"请把 CSV 的列 {cols} 对应到 instruction/input/output、"
                               "instruction/input/chosen/rejected，或对应到 conversation/role/content。"))
    rows = [[r.get(want[k]) or "" for k in keys] for r in reader]
    return fmt, from_table(fmt, rows)


def to_table(fmt: str, records: list[dict]) -> list[list[str]]:
    if fmt in FLAT:
        return [[str(r.get(k) or "") for k in FLAT[fmt]] for r in records]
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
    width = len(headers(fmt))
    rows = [["" if v is None else str(v) for v in list(r) + [""] * width][:width] for r in rows]
    rows = [r for r in rows if any(v.strip() for v in r)]
    if fmt in FLAT:
        return [dict(zip(FLAT[fmt], r)) for r in rows]
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
        raise FormatError(Said(f"Unknown format {to}; choose one of {', '.join(FORMATS)}.",
                               f"未知格式 {to}；请从 {'、'.join(FORMATS)} 中选择。"))
    if fmt == to:
        return records
    if to == "preference":
        raise FormatError(Said("Preference pairs need a worse answer beside each good one: add a "
                               "'rejected' answer to every row (import a file with chosen and rejected "
                               "fields, or make a new preference dataset).",
                               "偏好对需要在每个好回答旁边给出一个较差的回答：请为每一行补上 'rejected' 回答"
                               "（导入带有 chosen 和 rejected 字段的文件，或新建一个偏好数据集）。"))
    if fmt in ("preference", "grounded"):  # the answers (a pair's chosen one): a warm-up before DPO
        fmt, records = "alpaca", [{"instruction": r.get("instruction", ""), "input": r.get("input", ""),
                                   "output": r.get("chosen", r.get("output", ""))} for r in records]
        if to == "alpaca":
            return records
    if to == "grounded":
        raise FormatError(Said("Grounded rows name the passage each answer rests on; they are drafted from a "
                               "knowledge base (Dataset tab, Draft from documents), not converted.",
                               "带出处的数据行会注明每个回答依据的段落；它们由知识库生成（数据集标签页的“从文档生成”），"
                               "不能由其他格式转换得到。"))
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
            raise FormatError(Said(f"Conversation {n} has {len(turns)} messages; Alpaca holds one "
                                   "question and one answer. Keep it as ShareGPT or OpenAI.",
                                   f"第 {n} 段对话有 {len(turns)} 条消息，而 Alpaca 只能容纳一问一答。"
                                   "请保留为 ShareGPT 或 OpenAI 格式。"))
        out.append({"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]})
    return out


def check(fmt: str, records: list[dict]) -> list[tuple[int, str]]:
    """(table row, problem) for everything that would train badly or not at all; row 0: whole set."""
    if not records:
        return [(0, Said("the dataset has no rows", "数据集中没有任何行"))]
    if fmt in FLAT:
        return _check_flat(fmt, records)
    problems, row = [], 0
    for n, rec in enumerate(records, start=1):
        msgs = _messages(fmt, rec)
        first = row + 1
        expect = "user"

        def problem(at, en, cn, n=n):
            problems.append((at, Said(f"conversation {n}: {en}", f"第 {n} 段对话：{cn}")))

        for i, m in enumerate(msgs):
            row += 1
            role = m["role"]
            if role not in ROLES:
                problem(row, f"unknown role '{role}' (use system, user or assistant)",
                        f"未知角色 '{role}'（请用 system、user 或 assistant）")
                continue
            if not m["content"].strip():
                problem(row, f"empty {role} message", f"{role} 消息为空")
            if "\ufffd" in m["content"]:
                problem(row, UNREADABLE, UNREADABLE.zh)
            if role == "system":
                if i != 0:
                    problem(row, "a system message must come first", "system 消息必须放在最前面")
                continue
            if role != expect:
                problem(row, f"expected a {expect} message here (roles must alternate, starting with user)",
                        f"这里应是 {expect} 消息（角色须交替出现，并以 user 开头）")
            expect = "assistant" if role == "user" else "user"
        if not msgs or msgs[-1]["role"] != "assistant":
            problem(max(row, first), "must end with an assistant answer", "必须以 assistant 的回答结尾")
    return problems


EMPTY = {"output": Said("output is empty: the model would learn to say nothing",
                        "output 为空：模型会学会什么都不说"),
         "chosen": Said("chosen is empty: write the better answer", "chosen 为空：请写出较好的回答"),
         "rejected": Said("rejected is empty: write the worse answer the model should move away from",
                          "rejected 为空：请写出模型应当远离的较差回答")}
UNREADABLE = Said("holds unreadable characters (�): the file was not UTF-8; import it with Import, which "
                  "reads GBK too",
                  "含有无法识别的字符（�）：文件不是 UTF-8 编码；请用“导入”按钮导入，它也能读取 GBK")


def _check_flat(fmt: str, records: list[dict]) -> list[tuple[int, str]]:
    problems, seen = [], {}
    for i, r in enumerate(records, start=1):
        if any("\ufffd" in str(v) for v in r.values()):
            problems.append((i, UNREADABLE))
        if not str(r.get("instruction", "")).strip():
            problems.append((i, Said("instruction is empty", "instruction 为空")))
        for key in FLAT[fmt][2:]:
            if key in EMPTY and not str(r.get(key, "")).strip():  # a row added by hand may have no source
                problems.append((i, EMPTY[key]))
        if fmt == "preference" and str(r.get("chosen", "")).strip() and \
                str(r.get("chosen", "")).strip() == str(r.get("rejected", "")).strip():
            problems.append((i, Said("chosen and rejected are the same answer: there is nothing to prefer",
                                     "chosen 和 rejected 是同一个回答：没有可偏好的差别")))
        key = (str(r.get("instruction", "")).strip(), str(r.get("input", "")).strip())
        if key[0] and key in seen:
            problems.append((i, Said(f"same instruction and input as row {seen[key]}",
                                     f"instruction 和 input 与第 {seen[key]} 行相同")))
        seen.setdefault(key, i)
    return problems


def dump(records: list[dict], kind: str) -> str:
    """File text for export: json, jsonl or csv (csv: the editor's table)."""
    if kind == "json":
        return json.dumps(records, ensure_ascii=False, indent=1)
    if kind == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    raise FormatError(Said("Export as json or jsonl; for csv use table_csv.",
                           "请导出为 json 或 jsonl；csv 请用 table_csv。"))


def table_csv(fmt: str, records: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers(fmt))
    w.writerows(to_table(fmt, records))
    return buf.getvalue()


def flat_pairs(records: list[dict], name: str) -> list[dict]:
    """Preference pairs as instruction/input/chosen/rejected. LLaMA-Factory's ShareGPT-style pairs
    (one user turn in conversations or messages, chosen and rejected as messages) are flattened;
    a longer history has no place in the editor's row and is refused."""
    out = []
    for n, r in enumerate(records, start=1):
        if not isinstance(r, dict) or all(isinstance(r.get(k), str) for k in ("chosen", "rejected")):
            out.append(r)
            continue
        turns = r.get("conversations") or r.get("messages") or []
        users = [t for t in turns if isinstance(t, dict) and (t.get("from") or t.get("role")) in ("human", "user")]
        if len(users) != 1 or len(turns) != 1:
            raise FormatError(Said(f"{name}: pair {n} has {len(turns)} turns before its answers; the "
                                   "editor holds one question per pair. Keep one user turn per pair.",
                                   f"{name}：第 {n} 个偏好对在回答之前有 {len(turns)} 轮对话；编辑器每个偏好对只能"
                                   "容纳一个问题。请每对只保留一轮用户提问。"))

        def text(m):
            return str(m.get("value", m.get("content", ""))) if isinstance(m, dict) else str(m or "")

        out.append({"instruction": text(users[0]), "input": "", "chosen": text(r.get("chosen")),
                    "rejected": text(r.get("rejected"))})
    return out
