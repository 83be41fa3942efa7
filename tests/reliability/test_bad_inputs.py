"""Bad inputs, each through the service a tab calls: refused with a message that names the problem
and the way out, with nothing written and nothing lost."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.reliability.checks import in_chinese, refuses
from studio import chat, config, datasets, formats, models, serving, training
from studio.jobs import JobStore
from studio.knowledge import Knowledge, KnowledgeError

pytestmark = pytest.mark.bad_input
DOCS = config.REPO / "assets" / "docs"


def files_of(folder: Path) -> dict:
    """Every file under folder with its bytes: to show nothing was written or lost."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- dataset files ------------------------------------------------------------------------------
@pytest.fixture
def ds(settings):
    """The datasets folder as it was before the bad input; checked unchanged after it."""
    folder = datasets.folder(settings)
    before = files_of(folder)
    yield settings
    assert files_of(folder) == before


def test_an_empty_file(ds, tmp_path):
    (tmp_path / "empty.json").write_text("  \n")
    refuses(lambda: formats.read(tmp_path / "empty.json"), "empty.json is empty", "export",
            error=formats.FormatError)


def test_a_gbk_csv_reads_as_chinese_and_is_not_saved_over_the_sample(ds, tmp_path):
    f = tmp_path / "客服问答.csv"
    f.write_bytes("instruction,output\n退货期限是多久？,签收后15天内。\n".encode("gbk"))
    fmt, records = formats.read(f)
    assert records[0]["instruction"] == "退货期限是多久？" and not formats.check(fmt, records)
    assert datasets.free_name(ds, "support_sample") == "support_sample-2"  # never the sample itself
    assert datasets.free_name(ds, f.stem) not in datasets.list_names(ds)


def test_bytes_that_are_no_text(ds, tmp_path):
    (tmp_path / "photo.csv").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    refuses(lambda: formats.read(tmp_path / "photo.csv"), "neither UTF-8 nor GBK", "save it again",
            error=formats.FormatError)


def test_json_that_is_not_a_list_of_examples(ds, tmp_path):
    (tmp_path / "n.json").write_text("42")
    refuses(lambda: formats.read(tmp_path / "n.json"), "list of JSON objects", error=formats.FormatError)


def test_a_mixed_json_list(ds, tmp_path):
    (tmp_path / "mixed.json").write_text(json.dumps([{"instruction": "a", "output": "b"}, "oops", 3]))
    refuses(lambda: formats.read(tmp_path / "mixed.json"), "example 2 is str", "1 more",
            "JSON object", error=formats.FormatError)


def test_jsonl_errors_name_their_real_line(ds, tmp_path):
    lines = [json.dumps({"instruction": "q", "output": "a"})] * 2 + ['{"instruction": "q", "output": '] + \
        [json.dumps({"instruction": "q", "output": "a"})]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines))
    refuses(lambda: formats.read(tmp_path / "rows.jsonl"), "line 3 is not valid JSON", "Fix that line",
            error=formats.FormatError)


def test_broken_json_names_its_line(ds, tmp_path):
    (tmp_path / "b.json").write_text('[\n {"instruction": "q",\n  "output": }\n]')
    refuses(lambda: formats.read(tmp_path / "b.json"), "line 3", error=formats.FormatError)


def test_wrong_fields(ds, tmp_path):
    (tmp_path / "qa.json").write_text(json.dumps([{"question": "q", "answer": "a"}]))
    refuses(lambda: formats.read(tmp_path / "qa.json"), "['answer', 'question']", "instruction/input/output",
            error=formats.FormatError)


def test_csv_columns_that_map_onto_nothing(ds, tmp_path):
    (tmp_path / "t.csv").write_text("q,a\nx,y\n")
    refuses(lambda: formats.read(tmp_path / "t.csv"), "Map the CSV columns", "instruction/input/output",
            error=formats.FormatError)


def test_a_file_over_the_upload_limit(ds, tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(b" " * (2 << 20))
    refuses(lambda: formats.read(big, max_mib=1), "over the limit of 1 MiB", "STUDIO_UPLOAD_MAX_MIB",
            error=formats.FormatError)


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\x00b", "bell\x07", "", " ", "-lead", "x" * 65])
def test_dataset_names_that_could_escape_or_confuse(ds, name):
    refuses(lambda: datasets.save(ds, name, "alpaca", [{"instruction": "q", "input": "", "output": "a"}]),
            "not a valid dataset name", "letters, digits", error=datasets.DatasetError)


def test_rows_that_would_train_badly_are_not_saved(ds):
    bad = [{"instruction": "q", "input": "", "output": "a"}, {"instruction": "q2", "input": "", "output": ""}]
    refuses(lambda: datasets.save(ds, datasets.SAMPLE_NAME, "alpaca", bad), "Not saved", "row 2",
            "output is empty", error=datasets.DatasetError)


def test_a_chat_that_does_not_alternate(ds):
    rec = [{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]}]
    refuses(lambda: datasets.save(ds, "chat", "openai", rec), "roles must alternate", "assistant",
            error=datasets.DatasetError)


