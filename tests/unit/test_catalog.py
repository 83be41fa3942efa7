"""The catalog: every entry's shipped config.json gives its published size, the memory estimator
runs on each, each template is the one the pinned LLaMA-Factory's own registry gives the model,
and what the installed environments cannot handle is said before a run starts."""
import json

import pytest

from studio import estimate, models, serving, training
from studio.jobs import JobStore
from studio.models import catalog, support

# Sizes as the model cards state them (total, active per token), in billions.
PUBLISHED = {
    "Qwen/Qwen3-0.6B": (0.596, None), "Qwen/Qwen3-1.7B": (1.72, None), "Qwen/Qwen3-4B": (4.02, None),
    "Qwen/Qwen3-8B": (8.19, None), "Qwen/Qwen3-30B-A3B": (30.5, 3.3),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": (1.78, None),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": (7.62, None),
    "deepseek-ai/DeepSeek-V2-Lite-Chat": (15.7, 2.4),
    "meta-llama/Llama-3.2-3B-Instruct": (3.21, None), "google/gemma-3-270m-it": (0.268, None),
    "google/gemma-3-1b-it": (1.0, None), "google/gemma-3-4b-it": (4.3, None),
}
# Hub ids LLaMA-Factory's registry knows under another name (the repository was renamed, or it
# lists the remote-code original of a model transformers now reads natively).
ALIASES = {"meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Meta-Llama-3.1-8B-Instruct",
           "THUDM/glm-4-9b-chat-hf": "zai-org/glm-4-9b-chat"}


def probed(settings, env: str) -> dict:
    found = json.loads(support.probe_path(getattr(settings, f"{env}_python")).read_text())
    assert not found.get("error"), found  # setup asks both environments on every machine
    return found


@pytest.mark.parametrize("e", models.CATALOG, ids=lambda e: e.repo_id)
def test_every_entry_has_its_facts_and_estimates_offline(e):
    cfg = models.catalog_config(e.repo_id)
    f = models.facts(cfg=cfg, name=e.repo_id)
    if e.repo_id in PUBLISHED:
        total, active = PUBLISHED[e.repo_id]
        assert abs(f["parameters"] / 1e9 - total) / total < 0.02, f["parameters"]
        if active:
            assert abs(f["active_parameters"] / 1e9 - active) / active < 0.12, f["active_parameters"]
    assert f["layers"] and f["attention_heads"] and f["kv_heads"] and f["kv_cache_per_token"]
    est = {m: estimate.estimate(cfg, m, 8, "all", 1, 1024, True)["total"]
           for m in ("inference", "lora", "qlora", "full_bf16", "full_fp32")}
    assert 0 < est["inference"] < est["lora"] < est["full_bf16"] < est["full_fp32"]
    assert est["qlora"] < est["lora"]
    assert est["inference"] > 2 * f["parameters"]  # bf16 weights, at least


@pytest.mark.parametrize("e", models.CATALOG, ids=lambda e: e.repo_id)
def test_each_template_is_the_one_llamafactory_gives_the_model(settings, e):
    train = probed(settings, "train")
    assert e.template in train["templates"]
    repo = ALIASES.get(e.repo_id, e.repo_id).lower()
    assert train["registry"][repo] == e.template


def test_the_environments_say_what_they_cannot_take(settings):
    verdicts = {e.repo_id: support.verdict(settings, models.catalog_config(e.repo_id), e.template)
                for e in models.CATALOG}
    for repo, v in verdicts.items():
        if repo != "google/gemma-3-4b-it":
            assert (v.train, v.serve, v.lora) == (True, True, True), (repo, v)
    vision = verdicts["google/gemma-3-4b-it"]
    if not settings.gpu:  # the CPU environments leave out torchvision, which its image processor needs
        assert vision.train is False and "torchvision" in vision.train_why
        assert vision.serve is False and "torchvision" in vision.serve_why and "torchvision" in vision.serve_why.zh


def test_a_model_the_environments_cannot_take_is_refused_before_it_starts(settings, tmp_path):
    folder = tmp_path / "Mystery-1B"
    folder.mkdir()
    cfg = {**models.catalog_config("Qwen/Qwen3-0.6B"), "architectures": ["MysteryForCausalLM"],
           "model_type": "mystery"}
    (folder / "config.json").write_text(json.dumps(cfg))
    store = JobStore(tmp_path / "jobs")
    with pytest.raises(training.TrainError, match="does not know the model type 'mystery'") as e:
        training.start(settings, store, training.LoraForm(model=str(folder)))
    assert "不认识模型类型" in e.value.args[0].zh
    with pytest.raises(serving.ServeError, match="does not serve MysteryForCausalLM"):
        serving.start(settings, store, model_dir=folder)
    assert store.list() == []  # nothing was launched


def test_a_folder_gets_its_template_from_its_model_type(settings, tmp_path):
    for kind, template in (("qwen3", "qwen3"), ("qwen3_moe", "qwen3"), ("gemma3_text", "gemma2"),
                           ("glm", "glm4"), ("unheard_of", "default")):
        assert catalog.template_by_type({"model_type": kind}) == template
    folder = tmp_path / "Qwen3-0.6B"  # a downloaded catalog model keeps its entry's template
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(models.catalog_config("Qwen/Qwen3-0.6B")))
    assert models.template_for(folder) == "qwen3"
    merged = tmp_path / "SmolLM2-135M-Instruct-lora-20261204-1"  # a merge or a full run: <base>-<run>
    merged.mkdir()
    (merged / "config.json").write_text(json.dumps({"model_type": "llama"}))  # llama alone says llama3
    assert models.template_for(merged) == "smollm2"
