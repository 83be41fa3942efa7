import json

import pytest

from studio import defaults, models


def test_default_model_facts_come_from_its_config(settings):
    path = models.active_model(settings)
    assert path == defaults.default_model_dir(settings)
    f = models.facts(path)
    assert f["parameters"] == 134_515_008 and f["parameters_exact"]  # from safetensors headers
    assert (f["layers"], f["attention_heads"], f["kv_heads"]) == (30, 9, 3)
    assert f["gqa"] is True and f["vocab_size"] == 49152 and f["template"] == "smollm2"


def test_default_model_stops_at_end_of_turn(settings):
    cfg = json.loads((models.active_model(settings) / "config.json").read_text())
    tok = json.loads((models.active_model(settings) / "tokenizer_config.json").read_text())
    assert cfg["eos_token_id"] == 2 and tok["eos_token"] == "<|im_end|>"


def test_formula_estimate_is_close_to_the_exact_count(settings):
    cfg = models.read_config(models.active_model(settings))
    assert abs(models._formula_params(cfg) - 134_515_008) / 134_515_008 < 0.01


def test_set_active_checks_the_folder(settings, tmp_path):
    with pytest.raises(models.ModelError, match="no config.json"):
        models.set_active(settings, tmp_path)
    folder = tmp_path / "Qwen2.5-0.5B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "vocab_size": 151936,
        "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
        "tie_word_embeddings": True}))
    assert models.set_active(settings, folder) == folder
    assert models.active_model(settings) == folder
    f = models.facts(folder)
    assert not f["parameters_exact"] and f["template"] == "qwen"
    assert 0.45e9 < f["parameters"] < 0.52e9  # Qwen2.5-0.5B has 494M


def test_download_offline_gives_a_clear_error(settings):
    with pytest.raises(models.ModelError, match="hub"):
        models.download(settings, "Qwen/Qwen2.5-0.5B-Instruct")


def test_human_count():
    assert models.human_count(134_515_008) == "134.52M"
    assert models.human_count(7_000_000_000) == "7.00B"