def test_restoring_a_version_that_is_not_there(ds):
    refuses(lambda: datasets.restore(ds, datasets.SAMPLE_NAME, "20990101-000000.json"),
            "not a saved version", error=datasets.DatasetError)


# --- the training form ----------------------------------------------------------------------
@pytest.fixture
def store(settings):
    s = JobStore(settings.home / "jobs")
    yield s
    assert s.list() == []  # nothing was launched


@pytest.mark.parametrize("change,words", [
    ({"learning_rate": 0}, ["Learning rate", "1e-4 to 1e-3"]),
    ({"learning_rate": 5}, ["Learning rate", "at most 1"]),
    ({"lora_rank": 0}, ["LoRA rank", "8 or 16"]),
    ({"lora_rank": 4096}, ["LoRA rank", "between 1 and 256"]),
    ({"cutoff_len": 5}, ["Cutoff length", "between 16"]),
    ({"batch_size": 0}, ["Batch size", "between 1"]),
    ({"num_train_epochs": 0, "max_steps": 0}, ["epochs", "max steps"]),
    ({"warmup_ratio": 1.5}, ["Warm-up ratio", "between 0 and 1"]),
    ({"val_size": 0.9}, ["Hold out", "0.5"]),
    ({"save_steps": 0}, ["checkpoint", "10 to 100"]),
    ({"lora_target": "q_proj,q_projj"}, ["q_projj", "it has", "down_proj", "'all'"]),
    ({"dataset": "no_such_data"}, ["no dataset named 'no_such_data'"]),
    ({"quant_4bit": True}, ["QLoRA needs a CUDA GPU"]),
])
def test_absurd_training_settings_are_caught_before_launch(settings, store, change, words):
    from dataclasses import replace

    form = replace(training.LoraForm(), **change)
    refuses(lambda: training.start(settings, store, form), *words, error=training.TrainError)


def test_a_model_folder_that_is_not_one(settings, store, tmp_path):
    (tmp_path / "notes").mkdir()
    form = training.LoraForm(model=str(tmp_path / "notes"))
    refuses(lambda: training.start(settings, store, form), "has no config.json", "Hugging Face model folder",
            error=models.ModelError)


def test_resuming_from_a_checkpoint_that_is_not_there(settings, tmp_path):
    store = JobStore(settings.home / "jobs")
    out = tmp_path / "out"
    (out / "checkpoint-10").mkdir(parents=True)
    job = store.launch("train", "lora-x", ["true"], spec={"output_dir": str(out), "form": {}})
    from tests.conftest import wait_done

    wait_done(store, job.id, 30, "the stand-in run")
    refuses(lambda: training.resume(settings, store, job.id, "checkpoint-99"), "checkpoint-99",
            "checkpoint-10", error=training.TrainError)


def test_a_hub_id_that_is_not_one(settings):
    refuses(lambda: models.download(settings, "not a repo id!"), "not a hub model name", "owner/name",
            error=models.ModelError)


def test_the_hub_offline_reads_as_advice_not_a_library_dump(settings):
    text = refuses(lambda: models.download(settings, "HuggingFaceTB/SmolLM2-135M-Instruct"),
                   "offline", "model folder on this machine", error=models.ModelError)
    assert "try again" not in text and ".." not in text


# --- serving --------------------------------------------------------------------------------
def test_an_open_host_without_a_key(settings, store):
    refuses(lambda: serving.start(settings, store, opts=serving.DeployOptions(host="0.0.0.0")),
            "0.0.0.0", "API key", "127.0.0.1", error=serving.ServeError)


def test_more_gpus_than_the_machine_has(settings, store):
    refuses(lambda: serving.start(settings, store, opts=serving.DeployOptions(tensor_parallel=4)),
            "tensor", error=serving.ServeError)


def test_a_prompt_over_the_context_reads_as_advice():
    detail = ("This model's maximum context length is 2048 tokens. However, you requested 2304 tokens "
              "(2048 in the messages, 256 in the completion).")
    text = chat.explain(400, detail)
    assert "longer than the model's context" in text and "clear it" in text and "max model length" in text


def test_a_port_in_use_is_said_at_start_up(tmp_path, models_dir):
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"STUDIO_HOME": str(tmp_path / "home"), "STUDIO_MODELS_DIR": str(models_dir),
               "STUDIO_PORT": str(port), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, str(config.REPO / "app.py")], env=env, capture_output=True,
                              text=True, timeout=180)
    assert done.returncode != 0
    assert f"Port {port} is in use" in done.stderr and "STUDIO_PORT" in done.stderr, done.stderr[-2000:]


