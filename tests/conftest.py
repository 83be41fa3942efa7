"""Shared fixtures. Every test gets its own data root; the converted default model is shared
(setup already made it), so no test pays the conversion twice."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# Before gradio, torch or huggingface_hub are imported: no network, one torch thread (two threads
# on a loaded 2-core box ran 4-10x slower), no telemetry.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import config, defaults  # noqa: E402

SHARED_MODELS = REPO / "studio_data" / "models"



def pytest_collection_modifyitems(config, items):
    # The image tests last: their build and dry runs start with the session, in the background.
    items.sort(key=lambda item: item.get_closest_marker("image") is not None)
    try:
        import torch

        cuda = torch.cuda.is_available()
    except Exception:
        cuda = False
    if not cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


def pytest_collection_finish(session):
    image = [item for item in session.items if item.get_closest_marker("image")]
    if image and not session.config.option.collectonly:
        from tests.image import early

        early.start(build=any("image" in item.fixturenames for item in image),
                    resolve=any(item.path.name == "test_resolution.py" for item in image))


def pytest_sessionfinish(session):
    from tests.image import early

    early.stop()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    s = config.load(models_dir=SHARED_MODELS)
    defaults.prepare_default_model(s)  # a no-op when setup already converted it
    return SHARED_MODELS


@pytest.fixture
def settings(tmp_path, models_dir) -> config.Settings:
    return config.load(home=tmp_path / "home", models_dir=models_dir)


@pytest.fixture
def kb(settings):
    """A knowledge base on this test's data root, closed afterwards (Qdrant local holds a lock)."""
    from studio.knowledge import Knowledge

    k = Knowledge(settings)
    yield k
    k.close()


def wait_for(predicate, timeout: float, every: float = 1.0, what: str = "condition"):
    """Poll predicate until it returns something truthy; fail with `what` after timeout."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_done(store, job_id: str, timeout: float, what: str):
    """Wait until a job has ended (any final status) and return it."""
    return wait_for(lambda: (lambda j: j if j.status not in ("queued", "running") else None)(
        store.refresh(store.get(job_id))), timeout, what=what)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, models_dir):
    """One real LLaMA-Factory LoRA run of a few steps, shared by the tests that need an adapter."""
    from studio import training
    from studio.jobs import JobStore

    s = config.load(home=tmp_path_factory.mktemp("trained"), models_dir=models_dir)
    store = JobStore(s.home / "jobs")
    job = training.start(s, store, training.LoraForm(max_steps=3, cutoff_len=128, batch_size=4))
    job = wait_done(store, job.id, timeout=600, what="the training job")
    return s, store, job


def unmounted_dir(tmp_path: Path) -> Path:
    """A new writable folder on a disk that is not a mounted volume (the root filesystem), for
    tests of what the studio says about a data root that will not be kept."""
    import tempfile

    from studio.core import runtime

    for parent in (tmp_path, REPO / "studio_data", Path("/var/tmp"), Path("/")):
        if parent.is_dir() and os.access(parent, os.W_OK) and not runtime.on_mount(parent):
            return Path(tempfile.mkdtemp(prefix="studio-test-", dir=parent))
    raise AssertionError("no writable folder outside a mounted volume on this machine")


class RunningStudio:
    """The real app (python app.py) as a subprocess on a free port, with its own data root."""

    def __init__(self, home: Path, models: Path):
        import socket

        self.home, self.models = home, models
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self, timeout: float = 120, env: dict | None = None):
        import subprocess
        import urllib.request

        env = {**os.environ, "STUDIO_HOME": str(self.home), "STUDIO_MODELS_DIR": str(self.models),
               "STUDIO_PORT": str(self.port), "STUDIO_HOST": "127.0.0.1", **(env or {})}
        self.log = open(self.home.parent / f"app-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], env=env, cwd=REPO,
                                     stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"the app exited: see {self.log.name}")
            try:
                return urllib.request.urlopen(self.url + "healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(up, timeout, every=0.5, what="the studio to answer /healthz")
        return self

    def kill(self):
        """Kill the app abruptly (as a crash would); its jobs run in their own sessions and live on."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stop_all_jobs(self):
        from studio.jobs import JobStore

        store = JobStore(self.home / "jobs")
        for job in store.list(status=("queued", "running")):
            store.cancel(job.id, grace=10)


@pytest.fixture
def studio(tmp_path, models_dir):
    home = tmp_path / "home"
    home.mkdir()
    app = RunningStudio(home, models_dir)
    yield app
    app.kill()
    app.stop_all_jobs()
