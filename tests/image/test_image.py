"""The real Dockerfile (CPU target) built with podman and run as a Space or `docker run` would
run it: as uid 1000 with a data folder from outside, then as root and as a uid the image does
not know, and with data roots that cannot keep or take what is written."""
import json
import os
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.image import early, rootfs

pytestmark = [pytest.mark.image, pytest.mark.integration]
TAG = early.TAG
PASSWORD = "tea-garden-42"
GB = 10**9


@pytest.fixture(scope="module")
def image():
    # Not a skip: CI runs as root, and an image test that quietly did nothing would pass there.
    assert os.getuid() == 0, ("building and entering an image needs root (podman build, mount, "
                              "chroot); without it, run the other tests with -m 'not image'")
    missing = rootfs.missing_tools()
    assert not missing, f"{missing} missing: scripts/setup.sh --test installs them"
    log = early.built_log()  # started with the session (tests/image/early.py), or built now
    return rootfs.image_config(TAG), log.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def up(url: str, proc, log: Path, timeout: float = 180):
    def answering():
        if proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            return urllib.request.urlopen(url + "healthz", timeout=2).status == 200
        except OSError:
            return False

    wait_for(answering, timeout, every=1, what="/healthz inside the image")


def settled(status: str, goal: str, log: Path) -> bool:
    """True once status shows goal; a job that failed on the way fails the test with its log."""
    if "failed" in status or "lost" in status:
        raise AssertionError(f"{status}\n{log.read_text()[-4000:] if log.exists() else ''}")
    return goal in status


def refused_start(box, cfg: dict, uid: int, tmp_path: Path) -> str:
    """Start the image's command as uid; it must stop with exit 2. Returns what it printed."""
    log = tmp_path / "app.log"
    proc = box.start(cfg, uid, uid, {"STUDIO_PORT": str(free_port())}, log)
    assert proc.wait(120) == 2
    return log.read_text()


def users() -> str:
    from studio.core import auth

    return f"alice:{auth.hash_password(PASSWORD)}"


def owners(folder: Path) -> set[int]:
    return {p.lstat().st_uid for p in [folder, *folder.rglob("*")]}


def test_the_image_is_built_as_documented(image):
    cfg, log = image
    env = cfg["env"]
    assert cfg["user"] == "1000" and cfg["workdir"] == "/opt/studio"
    assert env["STUDIO_HOME"] == "/data" and env["STUDIO_IMAGE"] == "cpu" and env["HOME"] == "/home/user"
    assert cfg["size"] <= 5 * GB, f"the CPU image is {cfg['size'] / GB:.2f} GB (goal: 5 GB)"
    assert "installed sizes" in log and "/opt/venvs/serve" in log
    print(f"\nCPU image: {cfg['size'] / GB:.2f} GB installed")
    print("\n".join(line for line in log.splitlines() if "/opt/" in line and "\t" in line))


