"""The whole journey through each tab's main action, driven with gradio_client against the real
app, including an app crash and restart while a training job runs."""
import subprocess
import time

import pytest
from gradio_client import Client, handle_file

from studio import config
from studio.jobs import JobStore

from tests.conftest import wait_for

pytestmark = [pytest.mark.api, pytest.mark.integration]
DOCS = config.REPO / "assets" / "docs"


def client(studio):
    return Client(studio.url, verbose=False, analytics_enabled=False)


def value(x):
    """A component update (what a handler returning gr.update sends) -> its value."""
    return x.get("value") if isinstance(x, dict) and x.get("__type__") == "update" else x


def form(**over):
    """The Train tab's inputs, in order, with the given changes."""
    values = dict(dataset="mine", rank=8, alpha=16, target="all", lr=1e-3, epochs=1, steps=8,
                  cutoff=64, batch=2, save=4, accum=1, sched="cosine", warm=0.1, drop=0.0, val=0.0,
                  ckpt=True, q4=False, ds="", method="lora")
    values.update(over)
    return list(values.values())


def text(content):
    """Chatbot message content as text (Gradio 6 sends a list of parts)."""
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def progress_text(c, run_id):
    info = c.predict(run_id, api_name="/training_progress")[0]
    return info


def test_every_tab_through_the_api_with_a_restart_mid_training(studio, models_dir, tmp_path):
    c = client(studio.start())

    # Models: the default model is there and active; its facts come from its config.
    _, facts = c.predict(str(models_dir / "SmolLM2-135M-Instruct"), api_name="/use_model")
    assert "SmolLM2-135M-Instruct" in facts and "134,515,008" in facts
    with pytest.raises(Exception, match="config.json"):
        c.predict("/nonexistent", api_name="/use_model_folder")
    facts = c.predict("deepseek-ai/DeepSeek-V2-Lite-Chat", api_name="/catalog_facts")
    assert "15.71B" in facts and "64 (6 / token)" in facts
    assert "| Trains here | yes |" in facts and "| Serves here | yes, with LoRA adapters |" in facts
    facts = c.predict("Qwen/Qwen3-30B-A3B", api_name="/catalog_facts")
    assert "30.53B" in facts and "128 (8 / token)" in facts and "qwen3_nothink" in facts
    if not config.load().gpu:  # the CPU environments lack what its vision tower's processor imports
        facts = c.predict("google/gemma-3-4b-it", api_name="/catalog_facts")
        assert "| Serves here | no: vLLM" in facts and "torchvision" in facts
    est = c.predict("catalog", "meta-llama/Llama-3.1-8B-Instruct", "lora", 8, "all", 1, 1024, True,
                    16, api_name="/estimate_memory")
    assert "trainable params: 20,971,520" in est and "Does not fit" in est
    est = c.predict("catalog", "meta-llama/Llama-3.1-8B-Instruct", "qlora", 8, "all", 1, 1024,
                    True, 16, api_name="/estimate_memory")
    assert "Fits" in est

    # Dataset: load the sample, refuse a broken save, keep a good one.
    table, fmt, name, report, _ = c.predict("support_sample", api_name="/load_dataset")
    rows = table["data"]
    assert (fmt, name) == ("alpaca", "support_sample") and len(rows) >= 30 and "no problems" in report
    bad = {"headers": ["instruction", "input", "output"], "data": rows + [["Q", "", ""]]}
    _, report, _ = c.predict(bad, "alpaca", "mine", api_name="/save_dataset")
    assert f"row {len(rows) + 1}" in report and "Not saved" in report
    good = {"headers": ["instruction", "input", "output"], "data": rows[:12]}
    choice, report, _ = c.predict(good, "alpaca", "mine", api_name="/save_dataset")
    assert value(choice) == "mine" and "Saved 12 rows" in report

    # Train: a bad form is refused with the reason; then a short LoRA run on the saved dataset.
    with pytest.raises(Exception, match="Learning rate must be above 0"):
        c.predict(*form(lr=0), api_name="/start_training")
    with pytest.raises(Exception, match="LoRA rank must be between 1 and 256"):  # names the field
        c.predict(*form(rank=0), api_name="/start_training")
    preview = c.predict(*form(), api_name="/preview_training")
    assert "lora_rank: 8" in preview and "save_steps: 4" in preview and "llamafactory-cli train" in preview
    plan = c.predict(*form(), api_name="/plan_training")
    assert "8 steps" in plan and "trainable params: 2,442,240" in plan
    with pytest.raises(Exception, match="QLoRA needs a CUDA GPU"):
        c.predict(*form(q4=True), api_name="/start_training")
    run_id = value(c.predict(*form(), api_name="/start_training"))
    assert run_id.startswith("train-")
    wait_for(lambda: "step 0/" not in progress_text(c, run_id), timeout=300, every=2,
             what="the first logged training step")

    # The app crashes mid-run; the job lives on in its own session and the new app finds it.
    studio.kill()
    c = client(studio.start())
    assert "running" in progress_text(c, run_id) or "succeeded" in progress_text(c, run_id)
    wait_for(lambda: "succeeded" in progress_text(c, run_id), timeout=300, every=2,
             what="training to finish after the restart")
    assert "step 8/8" in progress_text(c, run_id)
    adapter = "lora-" + run_id.split("-", 1)[1]
    [row] = [r for r in c.predict(api_name="/list_runs")["data"] if r[0] == adapter]
    assert row[1] == "succeeded" and row[2] == "mine" and row[5] == "8/8" and row[7] == 2

    # Knowledge: ingest two documents (and a bad one, which the rest survives); find the right
    # chunk with its dense and BM25 ranks; look at a document's chunks; delete one.
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    progress, report, docs = c.predict(
        "default", [handle_file(str(DOCS / "qinghe_policies.md")), handle_file(str(broken)),
                    handle_file(str(DOCS / "k2_kettle_manual.txt"))], None, api_name="/ingest")[:3]
    assert "Files 3/3" in progress and "Added qinghe_policies.md" in report
    assert "broken.pdf: could not be read" in report and "Added k2_kettle_manual.txt" in report
    assert {"qinghe_policies.md", "k2_kettle_manual.txt"} <= {r[0] for r in docs["data"]}
    hits = c.predict("default", "How many days do I have to return a product?", "hybrid",
                     api_name="/search")
    hits = value(hits)
    assert hits["headers"] == ["score", "dense", "BM25", "file", "chunk", "text"]  # no reranker here
    top = hits["data"][0]
    assert top[3] == "qinghe_policies.md" and top[1].startswith("1 · ") and top[2].startswith("1 · ")
    chunks = value(c.predict("default", "qinghe_policies.md", api_name="/chunks"))["data"]
    assert [r[0] for r in chunks] == list(range(1, len(chunks) + 1)) and all(r[2] <= 256 for r in chunks)
    before = sum(r[1] for r in docs["data"])
    left = sum(r[1] for r in docs["data"] if r[0] != "k2_kettle_manual.txt")
    report, docs, _, about = c.predict("default", "k2_kettle_manual.txt", api_name="/delete_document")
    assert "Deleted k2_kettle_manual.txt" in report and left < before
    assert f"{left} chunks" in about  # the base's count follows the delete
    assert "k2_kettle_manual.txt" not in [r[0] for r in docs["data"]]

    # Deploy: the active model with the adapter just trained, behind a generated API key.
    which, key = c.predict([adapter], 1024, 2, 1, "auto", True, 0, 4, True, "127.0.0.1",
                           api_name="/deploy")
    deployment = value(which)
    assert deployment.startswith("serve-") and len(value(key)) > 20
    status = wait_for(lambda: (lambda s: s if "ready" in s[0] else None)(
        c.predict(deployment, api_name="/deploy_status")), timeout=600, every=3,
        what="the deployment")
    assert status[1].startswith("http://127.0.0.1:") and adapter in status[0]
    assert "STUDIO_API_KEY" in status[2] and value(key) not in status[2]
    assert value(c.predict(None, "", api_name="/chat_models")) == f"{deployment}|{adapter}"
    assert value(c.predict("external", "", api_name="/chat_models")) == f"{deployment}|{adapter}"

    # Chat: the tuned model answers with retrieval, and the sources name file and chunk.
    def ask(question, target, history=(), url="", key="", ext=""):
        return c.predict(question, list(history), target, True, "You are Qinghe's support assistant.",
                         0.3, 1.0, 64, url, key, ext, "default", api_name="/chat")

    history, box, speed = ask("How many days do I have to return a product?", f"{deployment}|{adapter}")
    answer = text(history[-1]["content"])
    assert "qinghe_policies.md (chunk" in answer and box == "" and "first token after" in speed
    again, _, _ = c.predict(history, f"{deployment}|{adapter}", True, "", 0.3, 1.0, 64, "", "", "",
                            "default", api_name="/regenerate")
    assert len(again) == 2 and text(again[0]["content"]) == text(history[0]["content"])
    md, js = c.predict(history, api_name="/export_chat")
    assert "**You**:" in open(md, encoding="utf-8").read() and '"role": "assistant"' in open(js).read()

    # Compare: base and tuned + retrieval side by side, each with its own timing line.
    lanes = c.predict("How long is the warranty?", "default", f"{deployment}|SmolLM2-135M-Instruct",
                      f"{deployment}|{adapter}", None, None, False, True, False, False,
                      api_name="/compare")
    assert "**SmolLM2-135M-Instruct**" in lanes[0] and "tokens/s" in lanes[0]
    assert f"**{adapter}** + RAG" in lanes[1] and "qinghe_policies.md (chunk" in lanes[1]
    assert lanes[2] == lanes[3] == ""

    # Two users at once: their answers stream side by side, not one after the other.
    # (Greedy, so the answer is the same long one every run.)
    other = client(studio)
    both = [x.submit("Write a long story about a kettle.", [], f"{deployment}|SmolLM2-135M-Instruct", False,
                     "", 0.0, 1.0, 120, "", "", "", "default", api_name="/chat") for x in (c, other)]
    first, done, deadline = [None, None], [None, None], time.time() + 180
    while None in done and time.time() < deadline:
        for i, j in enumerate(both):
            if first[i] is None and j.outputs():
                first[i] = time.perf_counter()
            if done[i] is None and j.done():
                done[i] = time.perf_counter()
        time.sleep(0.02)
    assert None not in done, "the answers did not finish"
    assert first[0] < done[1] and first[1] < done[0], "one answer waited for the other"
    assert all(len(text(j.result()[0][-1]["content"])) > 100 for j in both)

    # Agentic RAG and GraphRAG through the Chat tab's panel: steps shown, a graph built and walked.
    steps = c.predict("How many days do I have to return a product?", f"{deployment}|{adapter}", "default",
                      api_name="/agentic_rag")
    assert "🔎 **search**" in steps and "📄 **observation**" in steps and "**Answer**" in steps
    graph, note = c.predict(f"{deployment}|{adapter}", "default", api_name="/build_graph")
    graph = value(graph)
    assert graph["data"] and "Built a graph of" in note
    assert value(c.predict("default", api_name="/show_graph"))["data"] == graph["data"]
    assert "Facts from the graph" in c.predict("What is the warranty?", f"{deployment}|{adapter}", "default",
                                               api_name="/graph_rag")

    # The same server as an external OpenAI-compatible endpoint: key required, errors in words.
    url = status[1]
    assert adapter in c.predict(url, value(key), api_name="/external_models")["choices"][1]
    history, _, _ = ask("Hello", "external", url=url, key=value(key), ext=adapter)
    assert text(history[-1]["content"]) and not text(history[-1]["content"]).startswith("⚠️")
    history, _, _ = ask("Hello", "external", url=url, key="wrong", ext=adapter)
    assert "refused the API key (401)" in text(history[-1]["content"])
    assert text(history[0]["content"]) == "Hello"  # nothing typed is lost
    with pytest.raises(Exception, match="check the URL"):
        c.predict("http://127.0.0.1:9/v1", "", api_name="/external_models")
    # The server dies (as the out-of-memory killer would take it): within seconds the studio
    # shows it failed, and the chat names the deployment that went away.
    server = JobStore(studio.home / "jobs").get(deployment)
    subprocess.run(["pkill", "-9", "-P", str(server.pid)], check=True)
    wait_for(lambda: "failed" in c.predict(deployment, api_name="/deploy_status")[0], timeout=30, every=1,
             what="the dead server to show as failed")
    with pytest.raises(Exception, match=f"The deployment {server.name} \\({deployment}\\) is no longer running"):
        ask("Hello", f"{deployment}|{adapter}")
    assert value(c.predict(deployment, api_name="/stop_deploy")) is None
    assert "exit code -9" in c.predict(None, api_name="/deploy_status")[0]  # the last one, and why
