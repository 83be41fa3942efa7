"""Score a trained run on held-out rows, as a job in the training environment:

    <train python> -I studio/lf_eval.py REQUEST.json

1. The rows: the run's own held-out split, cut here with the call and seed LLaMA-Factory used
   when it trained (datasets' train_test_split: it depends only on the row count and the seed),
   or the rows of another dataset; written as heldout.json.
2. Loss and perplexity: `llamafactory-cli train` with do_eval on those rows.
3. BLEU-4 and ROUGE: `llamafactory-cli train` with do_predict and predict_with_generate, which
   also writes every generated answer.
4. Optionally a judge: any OpenAI-compatible endpoint grades each answer against the reference
   with the user's rubric, a score of 1 to 5 and a reason (its key in STUDIO_JUDGE_KEY).

Progress goes to progress.json ({"phase", "done", "total"}), the scores to scores.json, both in
the request's folder.
Standard library, LLaMA-Factory's command and the datasets package: it runs under that python.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

GRADE = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                          "reason": {"type": "string"}}, "required": ["score", "reason"]}


def progress(folder: Path, phase: str, done: int, total: int) -> None:
    tmp = folder / "progress.json.tmp"
    tmp.write_text(json.dumps({"phase": phase, "done": done, "total": total}))
    tmp.replace(folder / "progress.json")
    print(f"{phase}: {done}/{total}", flush=True)


def heldout(req: dict, folder: Path) -> list[dict]:
    rows = json.loads(Path(req["rows_file"]).read_text(encoding="utf-8"))
    if req.get("val_size"):
        from datasets import Dataset

        size = req["val_size"]
        split = Dataset.from_list(rows).train_test_split(test_size=int(size) if size > 1 else size,
                                                         seed=int(req.get("seed", 42)))
        rows = split["test"].to_list()
    # KTO trained on marked answers: only the good ones are references
    rows = [r for r in rows if r.get("kto_tag", True) is not False][:int(req.get("max_rows", 50))]
    if not rows:
        print("no rows to score", file=sys.stderr)
        raise SystemExit(2)
    data = folder / "data"
    data.mkdir(exist_ok=True)
    (data / "heldout.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"heldout": {
        "file_name": "heldout.json", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}}))
    return rows


def run_lf(req: dict, folder: Path, name: str, extra: dict) -> dict:
    import yaml  # LLaMA-Factory's own dependency

    out = folder / name
    cfg = {"model_name_or_path": req["model"], "trust_remote_code": False, "stage": "sft",
           "do_train": False, "finetuning_type": req["finetuning_type"], "template": req["template"],
           "eval_dataset": "heldout", "dataset_dir": str(folder / "data"), "cutoff_len": req["cutoff_len"],
           "preprocessing_num_workers": 1, "dataloader_num_workers": 0, "output_dir": str(out),
           "overwrite_output_dir": True, "report_to": "none",
           # the training's own batch: the same batches give the loss it logged for these rows
           "per_device_eval_batch_size": int(req.get("eval_batch", 4)), **extra}
    if req.get("adapter"):
        cfg["adapter_name_or_path"] = req["adapter"]
    cfg.update({"use_cpu": True} if req.get("cpu") else {"bf16": True})
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    rc = subprocess.call([req["cli"], "train", str(folder / f"{name}.yaml")])
    if rc != 0:
        raise SystemExit(rc)
    found = {}
    for f in ("all_results.json", "eval_results.json", "predict_results.json"):
        if (out / f).exists():
            found.update(json.loads((out / f).read_text()))
    return found


def judge(req: dict, question: str, reference: str, answer: str) -> tuple[int | None, str]:
    j = req["judge"]
    body = {"model": j["model"], "temperature": 0, "max_tokens": 200, "messages": [
        {"role": "system", "content": j["rubric"]},
        {"role": "user", "content": f"Question:\n{question}\n\nReference answer:\n{reference}\n\n"
                                    f"Answer to grade:\n{answer}\n\nGrade the answer from 1 to 5 and say why "
                                    "in one sentence, as JSON: {\"score\": n, \"reason\": \"...\"}"}]}
    schema = {"response_format": {"type": "json_schema", "json_schema": {"name": "grade", "schema": GRADE}}}
    for extra in (schema, {}):  # an endpoint without structured outputs is asked in plain words
        try:
            text = _post(j["base_url"].rstrip("/") + "/chat/completions", {**body, **extra})
        except urllib.error.HTTPError as e:
            if extra and e.code in (400, 422):
                continue
            return None, f"the judge answered HTTP {e.code}"
        except OSError as e:
            return None, f"the judge could not be reached: {e}"
        except (ValueError, KeyError, IndexError, TypeError):  # a proxy's page, a cut-off reply
            return None, "the judge's reply was not a chat completion"
        try:
            grade = json.loads(text)
            return max(1, min(5, int(grade["score"]))), str(grade.get("reason", "")).strip()
        except (ValueError, KeyError, TypeError):
            m = re.search(r"\b([1-5])\b", text)
            return (int(m.group(1)) if m else None), text.strip()[:300]
    return None, "the judge gave no grade"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The studio checked the judge's address when the job was asked for; a redirect would take the
    # request (and its key) to an address nobody checked, such as a cloud's metadata service.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: dict) -> str:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("STUDIO_JUDGE_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['STUDIO_JUDGE_KEY']}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with _OPENER.open(request, timeout=120) as r:
        return json.loads(r.read())["choices"][0]["message"]["content"] or ""


def save(folder: Path, scores: dict) -> None:
    tmp = folder / "scores.json.tmp"
    tmp.write_text(json.dumps(scores, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(folder / "scores.json")


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(argv[0]).parent
    rows = heldout(req, folder)
    progress(folder, "loss", 0, len(rows))
    loss = run_lf(req, folder, "loss", {"do_eval": True})
    progress(folder, "predict", 0, len(rows))
    pred = run_lf(req, folder, "predict", {"do_predict": True, "predict_with_generate": True,
                                           "max_new_tokens": int(req.get("max_new_tokens", 96)),
                                           "do_sample": False})
    answers = [json.loads(x) for x in (folder / "predict" / "generated_predictions.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    samples = [{"question": "\n".join(x for x in (r.get("instruction"), r.get("input")) if x),
                "reference": r.get("output", ""), "answer": a.get("predict", "")} for r, a in zip(rows, answers)]
    scores = {"rows": len(rows), "eval_loss": loss.get("eval_loss")}
    if scores["eval_loss"] is not None:
        scores["perplexity"] = math.exp(scores["eval_loss"])
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        if f"predict_{key}" in pred:
            scores[key] = pred[f"predict_{key}"]
    scores["samples"] = samples
    save(folder, scores)  # loss and BLEU/ROUGE are kept whatever becomes of the judge
    if req.get("judge"):
        for n, s in enumerate(samples):
            progress(folder, "judge", n, len(samples))
            s["score"], s["reason"] = judge(req, s["question"], s["reference"], s["answer"])
        graded = [s["score"] for s in samples if s["score"] is not None]
        scores["judge"] = {"model": req["judge"]["model"], "rubric": req["judge"]["rubric"],
                           "mean": sum(graded) / len(graded) if graded else None, "graded": len(graded)}
        save(folder, scores)
    progress(folder, "done", len(rows), len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