def test_as_uid_1000_with_an_outside_data_folder_it_trains_serves_and_answers(image, tmp_path):
    from gradio_client import Client, handle_file

    from tests.api.test_journey_api import DOCS, form, text, value

    cfg, _ = image
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)
    box = rootfs.Container(TAG, data)
    try:
        # No CUDA wheel and one torch, the CPU build, shared by the three environments.
        venvs = box.root / "opt" / "venvs"
        for env in ("app", "train", "serve"):
            site = next((venvs / env / "lib").glob("python3*/site-packages"))
            names = {p.name.split("-")[0].lower() for p in site.iterdir()}
            assert not {n for n in names if n.startswith("nvidia") or n in ("torch", "triton",
                        "torchvision", "torchcodec")}, env
            assert (site / "_studio_torch.pth").read_text().strip().startswith("/opt/venvs/torch/")
        assert next(venvs.glob("torch/lib/python3*/site-packages/torch-2.13.0+cpu.dist-info"))

        # The image listens on 0.0.0.0: it needs a user first, added as `docker exec` would.
        added = box.run(cfg, 1000, 1000, ["python", "-m", "studio.core.auth", "add",
                                          "alice", "--password-stdin"], stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        port = free_port()
        log = tmp_path / "app.log"
        proc = box.start(cfg, 1000, 1000, {"STUDIO_PORT": str(port), "OMP_NUM_THREADS": "1"}, log)
        url = f"http://127.0.0.1:{port}/"
        up(url, proc, log)
        assert json.load(urllib.request.urlopen(url + "healthz")) == {"ok": True}
        page = urllib.request.Request(url, headers={"Accept": "text/html"})
        assert "Sign in" in urllib.request.urlopen(page).read().decode()  # redirected to /signin
        with pytest.raises(Exception):
            Client(url, verbose=False, analytics_enabled=False)
        c = Client(url, auth=("alice", PASSWORD), verbose=False, analytics_enabled=False)

        # The built-in model comes ready from the image; a dataset and a 2-step LoRA run.
        _, facts = c.predict("/opt/studio/models/SmolLM2-135M-Instruct", api_name="/use_model")
        assert "134,515,008" in facts
        table = c.predict("support_sample", api_name="/load_dataset")[0]
        rows = {"headers": ["instruction", "input", "output"], "data": table["data"][:8]}
        assert "Saved 8 rows" in c.predict(rows, "alpaca", "mine", api_name="/save_dataset")[1]
        run_id = value(c.predict(*form(steps=2, save=2), api_name="/start_training"))
        wait_for(lambda: settled(c.predict(run_id, api_name="/training_progress")[0],
                                 "succeeded", data / "jobs" / run_id / "log.txt"),
                 timeout=600, every=3, what="the 2-step training in the image")
        adapter = "lora-" + run_id.split("-", 1)[1]

        # A knowledge base (the embedding model and Qdrant's local store, written as uid 1000).
        report = c.predict("default", [handle_file(str(DOCS / "qinghe_policies.md"))], None,
                           api_name="/ingest")[1]
        assert "Added qinghe_policies.md" in report

        # A deployment of the model with the adapter, and a chat answer with its sources.
        deployment = value(c.predict([adapter], 1024, 2, 1, "auto", True, 0, 4, False, "127.0.0.1",
                                     api_name="/deploy")[0])
        wait_for(lambda: settled(c.predict(deployment, api_name="/deploy_status")[0], "ready",
                                 data / "jobs" / deployment / "log.txt"),
                 timeout=600, every=3, what="the deployment in the image")
        history, _, _ = c.predict("How many days do I have to return a product?", [],
                                  f"{deployment}|{adapter}", True, "", 0.3, 1.0, 48, "", "", "",
                                  "default", api_name="/chat")
        answer = text(history[-1]["content"])
        assert answer and not answer.startswith("⚠️") and "qinghe_policies.md (chunk" in answer
        c.predict(deployment, api_name="/stop_deploy")

        # Everything it wrote is in the data folder and belongs to uid 1000; the image's own
        # disk took nothing but temporary files.
        written = {p.relative_to(data).parts[0] for p in data.iterdir()}
        assert {"jobs", "hf", "cache", "datasets"} <= written, written
        assert owners(data) == {1000}
        assert box.changed_outside("/tmp", "/data", "/proc", "/dev", "/sys") == []
    finally:
        box.close()


@pytest.mark.parametrize("uid, gid", [(0, 0), (4321, 0)])
def test_as_root_or_an_unknown_uid_it_starts_with_a_home_of_its_own(image, tmp_path, uid, gid):
    cfg, _ = image
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, uid, gid)
    box = rootfs.Container(TAG, data)
    try:
        port = free_port()
        log = tmp_path / "app.log"
        proc = box.start(cfg, uid, gid, {"STUDIO_PORT": str(port), "STUDIO_USERS": users()}, log)
        up(f"http://127.0.0.1:{port}/", proc, log)
        assert owners(data) == {uid}
        if uid == 4321:  # /home/user is uid 1000's: HOME moved under the data root
            assert (data / "home").is_dir()
    finally:
        box.close()


def test_without_a_volume_the_page_warns_that_nothing_is_kept(image, tmp_path):
    cfg, _ = image
    box = rootfs.Container(TAG, None)
    try:
        port = free_port()
        log = tmp_path / "app.log"
        proc = box.start(cfg, 1000, 1000, {"STUDIO_PORT": str(port), "STUDIO_USERS": users()}, log)
        up(f"http://127.0.0.1:{port}/", proc, log)
        assert "Nothing here outlives this container: /data is inside it" in log.read_text()
        # /data in the image itself is writable for any uid (a Space's disk without a bucket).
        assert oct((box.root / "data").stat().st_mode & 0o7777) == "0o1777"
    finally:
        box.close()


def test_a_data_root_it_cannot_write_stops_the_start_with_the_fix(image, tmp_path):
    cfg, _ = image
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chown(data, 1000, 1000)
    box = rootfs.Container(TAG, data)
    try:
        out = refused_start(box, cfg, 4321, tmp_path)
        assert "The data root /data is not writable by this process (uid 4321" in out
        assert "--user 1000" in out
    finally:
        box.close()


def test_without_a_user_the_image_does_not_start_open(image, tmp_path):
    cfg, _ = image
    box = rootfs.Container(TAG, None)
    try:
        out = refused_start(box, cfg, 1000, tmp_path)
        assert "listen on 0.0.0.0" in out and "python -m studio.core.auth add NAME" in out
    finally:
        box.close()