# --- knowledge --------------------------------------------------------------------------------
def test_an_empty_document(kb, tmp_path):
    (tmp_path / "empty.txt").write_text("   ")
    refuses(lambda: kb.add_file(tmp_path / "empty.txt"), "empty.txt", "no text found", error=KnowledgeError)
    assert kb.documents() == []


def test_a_file_type_it_cannot_read(kb, tmp_path):
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    refuses(lambda: kb.add_file(tmp_path / "tool.exe"), "tool.exe", ".txt", error=KnowledgeError)


@pytest.fixture
def small_kb(settings):
    """A knowledge base whose upload limit is 1 MiB (STUDIO_UPLOAD_MAX_MIB=1)."""
    from dataclasses import replace

    k = Knowledge(replace(settings, upload_max_mib=1))
    yield k
    k.close()


def test_a_zip_bomb(small_kb, tmp_path):
    kb = small_kb
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", b"0" * (64 << 20))  # 64 KiB on disk
    assert z.stat().st_size < 1 << 20
    [rep] = kb.ingest([z])
    assert "bomb.zip unpacks to" in rep.error and "STUDIO_UPLOAD_MAX_MIB" in rep.error and in_chinese(rep.error)
    assert kb.documents() == [] and not any((kb.root / "unpacked").glob("*"))


def test_a_document_over_the_upload_limit(small_kb, tmp_path):
    kb = small_kb
    big = tmp_path / "big.txt"
    big.write_text("kettle " * 200_000)
    [rep] = kb.ingest([big])
    assert "over the limit" in rep.error and "split it" in rep.error and kb.documents() == []
    assert in_chinese(rep.error)


@pytest.mark.parametrize("name", ["../..", "..", "/", "./."])
def test_document_names_that_are_only_climbing(name):
    from studio.kbreaders import safe_path

    refuses(lambda: safe_path(name), "not a usable file name", error=KnowledgeError)
    assert safe_path("../../etc/passwd.txt") == "etc/passwd.txt"  # kept inside the base's folder
    assert safe_path("bell\x07.txt") == "bell_.txt"


def test_base_names_with_separators_or_control_characters(kb):
    for name in ("../x", "a/b", "tab\there", "x" * 41):
        refuses(lambda: kb.create_base(name), "knowledge base name", "letters, digits", error=KnowledgeError)
    assert [b.name for b in kb.bases()] == ["default"]


def test_a_base_that_already_exists(kb):
    refuses(lambda: kb.create_base("default"), "already exists", error=KnowledgeError)


def test_chunks_too_small_or_overlapping_themselves(kb):
    refuses(lambda: kb.create_base("tiny", chunk_tokens=5), "Chunk size", "16-8192", error=KnowledgeError)
    refuses(lambda: kb.create_base("loop", chunk_tokens=64, chunk_overlap=64), "overlap smaller",
            error=KnowledgeError)


def test_two_readmes_from_one_folder_upload_stay_two_documents(kb, tmp_path):
    a, b = tmp_path / "h1" / "README.md", tmp_path / "h2" / "README.md"
    for f, text in ((a, "The blue kettle costs 199 yuan."), (b, "The green kettle costs 259 yuan.")):
        f.parent.mkdir()
        f.write_text(text)
    reps = kb.ingest([a, b])  # what a browser sends for a folder: the names without their folders
    assert [r.name for r in reps] == ["README.md", "README-2.md"] and "zip" in reps[1].warning
    assert in_chinese(reps[1].warning)
    assert dict(kb.documents()) == {"README.md": 1, "README-2.md": 1}
    folder = tmp_path / "manuals"
    for sub in ("a", "a_b"):
        (folder / sub).mkdir(parents=True)
    (folder / "a" / "b.txt").write_text("first")
    (folder / "a_b.txt").write_text("second")
    kb.ingest([folder])
    names = dict(kb.documents())
    assert "manuals/a/b.txt" in names and "manuals/a_b.txt" in names


def test_text_garbled_before_it_reached_the_studio_does_not_pass_the_check(ds):
    # What a GBK CSV dropped onto the table (decoded by the browser as UTF-8) looks like.
    rows = [{"instruction": "\ufffd\ufffd\ufffd\ufffd", "input": "", "output": "15\ufffd\ufffd"}]
    problems = formats.check("alpaca", rows)
    assert problems and "unreadable characters" in problems[0][1] and "Import" in problems[0][1]
    assert in_chinese(problems[0][1])
    refuses(lambda: datasets.save(ds, "garbled", "alpaca", rows), "Not saved", "unreadable",
            error=datasets.DatasetError)
