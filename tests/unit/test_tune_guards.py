"""What the fine-tuning extras do when something goes wrong: a judge or a drafting model that
answers oddly, redirects or is cancelled, draft names that collide, a resume whose dataset is gone,
a diverged step in the log, a model vLLM serves only bare, a model folder carrying code."""
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio import datasets, drafts, lf_eval, qa_draft, runtimes, serving, training
from studio.jobs import JobStore
from studio.models import support
from studio.words import Said

CHUNK = "The warranty covers every product for two full years from the date of purchase, shipping included."


@pytest.fixture
def replies():
    """A chat endpoint answering from a script: each entry is (status, headers, body) or a number
    of seconds to hang for. Yields (base_url, script list, paths asked)."""
    script, asked = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            asked.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            step = script.pop(0) if script else (200, {}, "{}")
            if isinstance(step, (int, float)):
                time.sleep(step)
                step = (200, {}, "{}")
            code, headers, body = step
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", script, asked
    server.shutdown()


def chat(text: str) -> tuple:
    return 200, {"Content-Type": "application/json"}, json.dumps({"choices": [{"message": {"content": text}}]})


def test_a_judge_that_answers_oddly_or_redirects_leaves_that_answer_ungraded(replies):
    url, script, asked = replies
    req = {"judge": {"base_url": url, "model": "m", "rubric": "Grade it."}}
    script += [(200, {}, "<html>proxy login</html>"), (200, {}, '{"choices": []}')]
    assert lf_eval.judge(req, "q", "r", "a") == (None, "the judge's reply was not a chat completion")
    assert lf_eval.judge(req, "q", "r", "a") == (None, "the judge's reply was not a chat completion")
    script.append((302, {"Location": "http://169.254.169.254/latest/meta-data"}, ""))
    assert lf_eval.judge(req, "q", "r", "a") == (None, "the judge answered HTTP 302")
    script.append(chat('{"score": 4, "reason": "close to the reference"}'))
    assert lf_eval.judge(req, "q", "r", "a") == (4, "close to the reference")
    assert asked == ["/v1/chat/completions"] * 4  # the redirect was not followed


def draft_request(tmp_path, url, n=3) -> tuple:
    req = {"base_url": url, "model": "m", "per_chunk": 1, "answers": "quote",
           "chunks": [{"source": f"policies.md #{i + 1}\n{CHUNK}", "text": CHUNK} for i in range(n)],
           "draft_path": str(tmp_path / "datasets" / ".drafts" / "docs_qa.json")}
    (tmp_path / "request.json").write_text(json.dumps(req))
    return tmp_path / "request.json", tmp_path / "datasets" / ".drafts" / "docs_qa.json"


def test_odd_replies_cost_the_drafter_their_chunk_alone(tmp_path, replies):
    url, script, _ = replies
    request, draft = draft_request(tmp_path, url)
    script += [chat("How long does the warranty last?"), (200, {}, '{"choices": []}'), (200, {}, "<html>")]
    assert qa_draft.main([str(request)]) == 0
    rows = json.loads(draft.read_text())
    assert [r["instruction"] for r in rows] == ["How long does the warranty last?"] and rows[0]["output"] == CHUNK
    assert json.loads((tmp_path / "progress.json").read_text())["failed"] == 2


def test_a_cancelled_draft_keeps_the_rows_written_so_far(tmp_path, replies):
    url, script, _ = replies
    request, draft = draft_request(tmp_path, url)
    script += [chat("How long does the warranty last?"), 60]
    proc = subprocess.Popen([sys.executable, "-I", qa_draft.__file__, str(request)])
    deadline = time.time() + 30
    while time.time() < deadline and not (tmp_path / "rows.json").exists():
        time.sleep(0.1)
    time.sleep(0.5)  # into the second chunk's request, which hangs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 143
    assert [r["instruction"] for r in json.loads(draft.read_text())] == ["How long does the warranty last?"]


def test_a_draft_name_waiting_for_review_is_neither_reused_nor_lost(settings, kb, tmp_path):
    store = JobStore(settings.home / "jobs")
    doc = tmp_path / "policies.md"
    doc.write_text("# Warranty\n\n" + CHUNK + "\n")
    base = kb.bases()[0].name
    kb.ingest([doc], base)
    (datasets.folder(settings) / ".drafts").mkdir()
    (datasets.folder(settings) / ".drafts" / f"{base}_qa.json").write_text("[]")
    with pytest.raises(drafts.DraftError, match="waiting for review") as e:
        drafts.start(settings, store, kb, base, "http://127.0.0.1:1/v1", "m", name=f"{base}_qa")
    assert "等待审阅" in e.value.args[0].zh
    job = drafts.start(settings, store, kb, base, "http://127.0.0.1:1/v1", "m")  # its own free name
    assert job.spec["draft"] == f"{base}_qa-2"
    store.cancel(job.id)
    row = {"instruction": "Other rows?", "input": "", "output": "Saved under the draft's name."}
    datasets.save(settings, f"{base}_qa", "alpaca", [row])
    kept = list((datasets.folder(settings) / ".drafts" / "reviewed").glob(f"{base}_qa-*.json"))
    assert datasets.drafts(settings) == [] and len(kept) == 1  # off the list, still on disk


