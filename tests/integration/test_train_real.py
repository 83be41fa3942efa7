"""A real LLaMA-Factory LoRA run on the default model (a few steps, CPU)."""
import json
from pathlib import Path

import pytest

from studio import training

pytestmark = pytest.mark.integration


def test_lora_run_writes_an_adapter_and_metrics(trained):
    s, store, job = trained
    assert job.status == "succeeded", job.log_tail()
    adapter = training.adapter_dir(job)
    assert adapter is not None and (adapter / "adapter_model.safetensors").exists()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16
    p = training.progress(job)
    assert p["step"] == 3 and p["total"] == 3 and p["percent"] == 100
    assert len(p["loss"]) == 3 and all(x["loss"] > 0 for x in p["loss"])
    assert (job.folder / "train.yaml").exists() and (job.folder / "exit.json").exists()
    [found] = training.adapters(store)
    assert found["name"] == job.name and found["rank"] == 8


def test_cancelled_run_keeps_its_checkpoint_and_resumes_from_it(settings):
    from studio.jobs import JobStore

    from tests.conftest import wait_done, wait_for

    store = JobStore(settings.home / "jobs")
    form = training.LoraForm(max_steps=12, cutoff_len=64, batch_size=2, save_steps=2)
    job = training.start(settings, store, form)
    wait_for(lambda: training.checkpoints(store.get(job.id)), timeout=300, every=0.5,
             what="the first checkpoint")
    job = training.cancel(store, job.id)
    assert job.status == "cancelled"
    stopped_at = training.progress(job)["step"]
    assert 2 <= stopped_at < 12
    # LLaMA-Factory saves what it has on SIGABRT: the adapter is there to serve or merge.
    assert training.adapter_dir(job) is not None, job.log_tail()
    last = training.checkpoints(job)[-1]

    again = training.resume(settings, store, job.id)
    assert again.spec["resumed_from"] == str(last)
    again = wait_done(store, again.id, timeout=600, what="the resumed run")
    assert again.status == "succeeded", again.log_tail()
    p = training.progress(again)
    assert p["step"] == 12 and p["loss"][0]["step"] == int(last.name.split("-")[1]) + 1
    with pytest.raises(training.TrainError, match="not a checkpoint"):
        training.resume(settings, store, job.id, "checkpoint-999")


def test_merge_writes_a_full_model_that_loads(trained):
    from studio import export, models

    from tests.conftest import wait_done

    s, store, job = trained
    merge = export.merge(s, store, job.id)
    merge = wait_done(store, merge.id, timeout=600, what="the merge job")
    assert merge.status == "succeeded", merge.log_tail()
    folder = export.merged_dir(s, job)
    f = models.facts(folder)
    assert f["parameters"] == 134_515_008 and f["parameters_exact"]
    assert folder in models.local_models(s)
    with pytest.raises(export.ExportError, match="already merged"):
        export.merge(s, store, job.id)


def test_a_merged_run_exports_to_a_gguf_file_that_answers_as_the_model(trained):
    """llama.cpp's converter writes the file; transformers' GGUF reader reads it back and answers as
    the merged model does; Ollama's Modelfile names the file and the chat template."""
    import gguf

    from studio import export, runtimes

    from tests.conftest import wait_done

    s, store, job = trained
    if not (export.merged_dir(s, job) / "config.json").exists():  # run alone: merge first
        wait_done(store, export.merge(s, store, job.id).id, timeout=600, what="the merge job")
    with pytest.raises(runtimes.LocalExportError, match="q8_0, f16"):
        runtimes.start(s, store, job.id, outtype="q4_k_m")
    out = wait_done(store, runtimes.start(s, store, job.id, outtype="q8_0").id, timeout=600, what="the export")
    assert out.status == "succeeded", out.log_tail()
    found = runtimes.result(out)
    assert found["same_tokens"] >= 0.5 and all(a["gguf"] for a in found["answers"])
    reader = gguf.GGUFReader(found["gguf"])
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "llama" and "tokenizer.chat_template" in reader.fields
    modelfile = Path(found["modelfile"]).read_text()
    assert f"FROM ./{Path(found['gguf']).name}" in modelfile and "<|im_start|>" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile


