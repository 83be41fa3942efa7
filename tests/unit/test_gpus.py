"""GPU discovery with a stand-in nvidia-smi that reports what an 8-GPU box would."""
import os
import stat

import pytest

from studio import jobqueue, models, serving
from studio.core import runtime

FAKE = """#!/bin/sh
case "$1" in
  *index,uuid,name,memory.total*)
    for i in 0 1 2 3 4 5 6 7; do echo "$i, GPU-0000000$i-feed-beef, NVIDIA H100 80GB HBM3, 81559"; done ;;
  *driver_version*) echo "560.35.03" ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def eight_gpus(tmp_path, monkeypatch):
    exe = tmp_path / "nvidia-smi"
    exe.write_text(FAKE)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_every_gpu_is_counted_when_nothing_narrows_the_list(eight_gpus):
    assert [g["index"] for g in runtime.visible_gpus()] == list(range(8))
    assert serving.gpu_count() == 8  # it said 1 when CUDA_VISIBLE_DEVICES was unset
    assert models.detect_gpu() == ("NVIDIA H100 80GB HBM3", 81559 / 1024)
    assert jobqueue.inventory("", has_gpu=True) == [81559 * 2**20] * 8


@pytest.mark.parametrize("visible, indices", [("2,5", [2, 5]), ("5,2", [5, 2]), ("GPU-00000003", [3]),
                                              ("1,9,2", [1]), ("", []), ("-1", [])])
def test_cuda_visible_devices_narrows_the_list_as_cuda_does(eight_gpus, monkeypatch, visible, indices):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert [g["index"] for g in runtime.visible_gpus()] == indices
    assert serving.gpu_count() == len(indices)


def test_tensor_parallelism_is_refused_past_the_gpus_there_are(eight_gpus, settings):
    with pytest.raises(serving.ServeError, match="this machine has 8"):
        serving.check_options(settings, serving.DeployOptions(tensor_parallel=9))


def test_no_nvidia_smi_means_no_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert runtime.visible_gpus() == [] and serving.gpu_count() == 0 and models.detect_gpu() is None


def _gpu_settings(settings):
    from dataclasses import replace

    return replace(settings, gpu=True)


def test_eight_gpus_offer_tensor_parallelism_and_a_deepspeed_run_over_several(eight_gpus, settings, monkeypatch):
    from studio import training
    from studio.jobs import JobStore

    s = _gpu_settings(settings)
    serving.check_options(s, serving.DeployOptions(tensor_parallel=8))  # accepted: 8 are there
    store = JobStore(s.home / "jobs", gpus=jobqueue.inventory("", has_gpu=True))
    one = training.LoraForm(method="full", batch_size=1, cutoff_len=256)
    zero3 = training.LoraForm(method="full", batch_size=1, cutoff_len=256, deepspeed="3", gpus=4)
    need_one, need_four = training.needs(s, store, one), training.needs(s, store, zero3)
    assert need_one["gpus"] == 1 and need_four["gpus"] == 4
    assert need_four["gpu_mem"] < need_one["gpu_mem"]  # the per-GPU figure, sharded
    cfg = training.build_yaml(s, zero3, s.home / "out")
    assert cfg["deepspeed"] and cfg["bf16"] is True
    monkeypatch.setattr(runtime, "shm_bytes", lambda: 64 * 2**20)  # Docker's default /dev/shm
    with pytest.raises(training.TrainError, match="/dev/shm, which has only 64 MB") as e:
        training.start(s, store, zero3)
    assert "--ipc=host" in e.value.args[0].zh
    assert store.list() == []  # refused before anything was queued


def test_the_per_gpu_estimate_splits_what_each_zero_stage_splits(settings):
    from studio import estimate, training

    base = training.memory_estimate(settings, training.LoraForm(method="full"))
    parts = base["parts"]
    ddp = estimate.per_gpu(base, 4, "")
    z2, z3 = estimate.per_gpu(base, 4, "2"), estimate.per_gpu(base, 4, "3")
    assert ddp["total"] == base["total"] and ddp["gpus"] == 4
    assert z2["parts"]["optimizer"] == -(-parts["optimizer"] // 4) and z2["parts"]["weights"] == parts["weights"]
    assert z3["parts"]["weights"] == -(-parts["weights"] // 4)
    assert z3["parts"]["activations"] == parts["activations"]
    assert base["total"] > z2["total"] > z3["total"]


@pytest.mark.parametrize("form, words", [
    (dict(deepspeed="2", gpus=1), "give it 2 or more"), (dict(gpus=0), "at least 1 GPU"),
    (dict(ray_workers=2, gpus=2), "Ray workers"), (dict(ray_workers=-1), "Ray workers")])
def test_multi_gpu_choices_that_cannot_work_say_why(settings, form, words):
    from studio import training

    with pytest.raises(training.TrainError, match=words):
        training.build_yaml(_gpu_settings(settings), training.LoraForm(**form), settings.home / "out")


def test_ray_workers_need_a_cluster_and_are_capped_at_its_gpus(settings):
    from studio import training
    from studio.jobs import JobStore

    s = _gpu_settings(settings)
    with pytest.raises(training.TrainError, match="RAY_ADDRESS"):
        training.check_ray(JobStore(s.home / "a"), 2)
    cluster = JobStore(s.home / "b", gpus=[jobqueue.GIB] * 4, ray="http://127.0.0.1:1")
    with pytest.raises(training.TrainError, match="5 Ray workers need 5 GPUs and the cluster has 4"):
        training.check_ray(cluster, 5)
    training.check_ray(cluster, 4)
    form = training.LoraForm(ray_workers=4)
    assert training.build_yaml(s, form, s.home / "out")["ray_num_workers"] == 4
    assert "gpus" not in training.needs(s, cluster, form)  # Ray's workers hold them
    with pytest.raises(training.TrainError, match="CUDA"):
        training.build_yaml(settings, form, s.home / "out")
