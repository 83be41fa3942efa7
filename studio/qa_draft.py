"""Draft question-and-answer rows from a knowledge base's chunks with a deployed model, as a job:

    <app python> -I studio/qa_draft.py REQUEST.json

request: {"base_url", "model", "chunks": [{"source", "text"}], "per_chunk", "answers", "draft_path"}
(the endpoint's key in STUDIO_DRAFT_KEY). answers "quote" (the default): the studio picks the
passage's most informative sentences and the model writes the question each one answers; the
answer is the sentence itself, so every row stands on the document. answers "write": the model
writes question and answer (held to a JSON schema through vLLM's structured outputs), and a pair
whose answer the passage does not support is dropped and counted. Measured on the sample
documents with SmolLM2-135M: 2 of 6 written answers stood on their passage, and its questions
for quoted sentences were mostly usable in English and rarely in Chinese: review is not optional.

Rows go to rows.json ({"instruction", "input", "output", "source"}) and, at the end, to the draft
the dataset editor lists; progress to progress.json. Standard library only.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

QUESTION = {
    "en": "A sentence from a company's documents:\n\n{s}\n\nWrite the question a customer would ask that this "
          "sentence answers.",
    "zh": "公司文档中的一句话：\n\n{s}\n\n请写出客户会问的、这句话正好能回答的问题。",
}
PAIRS = {
    "en": "Here is a passage from a company's documents.\n\n{text}\n\nWrite {n} question(s) a customer could ask "
          "that this passage answers, each with its answer taken from the passage alone.",
    "zh": "下面是公司文档中的一段内容。\n\n{text}\n\n请写出 {n} 个客户可能会问、且这段内容能够回答的问题，"
          "并只根据这段内容给出每个问题的答案。",
}
CJK = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"[A-Za-z0-9]{3,}|[\u3400-\u9fff]")
SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]")
PREAMBLE = re.compile(r"^(?:a customer (?:would|might|could) ask:?|question:|问题[:：])\s*", re.I)


def language(text: str) -> str:
    return "zh" if len(CJK.findall(text)) > 0.2 * max(1, len(text.strip())) else "en"


# Words any question shares with any sentence: they say nothing about what it asks.
STOP = set("the and for with from what which how when where who why this that are was were can does did your "
           "you our its have has will would could should about into than then there their they them been not "
           "but any all".split()) | set("的是了在和有我你他她它们这那吗呢吧啊么什怎个")


def words(text: str) -> list[str]:
    return [w for w in (w.lower() for w in WORD.findall(text)) if w not in STOP]


def supported(answer: str, passage: str, share: float = 0.6) -> bool:
    """Most of the answer's words (Chinese: characters) appear in the passage."""
    said, seen = words(answer), set(words(passage))
    return len(said) >= 3 and sum(w in seen for w in said) >= share * len(said)


def informative(text: str, n: int) -> list[str]:
    """The passage's n sentences that carry the most: long ones, and ones with figures or codes."""
    found = [x.strip() for x in SENTENCE.findall(text) if len(words(x)) >= 5 and not x.strip().startswith("#")]
    ranked = sorted(found, key=lambda x: -(len(words(x)) + 5 * len(re.findall(r"\d+", x))))
    return [x for x in found if x in ranked[:n]]  # in the passage's order


def clean_question(text: str, sentence: str, lang: str) -> str | None:
    """The model's question, or None when it is no question about this sentence."""
    q = PREAMBLE.sub("", text.strip().strip("\"'“”「」")).strip().strip("\"'“”「」")
    end = min([i for i in (q.find("?"), q.find("？")) if i >= 0], default=-1)
    if end < 0:
        return None
    q = q[:end + 1]
    if q == sentence or QUESTION[lang].split("\n")[-1][:6] in q:  # an echo of the sentence or the prompt
        return None
    return q if set(words(q)) & set(words(sentence)) else None


def _post(req: dict, body: dict) -> str:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("STUDIO_DRAFT_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['STUDIO_DRAFT_KEY']}"
    request = urllib.request.Request(req["base_url"].rstrip("/") + "/chat/completions",
                                     data=json.dumps({"model": req["model"], **body}).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=300) as r:
        return json.loads(r.read())["choices"][0]["message"]["content"] or ""


def quoted(req: dict, chunk: dict) -> tuple[list[dict], int]:
    """(question, sentence) rows for the passage's most informative sentences; how many failed."""
    rows, dropped = [], 0
    for sentence in informative(chunk["text"], int(req.get("per_chunk", 1))):
        lang = language(sentence)
        text = _post(req, {"temperature": 0, "max_tokens": 64, "stop": ["\n"],
                           "messages": [{"role": "user", "content": QUESTION[lang].format(s=sentence)}]})
        q = clean_question(text, sentence, lang)
        if q:
            rows.append({"question": q, "answer": sentence})
        else:
            dropped += 1
    return rows, dropped


def written(req: dict, chunk: dict) -> tuple[list[dict], int]:
    """Questions and answers the model writes from the passage; the unsupported ones dropped."""
    n = int(req.get("per_chunk", 1))
    schema = {"type": "object", "required": ["pairs"], "properties": {"pairs": {
        "type": "array", "minItems": 1, "maxItems": n, "items": {
            "type": "object", "required": ["question", "answer"],
            "properties": {"question": {"type": "string"}, "answer": {"type": "string"}}}}}}
    text = _post(req, {"temperature": 0.3, "max_tokens": 320, "messages": [
        {"role": "user", "content": PAIRS[language(chunk["text"])].format(text=chunk["text"], n=n)}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "pairs", "schema": schema}}})
    try:
        pairs = [p for p in json.loads(text).get("pairs", []) if isinstance(p, dict)][:n]
    except (ValueError, AttributeError):
        return [], n  # a reply cut off by max_tokens
    kept = [{"question": str(p.get("question", "")).strip(), "answer": str(p.get("answer", "")).strip()}
            for p in pairs]
    kept = [p for p in kept if p["question"] and supported(p["answer"], chunk["text"])]
    return kept, len(pairs) - len(kept)


def write(folder: Path, name: str, data) -> None:
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / name)


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(argv[0]).parent
    draft = quoted if req.get("answers", "quote") == "quote" else written
    rows, dropped, failed = [], 0, 0
    chunks = req["chunks"]
    # a cancel (SIGTERM) ends the loop through the finally below: the rows drafted so far are kept
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for i, chunk in enumerate(chunks):
            write(folder, "progress.json", {"done": i, "total": len(chunks), "rows": len(rows), "dropped": dropped})
            try:
                pairs, lost = draft(req, chunk)
            except Exception as e:  # one odd reply (no choices, a proxy's page) costs its chunk alone
                failed += 1
                print(f"chunk {i + 1} ({chunk['source'].splitlines()[0]}): {type(e).__name__}: {e}", flush=True)
                if failed >= 3 and not rows:
                    print("the model did not answer three times: stopping", file=sys.stderr)
                    return 1
                continue
            dropped += lost
            rows += [{"instruction": p["question"], "input": "", "output": p["answer"], "source": chunk["source"]}
                     for p in pairs]
            write(folder, "rows.json", rows)
            print(f"chunk {i + 1}/{len(chunks)}: {len(rows)} rows, {dropped} dropped", flush=True)
    finally:
        if rows:  # the draft the dataset editor lists for review
            draft_path = Path(req["draft_path"])
            draft_path.parent.mkdir(parents=True, exist_ok=True)
            write(draft_path.parent, draft_path.name, rows)
    write(folder, "progress.json", {"done": len(chunks), "total": len(chunks), "rows": len(rows),
                                    "dropped": dropped, "failed": failed})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