def test_a_resume_trains_on_its_own_copy_when_the_dataset_is_gone(settings, tmp_path):
    form = training.LoraForm(dataset="gone_since")
    with pytest.raises(training.TrainError, match="no dataset named 'gone_since'"):
        training.build_yaml(settings, form, tmp_path / "out")
    assert training.build_yaml(settings, form, tmp_path / "out", own_data=True)["dataset"] == "gone_since"


def test_a_diverged_step_keeps_the_reward_curve_on_its_steps(settings):
    store = JobStore(settings.home / "jobs")
    job = store.launch("train", "dpo-x", ["true"], spec={"form": {}})
    line = "{{'loss': {l}, 'grad_norm': {g}, 'rewards/accuracies': {a}, 'rewards/margins': {m}, 'epoch': 1.0}}"
    job.log_path.write_text("\n".join([line.format(l=0.69, g=1.0, a=0.5, m=0.1),
                                       line.format(l="nan", g="inf", a=0.0, m="nan"),
                                       "{'loss': 0.5, 'grad_norm': 1.0, 'lr': <lr>}",
                                       line.format(l=0.4, g=1.0, a=1.0, m=-0.3)]))
    got = sorted((r["step"], r["series"], r["value"]) for r in training.rewards(job, [1, 2, 3, 4]))
    assert got == [(1, "accuracy", 0.5), (1, "margin", 0.1), (2, "accuracy", 0.0), (4, "accuracy", 1.0),
                   (4, "margin", -0.3)]


def test_a_model_vllm_serves_only_bare_deploys_without_lora(settings, models_dir, monkeypatch):
    model = models_dir / settings.default_model
    cmd = serving.build_command(settings, model, [], "127.0.0.1", 8000, lora=False)
    assert "--enable-lora" not in cmd and "--max-loras" not in cmd
    bare = support.Verdict(True, None, True, False, Said("serves it without LoRA adapters", "不支持"))
    monkeypatch.setattr(support, "verdict", lambda *a: bare)
    store = JobStore(settings.home / "jobs")
    with pytest.raises(serving.ServeError, match="cannot be deployed here: serves it without LoRA"):
        serving.start(settings, store, model_dir=model, adapter_names=["some-run"])
    job = store.launch("serve", "m@1", ["true"], spec={"model": str(model), "served_name": "m", "adapters": [],
                                                       "lora": False})
    with pytest.raises(serving.ServeError, match="without adapters: merge some-run") as e:
        serving.load_adapter(store, job, "some-run")
    assert "合并" in e.value.args[0].zh


def test_a_model_folder_carrying_code_is_not_exported(settings, tmp_path):
    store = JobStore(settings.home / "jobs")
    out = tmp_path / "Mine-full"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"model_type": "glm4", "auto_map": {"AutoModel": "m.Model"}}))
    job = store.launch("train", "full-x", ["true"], spec={"model": str(tmp_path / "base"), "output_dir": str(out),
                                                          "form": {"method": "full"}})
    with pytest.raises(runtimes.LocalExportError, match="carries code of its own") as e:
        runtimes.start(settings, store, job.id)
    assert "自己的代码" in e.value.args[0].zh
    (out / "config.json").write_text(json.dumps({"model_type": "qwen2"}))  # the code named by the tokenizer alone
    (out / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["org/x--t.Tok", None]}}))
    with pytest.raises(runtimes.LocalExportError, match="carries code of its own"):
        runtimes.start(settings, store, job.id)


def test_an_export_shows_its_own_check_and_one_made_before_checks_were_kept_still_shows(settings, tmp_path):
    store = JobStore(settings.home / "jobs")
    out = tmp_path / "Mine-gguf"
    out.mkdir()
    (out / "verify.json").write_text(json.dumps({"file": "old-q8_0.gguf", "same_tokens": 1.0}))
    old = store.launch("gguf", "gguf old", ["true"], spec={"out": str(out)})
    assert runtimes.result(old)["gguf"] == str(out / "old-q8_0.gguf")  # from the export folder
    new = store.launch("gguf", "gguf new", ["true"], spec={"out": str(out)})
    (new.folder / "verify.json").write_text(json.dumps({"file": "new-f16.gguf", "same_tokens": 1.0}))
    assert runtimes.result(new)["gguf"] == str(out / "new-f16.gguf")  # its own, not the folder's latest
    (out / "verify.json").unlink()
    assert runtimes.result(old) is None
