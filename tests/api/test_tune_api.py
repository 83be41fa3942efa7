"""The Train and Dataset tabs' newer panels through the running app: a DPO run started from the
form, two runs compared (curves, settings with their differences, figures), and what the
evaluation, the GGUF export and the drafts say when something is missing, in both languages."""
import pytest
from gradio_client import Client

from studio import datasets, training
from studio.jobs import JobStore

from tests.conftest import wait_done

pytestmark = [pytest.mark.api, pytest.mark.integration]


def value(x):
    return x.get("value") if isinstance(x, dict) and x.get("__type__") == "update" else x


def test_preference_runs_compared_and_what_is_missing(studio, models_dir):
    c = Client(studio.start().url, verbose=False, analytics_enabled=False)
    # a DPO run from the form (stage and beta are the form's last two fields)
    dpo = ["support_preference", 8, 16, "all", 5e-4, 1, 2, 64, 2, 10, 1, "cosine", 0.1, 0.0, 0.0, True,
           False, "", "lora", 1, 0, "dpo", 0.1]
    with pytest.raises(Exception, match="DPO learns from preference pairs"):
        c.predict(*(["support_sample"] + dpo[1:]), api_name="/start_training")
    run_id = value(c.predict(*dpo, api_name="/start_training"))
    store = JobStore(studio.home / "jobs")
    s = training.config.load(home=studio.home, models_dir=models_dir)
    sft = training.start(s, store, training.LoraForm(max_steps=2, cutoff_len=64, batch_size=2))
    for job_id in (run_id, sft.id):
        assert wait_done(store, job_id, 600, "a run").status == "succeeded", store.get(job_id).log_tail()

    chart, settings, figures = (value(x) for x in c.predict([run_id, sft.id], api_name="/compare_runs"))
    assert {row[-1].split(" · ")[-1] for row in chart["data"]} == {"training loss"}
    rows = {r[0]: r[1:] for r in settings["data"]}
    assert rows["stage"] == ["dpo", "sft"] and rows["dataset"] == [datasets.PREFERENCE_NAME, datasets.SAMPLE_NAME]
    assert {r[0] for r in figures["data"]} >= {"status", "final loss", "reward margin"}
    with pytest.raises(Exception, match="two to four runs"):
        c.predict([run_id], api_name="/compare_runs")

    with pytest.raises(Exception, match="held no rows out of training"):
        c.predict(sft.id, "", 5, 32, False, None, "", "", "", "", api_name="/evaluate_run")
    with pytest.raises(Exception, match="Merge .* into a full model first"):
        c.predict(sft.id, "q8_0", "", api_name="/export_gguf")
    with pytest.raises(Exception, match="no draft named"):
        c.predict("nothing_here", api_name="/open_draft")

    zh = Client(studio.url, verbose=False, analytics_enabled=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(Exception, match="请先把 .* 合并成完整模型"):
        zh.predict(sft.id, "q8_0", "", api_name="/export_gguf")