def test_probe_times_a_few_real_steps_and_projects_the_run(settings):
    from studio.jobs import JobStore

    from tests.conftest import wait_done

    store = JobStore(settings.home / "jobs")
    form = training.LoraForm(cutoff_len=64, batch_size=4, num_train_epochs=2)
    job = training.probe(settings, store, form)
    assert job.kind == "probe" and job.name.startswith("probe-")
    job = wait_done(store, job.id, timeout=600, what="the probe")
    r = training.probe_result(settings, job, form)
    # Not a timed test (speed is measured in bench/): a real, positive figure is what is checked.
    assert r is not None and r["seconds_per_step"] > 0, job.log_tail()
    assert r["steps"] == 32 and r["total_seconds"] == r["seconds_per_step"] * 32  # 63 rows, batch 4, 2 epochs
    assert training.adapters(store) == []  # a probe is not a model to serve


def test_before_after_answers_the_same_prompts_with_base_and_tuned(trained):
    from studio import export

    from tests.conftest import wait_done

    s, store, job = trained
    cmp = export.compare(s, store, job.id, ["How long is the warranty?", "", "退货期限是多少天？"],
                         max_new_tokens=24)
    cmp = wait_done(store, cmp.id, timeout=600, what="the comparison job")
    assert cmp.status == "succeeded", cmp.log_tail()
    rows = export.comparison(cmp)
    assert [r["prompt"] for r in rows] == ["How long is the warranty?", "退货期限是多少天？"]
    assert all(r["base"] and r["tuned"] for r in rows)
    with pytest.raises(export.ExportError, match="at least one prompt"):
        export.compare(s, store, job.id, ["  "])


def test_full_fine_tune_writes_a_whole_model_into_the_models_folder(settings, models_dir):
    from studio import models
    from studio.jobs import JobStore

    from tests.conftest import wait_done

    base = models_dir / "SmolLM2-135M-Instruct"
    settings.models_dir = settings.home / "models"  # this test's own folder, not the shared one
    store = JobStore(settings.home / "jobs")
    form = training.LoraForm(method="full", max_steps=2, cutoff_len=64, batch_size=2,
                             model=str(base))
    job = training.start(settings, store, form)
    assert job.name.startswith("full-")
    job = wait_done(store, job.id, timeout=600, what="the full fine-tune")
    assert job.status == "succeeded", job.log_tail()
    out = settings.models / f"{base.name}-{job.name}"
    assert out in models.local_models(settings)
    assert models.facts(out)["parameters"] == 134_515_008
    assert training.adapters(store) == []  # nothing to serve as an adapter


def test_a_real_failure_gets_a_post_mortem(settings, tmp_path):
    """A model folder with a config but no tokenizer or weights: LLaMA-Factory fails, and the
    post-mortem names the cause from the real log."""
    import shutil

    from studio import postmortem
    from studio.jobs import JobStore

    from tests.conftest import wait_done

    broken = tmp_path / "broken-model"
    broken.mkdir()
    shutil.copy(settings.models / "SmolLM2-135M-Instruct" / "config.json", broken)
    store = JobStore(settings.home / "jobs")
    job = training.start(settings, store, training.LoraForm(max_steps=2, model=str(broken)))
    job = wait_done(store, job.id, timeout=300, what="the failing run")
    assert job.status == "failed"
    found = postmortem.diagnose(job.log_tail(200_000), job.exit_code)
    assert found.cause == "The model files could not be loaded.", found
    assert found.evidence


def test_a_dpo_run_learns_from_pairs_with_its_reward_curve(settings):
    """Two real DPO steps on the bundled pairs: the same kind of job, progress and adapter as SFT,
    and the reward margin and accuracy per step beside the loss."""
    from studio import datasets
    from studio.jobs import JobStore

    from tests.conftest import wait_done

    store = JobStore(settings.home / "jobs")
    form = training.LoraForm(dataset=datasets.PREFERENCE_NAME, stage="dpo", max_steps=2, cutoff_len=96,
                             batch_size=2, learning_rate=5e-4)
    job = wait_done(store, training.start(settings, store, form).id, timeout=600, what="the DPO run")
    assert job.status == "succeeded", job.log_tail()
    assert job.name.startswith("dpo-lora-") and training.adapter_dir(job) is not None
    p = training.progress(job)
    assert p["step"] == 2 and len(p["loss"]) == 2
    margins = [r for r in p["rewards"] if r["series"] == "margin"]
    accuracy = [r for r in p["rewards"] if r["series"] == "accuracy"]
    assert [r["step"] for r in margins] == [1, 2] and [r["step"] for r in accuracy] == [1, 2]
    assert margins[0]["value"] == 0  # the first step: the policy is still the reference
    assert "stage: dpo" in (job.folder / "train.yaml").read_text()
    [found] = [a for a in training.adapters(store) if a["name"] == job.name]  # served like any adapter
    assert found["rank"] == 8
