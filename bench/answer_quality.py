"""Does the default journey end in a right answer? Twenty questions about the sample documents
(ten English, ten Chinese, none of them a training row word for word), each answered by the
base model, the tuned adapter, base + retrieval and tuned + retrieval, through the studio's own
services with its default settings (training form, deployment, knowledge base, prompt, decoding):

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/answer_quality.py [--adapter FOLDER] [--runs 1]

An answer counts as right when it states the document's fact (one of the listed spellings);
"cited" counts answers carrying an [n] marker that points at a chunk holding that fact. Trains
one run with the default form unless --adapter names a trained one (a run's output folder).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import chat, config, models, serving, training  # noqa: E402
from studio.jobs import JobStore  # noqa: E402
from studio.knowledge import Knowledge  # noqa: E402

# (question, spellings of the fact; any one counts). Facts only the documents hold are among
# them (restocking fee, refund days, capacity, power, points, repair time, E2, E4).
QUESTIONS = [
    ("How many days after delivery can I still send back an unused item?", ["15"]),
    ("For how long is a Qinghe appliance under warranty?", ["two year", "2 year", "two-year", "2-year"]),
    ("My kettle displays E3, what went wrong?", ["no water", "without water", "empty", "dry"]),
    ("What fee do I pay to return an opened product that still works?", ["10 percent", "10%", "ten percent"]),
    ("After my returned parcel arrives, when is the refund paid?", ["3 to 5", "3-5", "three to five", "3 and 5"]),
    ("What is the capacity of the K2 kettle?", ["1.7"]),
    ("How many watts does the K2 kettle use?", ["1800", "1,800"]),
    ("How many points are needed for a 5-yuan coupon?", ["100"]),
    ("How long does a repair under warranty take?", ["7 days", "seven days", "7 working days", "a week"]),
    ("What does error E2 on the kettle mean?", ["110", "limescale", "scale"]),
    ("收到货以后多少天内可以退？", ["15"]),
    ("青禾的电器保修几年？", ["两年", "2年", "二年"]),
    ("水壶显示E3是怎么回事？", ["无水", "干烧", "没有水", "没水"]),
    ("已经拆封但功能正常的东西退货要扣多少？", ["10%", "百分之十", "10％"]),
    ("寄回的包裹到仓库后，退款几天能到账？", ["3到5", "3-5", "三到五", "3至5", "3～5", "3~5"]),
    ("K2水壶的容量是多少？", ["1.7"]),
    ("K2水壶的功率有多大？", ["1800"]),
    ("多少积分可以换5元优惠券？", ["100"]),
    ("保修期内维修要多长时间？", ["7天", "七天", "一周"]),
    ("E2故障代码代表什么？", ["110", "水垢"]),
]
LANES = ("base", "tuned", "base + retrieval", "tuned + retrieval")


def right(answer: str, spellings: list[str]) -> bool:
    low = re.sub(r"\[\d+\]", "", answer).lower()  # the studio's [n] marks are not the fact
    return any(s.lower() in low for s in spellings)


def cited(answer: str, hits, spellings: list[str]) -> bool:
    """An [n] marker in the answer that points at a chunk holding the fact."""
    for n in {int(m) for m in re.findall(r"\[(\d+)\]", answer)}:
        if 1 <= n <= len(hits) and right(hits[n - 1].text, spellings):
            return True
    return False


def wait(store, job, done, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = store.refresh(store.get(job.id))
        if done(job):
            return job
        time.sleep(1)
    raise SystemExit(f"timed out: {job.name}\n{job.log_tail()}")


def adapter_from(s, store, path: str | None, epochs: float | None = None, lr: float | None = None) -> str:
    """The adapter to deploy: a trained run's output folder, or a new run with the default form."""
    if path is None:
        t0 = time.time()
        form = training.LoraForm()
        if epochs:
            form = replace(form, num_train_epochs=epochs)
        if lr:
            form = replace(form, learning_rate=lr)
        job = training.start(s, store, form)
        job = wait(store, job, lambda j: j.status not in ("queued", "running"), 3600)
        if job.status != "succeeded":
            raise SystemExit(f"training {job.status}:\n{job.log_tail()}")
        p = training.progress(job)
        print(f"trained {job.name}: {p['step']} steps in {time.time() - t0:.0f} s, "
              f"last loss {p['loss'][-1]['loss']:.3f}", flush=True)
        return job.name
    # Register an existing adapter as a finished run of this store, so serving finds it.
    src = Path(path)
    job = store.launch("train", "adapter-under-test", [sys.executable, "-c", "pass"],
                       spec={"output_dir": str(src), "model": str(models.active_model(s, None))})
    wait(store, job, lambda j: j.status != "running" and j.status != "queued", 60)
    return job.name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", help="a trained run's output folder (skips training)")
    ap.add_argument("--runs", type=int, default=1, help="answer every question this many times")
    ap.add_argument("--show", action="store_true", help="print every answer")
    ap.add_argument("--parallel", type=int, default=16, help="questions in flight at once")
    ap.add_argument("--temperature", type=float, help="instead of the studio's chat default")
    ap.add_argument("--epochs", type=float, help="instead of the training form's default")
    ap.add_argument("--lr", type=float, help="instead of the training form's default")
    ap.add_argument("--chunks", type=int, help="retrieved chunks the prompt draws on (default: top_k)")
    ap.add_argument("--sentences", type=int, help="their closest sentences in the prompt; 0: whole chunks "
                    "(default: chat.prompt_sentences for the model)")
    ap.add_argument("--lanes", default=",".join(LANES), help="comma-separated lanes to answer in")
    args = ap.parse_args()
    lanes = [x.strip() for x in args.lanes.split(",") if x.strip() in LANES] or list(LANES)
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(s.home / "jobs")
        name = adapter_from(s, store, args.adapter, args.epochs, args.lr)
        kb = Knowledge(s)
        kb.ingest(sorted((REPO / "assets" / "docs").iterdir()))
        job = serving.start(s, store, adapter_names=[name])
        try:
            job = wait(store, job, lambda j: j.status != "running" or serving.healthy(j),
                       s.serve_start_timeout)
            if serving.state(store, job) != "ready":
                raise SystemExit(f"deploy failed:\n{job.log_tail()}")
            base, tuned = serving.served_models(job)[0], name
            url, temp = serving.base_url(job), s.chat_temperature if args.temperature is None else args.temperature
            # As the Chat tab does: sentences for a small model (two for the 135M default).
            k = args.chunks or s.top_k
            n = chat.prompt_sentences(s, job.spec["model"]) if args.sentences is None else args.sentences

            def answer(q, lane, hits):
                use = hits[:k] if "retrieval" in lane else []
                model = tuned if lane.startswith("tuned") else base
                text = ""
                for text in chat.stream(url, model, chat.build_messages([], q, use, sentences=n),
                                        max_tokens=s.chat_max_tokens, temperature=temp,
                                        repetition_penalty=s.chat_repetition_penalty):
                    pass
                return chat.finish(text, use)

            # All at once, as a team would ask: the server batches them (one at a time took
            # ~10 s an answer on 2 cores).
            asked = [(q, facts, lane, kb.search(q)) for _ in range(args.runs)
                     for q, facts in QUESTIONS for lane in lanes]
            with ThreadPoolExecutor(args.parallel) as pool:
                texts = list(pool.map(lambda a: answer(a[0], a[2], a[3]), asked))
            score = {lane: [0, 0, 0] for lane in lanes}  # right, cited, asked
            for (q, facts, lane, hits), text in zip(asked, texts):
                use = hits[:k] if "retrieval" in lane else []
                ok, cite = right(text, facts), bool(use) and cited(text, use, facts)
                score[lane][0] += ok
                score[lane][1] += cite
                score[lane][2] += 1
                if args.show:
                    print(f"{'ok ' if ok else '-- '}{lane:18} {q}\n     {text.strip()[:300]!r}", flush=True)
            print("\nlane                right   cited   (of questions x runs)")
            for lane in lanes:
                r, c, m = score[lane]
                print(f"{lane:18} {r:3d}/{m:<3d} {c:3d}/{m:<3d}")
            en = sum(1 for q, _ in QUESTIONS if q.isascii())
            by = {lang: sum(right(t, f) for (q, f, lane, _), t in zip(asked, texts)
                            if lane == "tuned + retrieval" and q.isascii() == (lang == "en"))
                  for lang in ("en", "zh")}
            print(f"tuned + retrieval by language: English {by['en']}/{en * args.runs}, "
                  f"Chinese {by['zh']}/{(len(QUESTIONS) - en) * args.runs}")
            print(f"\n{en} English and {len(QUESTIONS) - en} Chinese questions; {n or 'whole'} sentence(s) of {k} chunk(s) in each prompt; defaults: "
                  + json.dumps({"epochs": args.epochs or training.LoraForm().num_train_epochs,
                                "lr": args.lr or training.LoraForm().learning_rate,
                                "adapter": args.adapter or "trained here",
                                "temperature": temp,
                                "repetition_penalty": s.chat_repetition_penalty}))
        finally:
            serving.stop(store, job.id)
            kb.close()


if __name__ == "__main__":
    main()
