"""The slow, mostly waiting parts of the image tests, started when the session begins: the image
build (debootstrap, then `podman build`: downloads and installs) and test_resolution's isolated
pip dry runs (registry look-ups). They run niced in background threads while the rest of the
suite uses the cores, and the image tests run last (tests/conftest.py), so they find that work
done instead of adding ten minutes of downloads to the run. Nothing is skipped or faked: the
same build and the same resolutions, only earlier."""
from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path

from tests.image import rootfs

TAG = "localhost/studio:cpu-test"
_build: Future | None = None
_resolved: dict[tuple, Future] = {}


def _build_image() -> Path:
    work = Path(tempfile.mkdtemp(prefix="studio-image-", dir="/var/tmp"))
    log = work / "build.log"
    rootfs.leftovers(TAG)
    rootfs.base_image(work)
    rootfs.build(TAG, "cpu", log)
    return log


def _in_background(name: str, work, futures: list[Future]) -> None:
    def run():
        for fut, fn in zip(futures, work):
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the test that waits for it
                fut.set_exception(e)

    threading.Thread(target=run, name=name, daemon=True).start()


def start(build: bool, resolve: bool) -> None:
    """Begin the image build and test_resolution's dry runs (each when asked), niced."""
    global _build
    rootfs.NICE[:] = ["nice", "-n", "15"]
    if build and _build is None and os.getuid() == 0 and not rootfs.missing_tools():
        _build = Future()
        _in_background("early-build", [_build_image], [_build])
    # test_resolution resolves the CUDA target ignoring what is installed, the CPU one beside it
    wanted = [(tuple(files), target == "cuda") for target, envs in rootfs.TARGETS.items()
              for files in envs.values()] if resolve else []
    todo = [key for key in wanted if key not in _resolved]
    if todo:
        venv = rootfs.empty_venv(Path(tempfile.mkdtemp(prefix="studio-resolve-")) / "venv")
        for key in todo:
            _resolved[key] = Future()
        work = [lambda files=files, ignore=ignore, i=i: rootfs.pip_resolve(
            venv, list(files), ignore, venv.parent / f"{i}.json")
            for i, (files, ignore) in enumerate(todo)]
        _in_background("early-resolve", work, [_resolved[k] for k in todo])


def built_log() -> Path:
    """The log of the finished build: the one started early, or a build now if none was."""
    if _build is not None:
        return _build.result(timeout=3600)
    return _build_image()


def resolved(files: list[str], ignore_installed: bool) -> dict[str, str] | None:
    """What a dry run started early found for these files, once it is done (None: not started)."""
    fut = _resolved.get((tuple(files), ignore_installed))
    return fut.result(timeout=1800) if fut is not None else None


def stop() -> None:
    """End a build still running when the session ends first (-x, an early failure, Ctrl-C)."""
    for proc in list(rootfs.BUILDS):
        proc.kill()
