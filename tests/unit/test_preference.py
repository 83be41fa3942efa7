"""Preference pairs: read in LLaMA-Factory's two shapes, checked, converted, saved with versions,
and turned into DPO, ORPO and KTO runs whose YAML, step count and memory say what they will do."""
import json

import pytest

from studio import datasets, formats, training

PAIR = {"instruction": "How long is the warranty?", "input": "", "chosen": "Two years from purchase.",
        "rejected": "No idea."}


def test_pairs_are_detected_read_and_checked(tmp_path):
    flat = tmp_path / "pairs.json"
    flat.write_text(json.dumps([PAIR]))
    assert formats.read(flat) == ("preference", [PAIR])
    # LLaMA-Factory's ShareGPT-style pairs: one user turn, chosen and rejected as messages
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"conversations": [{"from": "human", "value": PAIR["instruction"]}],
                                "chosen": {"from": "gpt", "value": PAIR["chosen"]},
                                "rejected": {"from": "gpt", "value": PAIR["rejected"]}}) + "\n")
    assert formats.read(chat) == ("preference", [PAIR])
    long = tmp_path / "long.json"
    long.write_text(json.dumps([{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                                                   {"from": "human", "value": "c"}],
                                 "chosen": {"from": "gpt", "value": "d"}, "rejected": {"from": "gpt", "value": "e"}}]))
    with pytest.raises(formats.FormatError, match="pair 1 has 3 turns") as e:
        formats.read(long)
    assert "第 1 个偏好对" in e.value.args[0].zh
    csv = tmp_path / "pairs.csv"
    csv.write_text("question,good,bad\nHow long?,Two years.,Dunno.\n", encoding="utf-8")
    fmt, recs = formats.read(csv, {"instruction": "question", "chosen": "good", "rejected": "bad"})
    assert fmt == "preference" and recs == [{"instruction": "How long?", "input": "", "chosen": "Two years.",
                                             "rejected": "Dunno."}]
    problems = formats.check("preference", [PAIR, {**PAIR, "rejected": PAIR["chosen"]},
                                            {**PAIR, "instruction": "Other?", "rejected": ""}])
    assert [(row, str(text).split(":")[0]) for row, text in problems] == [
        (2, "chosen and rejected are the same answer"), (2, "same instruction and input as row 1"),
        (3, "rejected is empty")]


def test_pairs_convert_to_answers_but_answers_cannot_become_pairs():
    assert formats.convert("preference", [PAIR], "alpaca") == [
        {"instruction": PAIR["instruction"], "input": "", "output": PAIR["chosen"]}]
    chat = formats.convert("preference", [PAIR], "openai")
    assert chat[0]["messages"][-1] == {"role": "assistant", "content": PAIR["chosen"]}
    with pytest.raises(formats.FormatError, match="need a worse answer"):
        formats.convert("alpaca", [{"instruction": "q", "input": "", "output": "a"}], "preference")
    rows = formats.to_table("preference", [PAIR])
    assert rows == [[PAIR["instruction"], "", PAIR["chosen"], PAIR["rejected"]]]
    assert formats.from_table("preference", rows + [["", "", "", ""]]) == [PAIR]


def test_a_saved_pair_set_is_registered_as_a_ranking_dataset(settings):
    datasets.save(settings, "pairs", "preference", [PAIR])
    datasets.save(settings, "pairs", "preference", [PAIR, {**PAIR, "instruction": "Returns?"}])
    info = json.loads((datasets.folder(settings) / "dataset_info.json").read_text())
    assert info["pairs"]["ranking"] is True and info["pairs"]["columns"]["chosen"] == "chosen"
    assert info[datasets.PREFERENCE_NAME]["ranking"] is True  # the bundled pairs, ready to train
    assert len(datasets.versions(settings, "pairs")) == 1


@pytest.mark.parametrize("stage,expect", [
    ("dpo", {"stage": "dpo", "pref_loss": "sigmoid", "pref_beta": 0.1}),
    ("orpo", {"stage": "dpo", "pref_loss": "orpo", "pref_beta": 0.1}),
    ("kto", {"stage": "kto", "pref_beta": 0.1, "dataset": f"{datasets.PREFERENCE_NAME}_kto"}),
])
def test_each_preference_stage_becomes_llamafactorys_yaml(settings, tmp_path, stage, expect):
    form = training.LoraForm(dataset=datasets.PREFERENCE_NAME, stage=stage)
    cfg = training.build_yaml(settings, form, tmp_path / "out")
    assert {k: cfg[k] for k in expect} == expect
    pairs = len(datasets.load(settings, datasets.PREFERENCE_NAME)[1])
    per_epoch = -(-pairs * (2 if stage == "kto" else 1) // form.batch_size)
    assert training.total_steps(settings, form) == per_epoch * 3


def test_stage_and_data_must_match(settings, tmp_path):
    with pytest.raises(training.TrainError, match="preference pairs: train it with DPO") as e:
        training.build_yaml(settings, training.LoraForm(dataset=datasets.PREFERENCE_NAME), tmp_path)
    assert "偏好对" in e.value.args[0].zh
    with pytest.raises(training.TrainError, match="DPO learns from preference pairs"):
        training.build_yaml(settings, training.LoraForm(stage="dpo"), tmp_path)
    for bad in ({"stage": "ppo"}, {"stage": "dpo", "pref_beta": 0}):
        with pytest.raises(training.TrainError):
            training.LoraForm(dataset=datasets.PREFERENCE_NAME, **bad).check()


def test_a_pair_costs_twice_the_activations_and_full_dpo_a_reference_copy(settings):
    sft = training.memory_estimate(settings, training.LoraForm(batch_size=2))
    dpo = training.memory_estimate(settings, training.LoraForm(dataset=datasets.PREFERENCE_NAME, stage="dpo",
                                                               batch_size=2))
    assert dpo["parts"]["activations"] == 2 * sft["parts"]["activations"]
    full = training.memory_estimate(settings, training.LoraForm(dataset=datasets.PREFERENCE_NAME, stage="dpo",
                                                                method="full"))
    orpo = training.memory_estimate(settings, training.LoraForm(dataset=datasets.PREFERENCE_NAME, stage="orpo",
                                                                method="full"))
    assert full["parts"]["reference"] == full["parts"]["weights"] and "reference" not in orpo["parts"]
