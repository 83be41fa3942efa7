"""The main journey in a real browser (Debian's chromium through Playwright): data, train,
deploy, hot-load the new adapter, knowledge, a chat answer that cites its source, and base vs
tuned answers compared side by side."""
import re
import shutil

import pytest

from studio import config

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
DOCS = config.REPO / "assets" / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Headless chromium with a fresh temporary profile, kept off the (closed) network."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        yield lambda locale: b.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        b.close()


ERROR_BADGE = "[data-testid='status-tracker']:not(.hide) .error"  # Gradio's badge over a failed event's outputs


def test_whole_journey_in_the_browser(studio, browser, tmp_path):
    from playwright.sync_api import expect

    studio.start()
    page = browser("en-US").new_page()
    page.goto(studio.url)
    expect(page.get_by_text("SmolLM2-135M-Instruct").first).to_be_visible(timeout=30_000)

    # Dataset: the sample loads; emptying an answer is reported with its row number.
    page.get_by_role("tab", name="2 · Dataset").click()
    expect(page.get_by_text("What is Qinghe Appliances?").first).to_be_visible(timeout=30_000)
    # A bad import says why and stays said; the table and the format keep their content.
    (tmp_path / "empty.json").write_text("")
    page.get_by_text("Import, export and versions").click()
    page.locator("#import_file input[type=file]").set_input_files(str(tmp_path / "empty.json"))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("empty.json is empty")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(12_000)  # past Gradio's default 10 s: the explanation is still there
    expect(page.get_by_text("empty.json is empty")).to_be_visible()
    expect(page.locator(ERROR_BADGE)).to_have_count(0)
    expect(page.get_by_text("What is Qinghe Appliances?").first).to_be_visible()
    page.get_by_test_id("toast-close").first.click()
    first = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="1", exact=True))
    first.get_by_role("gridcell").nth(2).dblclick()
    expect(page.locator("textarea:focus, input:focus")).to_have_count(1)  # the cell editor is open
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("row 1: output is empty")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Save", exact=True).click()  # refused: nothing is written
    expect(page.get_by_text("Not saved: row 1: output is empty")).to_be_visible(timeout=30_000)
    first.get_by_role("gridcell").nth(2).dblclick()
    expect(page.locator("textarea:focus, input:focus")).to_have_count(1)
    page.keyboard.insert_text("We make smart kettles, rice cookers and air purifiers.")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Check").click()  # also measures every row with the template
    expect(page.get_by_text("63 rows, no problems found.")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved 63 rows to support_sample")).to_be_visible(timeout=30_000)
    # Preview the first row exactly as the trainer will tokenise and mask it.
    page.get_by_text("Preview as the trainer sees it").click()
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_text("of them are trained")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("We make smart kettles").first).to_be_visible()

    # Train: a few steps of LoRA on the sample.
    page.get_by_role("tab", name="3 · Train").click()
    panel = page.get_by_role("tabpanel")  # only the visible tab
    # A value below a field's range is refused once, naming the field, when the run is asked for;
    # nothing re-reads the form meanwhile (no toast every tick).
    panel.get_by_label("Cutoff length (tokens)").fill("5")
    page.wait_for_timeout(6_000)
    expect(page.get_by_test_id("toast-body")).to_have_count(0)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Cutoff length must be between 16")).to_be_visible(timeout=30_000)
    page.get_by_test_id("toast-close").first.click()
    panel.get_by_label("Max steps (0 = use epochs)").fill("3")
    panel.get_by_label("Cutoff length (tokens)").fill("64")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Status: succeeded")).to_be_visible(timeout=600_000)
    # What an ended run shows is its end: the loss line drawn, its label, its last checkpoint.
    loss = panel.locator(".vega-embed").first
    expect(loss.locator("[aria-roledescription='line mark']")).to_have_count(1, timeout=30_000)
    expect(panel.get_by_label("Training run")).to_have_value(re.compile(r"lora-.* · succeeded"), timeout=30_000)
    expect(panel.get_by_label("Checkpoint", exact=True)).to_have_value("checkpoint-3")
    expect(panel.get_by_text(re.compile(r"step 3/3 · elapsed [\d:]+ · remaining -"))).to_be_visible()

    # Deploy the base model alone (the new adapter comes preselected; clear it) ...
    page.get_by_role("tab", name="4 · Deploy").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("lora-").first).to_be_visible(timeout=30_000)
    panel.get_by_title("Clear").first.click()
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_text("Status: ready")).to_be_visible(timeout=600_000)
    # A second click asks first: it would start a second server of the same model.
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(panel.get_by_text("already serves this model")).to_be_visible(timeout=30_000)
    panel.get_by_role("button", name="Cancel", exact=True).click()
    expect(panel.get_by_text("already serves this model")).to_be_hidden()
    expect(panel.get_by_text(re.compile(r"Instruct, lora-"))).to_have_count(0)
    # ... then load the adapter into the running server, without a restart.
    panel.get_by_label("Adapter", exact=True).click()
    page.get_by_role("option").filter(has_text="lora-").first.click()
    page.get_by_role("button", name="Load", exact=True).click()
    expect(panel.get_by_text(re.compile(r"Instruct, lora-"))).to_be_visible(timeout=60_000)

    # Knowledge: upload a document and see its chunks listed.
    page.get_by_role("tab", name="5 · Knowledge").click()
    uploader = page.get_by_role("tabpanel").locator("input[type=file][multiple]:not([webkitdirectory])")
    uploader.set_input_files(str(DOCS / "qinghe_policies.md"))
    page.get_by_role("button", name="Add to knowledge base").click()
    expect(page.get_by_text("Added qinghe_policies.md")).to_be_visible(timeout=120_000)

    # Chat: the tuned model answers with retrieval and the cited source appears.
    page.get_by_role("tab", name="6 · Chat").click()
    page.get_by_label("Message").fill("How many days do I have to return a product?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("qinghe_policies.md (chunk").first).to_be_visible(timeout=180_000)
    page.screenshot(path=str(studio.home.parent / "chat.png"), full_page=True)

    # Compare: base, tuned, base + retrieval, tuned + retrieval, answered side by side.
    page.get_by_text("Compare: one question, up to four answers side by side").click()
    page.get_by_label("One question for all of them").fill("How long is the warranty?")
    page.get_by_role("button", name="Compare", exact=True).click()
    lanes = page.get_by_role("tabpanel")
    timing = re.compile(r"first token \d+ ms · [\d.]+ tokens/s")
    expect(lanes.get_by_text(timing)).to_have_count(4, timeout=240_000)
    expect(lanes.get_by_text("+ RAG")).to_have_count(2)


def test_the_ui_speaks_chinese(studio, browser):
    from playwright.sync_api import expect

    studio.start()
    page = browser("zh-CN").new_page()
    page.goto(studio.url)
    expect(page.get_by_role("tab", name="1 · 模型")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("当前模型：").first).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="4 · 部署").click()
    expect(page.get_by_text("尚未部署")).to_be_visible(timeout=30_000)
    # Every tab in Chinese: no English left but the names of things (models, libraries, formats,
    # settings known by their English names) and the sample data itself.
    names = set("""LoRA QLoRA DeepSpeed ZeRO BM25 Qdrant vLLM API GPU CPU Token token dtype auto float32
        bfloat16 float16 float Hugging Face Hub YAML MiniLM SmolLM2 SmolLM2-135M-Instruct Instruct RRF MRR
        recall KV Gradio HF_TOKEN Python LlamaIndex curl OpenAI JSON JSONL CSV Alpaca ShareGPT TXT PDF DOCX
        HTML Markdown GraphRAG ReAct Agentic RAG top-p alpha rank lora CUDA bitsandbytes transformers
        support_sample instruction input output cosine linear constant_with_warmup all q_proj v_proj k_proj
        o_proj sentence-transformers all-MiniLM-L6-v2 BAAI bge-small-zh-v1.5 bge-reranker-base
        ms-marco-MiniLM-L-6-v2 paraphrase-multilingual-MiniLM-L12-v2 cross-encoder default
        prompt LLaMA-Factory builtin llama.cpp Ollama Modelfile GGUF DPO ORPO KTO SFT BLEU ROUGE beta
        support_preference""".split())
    # Gradio's own status tracker writes "queue: 2/5 | processing | 0.4s" in English while an event
    # waits or runs (its frontend has no translation for them): not the studio's text.
    names |= {"queue", "processing"}
    for tab in ("1 · 模型", "2 · 数据集", "3 · 训练", "4 · 部署", "5 · 知识库", "6 · 对话"):
        page.get_by_role("tab", name=tab).click()
        panel = page.get_by_role("tabpanel")
        expect(panel).to_be_visible()
        page.wait_for_timeout(2_000)
        text = panel.inner_text()
        if tab == "2 · 数据集":  # the sample rows are English and Chinese data, not the interface
            text = panel.evaluate("p => { const c = p.cloneNode(true); "
                                  "c.querySelectorAll('#dataset_rows').forEach(t => t.remove()); return c.innerText; }")
        text = re.sub(r"\S*/\S*", " ", text)  # paths and URLs are names too
        english = {w for w in re.findall(r"[A-Za-z][\w\-.]{3,}", text)} - names
        english = {w for w in english if not re.fullmatch(r"[\w.\-]*\d[\w.\-]*|[A-Z0-9_]+", w)}
        assert not english, f"{tab}: English left in the Chinese interface: {sorted(english)}"
