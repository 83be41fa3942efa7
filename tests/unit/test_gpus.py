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
