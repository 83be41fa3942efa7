import json

import pytest

from studio import training
from studio.jobs import Job


def test_yaml_follows_the_form_and_the_model(settings, tmp_path):
    form = training.LoraForm(lora_rank=16, lora_alpha=32, lora_target="q_proj,v_proj",
                             learning_rate=2e-4, max_steps=5, cutoff_len=128, batch_size=2)
    cfg = training.build_yaml(settings, form, tmp_path / "out")
    assert cfg["finetuning_type"] == "lora" and cfg["stage"] == "sft"
    assert (cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_target"]) == (16, 32, "q_proj,v_proj")
    assert cfg["max_steps"] == 5 and cfg["cutoff_len"] == 128
    assert cfg["per_device_train_batch_size"] == 2 and cfg["learning_rate"] == 2e-4
    assert cfg["template"] == "smollm2" and cfg["trust_remote_code"] is False
    assert cfg["dataset"] == "support_sample" and cfg["output_dir"] == str(tmp_path / "out")
    assert cfg["model_name_or_path"].endswith("SmolLM2-135M-Instruct")


def test_epochs_are_used_when_max_steps_is_zero(settings, tmp_path):
    cfg = training.build_yaml(settings, training.LoraForm(num_train_epochs=2), tmp_path)
    assert "max_steps" not in cfg and cfg["num_train_epochs"] == 2.0


@pytest.mark.parametrize("field,value,words", [
    ("lora_rank", 0, "rank"), ("learning_rate", 0, "Learning rate"), ("cutoff_len", 4, "Cutoff"),
    ("batch_size", 0, "Batch"), ("lora_target", " ", "modules"), ("num_train_epochs", 0, "epochs"),
])
def test_bad_form_values_are_refused_with_a_reason(settings, tmp_path, field, value, words):
    form = training.LoraForm(**{field: value})
    with pytest.raises(training.TrainError, match=words):
        training.build_yaml(settings, form, tmp_path)


def test_unknown_dataset_is_refused(settings, tmp_path):
    with pytest.raises(training.TrainError, match="no dataset"):
        training.build_yaml(settings, training.LoraForm(dataset="nope"), tmp_path)


def _job(tmp_path, spec):
    return Job(id="j", kind="train", name="lora-x", status="running", spec=spec, command=[],
               folder=tmp_path, pid=None, pgid=None, proc_start=None, created=0, started=0,
               finished=None, exit_code=None, error=None)


def test_progress_reads_trainer_log_and_tolerates_a_half_written_line(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    lines = [{"current_steps": 1, "total_steps": 4, "loss": 2.5, "percentage": 25.0,
              "elapsed_time": "0:00:04", "remaining_time": "0:00:12"},
             {"current_steps": 2, "total_steps": 4, "loss": 2.1, "percentage": 50.0,
              "elapsed_time": "0:00:08", "remaining_time": "0:00:08"}]
    (out / "trainer_log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + '\n{"current')
    p = training.progress(_job(tmp_path, {"output_dir": str(out)}))
    assert (p["step"], p["total"], p["percent"], p["remaining"]) == (2, 4, 50.0, "0:00:08")
    assert [(x["step"], x["loss"]) for x in p["loss"]] == [(1, 2.5), (2, 2.1)]


def test_progress_before_the_first_step(tmp_path):
    p = training.progress(_job(tmp_path, {"output_dir": str(tmp_path / "none")}))
    assert p["step"] == 0 and p["loss"] == []


def test_total_steps_matches_what_the_trainer_counts(settings):
    # 63 sample rows, batch 4 -> 16 steps an epoch; 3 epochs -> 48 (as LLaMA-Factory reports)
    assert training.total_steps(settings, training.LoraForm()) == 48
    assert training.total_steps(settings, training.LoraForm(grad_accum=2, num_train_epochs=1)) == 8
    assert training.total_steps(settings, training.LoraForm(max_steps=7)) == 7


def test_advanced_settings_reach_the_yaml(settings, tmp_path):
    form = training.LoraForm(val_size=0.1, grad_ckpt=False, scheduler="linear", grad_accum=4,
                             lora_dropout=0.05, save_steps=5)
    cfg = training.build_yaml(settings, form, tmp_path)
    assert (cfg["val_size"], cfg["eval_strategy"], cfg["eval_steps"]) == (0.1, "steps", 5)
    assert cfg["disable_gradient_checkpointing"] is True and cfg["lr_scheduler_type"] == "linear"
    assert cfg["gradient_accumulation_steps"] == 4 and cfg["lora_dropout"] == 0.05


def test_cuda_only_options_are_refused_on_cpu_and_written_on_gpu(settings, tmp_path):
    settings.gpu = False
    with pytest.raises(training.TrainError, match="QLoRA needs a CUDA GPU"):
        training.build_yaml(settings, training.LoraForm(quant_4bit=True), tmp_path)
    with pytest.raises(training.TrainError, match="DeepSpeed needs CUDA"):
        training.build_yaml(settings, training.LoraForm(deepspeed="2"), tmp_path)
    settings.gpu = True
    cfg = training.build_yaml(settings, training.LoraForm(quant_4bit=True, deepspeed="3", gpus=2), tmp_path)
    assert cfg["quantization_bit"] == 4 and cfg["bf16"] is True and "use_cpu" not in cfg
    ds = training.deepspeed_config("3")
    assert ds["zero_optimization"]["stage"] == 3 and ds["train_batch_size"] == "auto"


def test_memory_estimate_of_the_form_uses_the_same_numbers(settings):
    est = training.memory_estimate(settings, training.LoraForm())
    assert est["trainable"] == 2_442_240


def test_progress_reads_eval_loss_lr_and_throughput(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    lines = [{"current_steps": 1, "total_steps": 2, "loss": 2.0, "lr": 1e-3, "percentage": 50.0,
              "elapsed_time": "0:00:02", "remaining_time": "0:00:02", "throughput": 120.5},
             {"current_steps": 2, "total_steps": 2, "eval_loss": 1.8, "percentage": 100.0,
              "elapsed_time": "0:00:04", "remaining_time": "0:00:00"}]
    (out / "trainer_log.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    p = training.progress(_job(tmp_path, {"output_dir": str(out)}))
    assert p["curves"] == [{"step": 1, "loss": 2.0, "series": "train"},
                           {"step": 2, "loss": 1.8, "series": "eval"}]
    assert p["lr"] == [{"step": 1, "lr": 1e-3}] and p["throughput"] == 120.5


def test_full_fine_tune_has_no_lora_settings_and_its_own_estimate(settings, tmp_path):
    cfg = training.build_yaml(settings, training.LoraForm(method="full"), tmp_path)
    assert cfg["finetuning_type"] == "full" and not any(k.startswith("lora_") for k in cfg)
    est = training.memory_estimate(settings, training.LoraForm(method="full"))
    assert est["trainable"] == est["params"] == 134_515_008
    with pytest.raises(training.TrainError, match="full fine-tune cannot"):
        training.build_yaml(settings, training.LoraForm(method="full", quant_4bit=True), tmp_path)
