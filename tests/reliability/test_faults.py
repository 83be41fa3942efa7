"""Injected faults, each on the real components: the job's state ends true, every earlier version
of a file is intact, and the app starts again on the same data root."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from gradio_client import Client

from studio import config, datasets, postmortem, serving, training
from studio.jobs import JobStore
from tests.conftest import RunningStudio, wait_done, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def files_of(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def app_starts(home: Path, models_dir: Path) -> list:
    """The studio starts on this data root and lists its runs; returns them."""
    app = RunningStudio(home, models_dir)
    try:
        c = Client(app.start().url, verbose=False, analytics_enabled=False)
        return c.predict(api_name="/list_runs")["data"]
    finally:
        app.kill()


def short_run(settings, store, **over):
    form = training.LoraForm(**{"max_steps": 30, "cutoff_len": 96, "batch_size": 2, "save_steps": 2,
                                "num_train_epochs": 1, **over})
    return training.start(settings, store, form)


def steps_logged(job) -> int:
    return training.progress(job)["step"]


def test_kill_9_of_the_trainer(settings, models_dir):
    store = JobStore(settings.home / "jobs")
    job = short_run(settings, store)
    out = Path(job.spec["output_dir"])
    wait_for(lambda: (out / "checkpoint-2" / "adapter_model.safetensors").exists() and steps_logged(job) >= 3,
             timeout=600, every=1, what="a checkpoint and a later step")
    kept = files_of(out / "checkpoint-2")
    [trainer] = children(store.get(job.id).pid)
    os.kill(trainer, signal.SIGKILL)
    job = wait_done(store, job.id, 60, "the killed run")
    assert job.status == "failed" and job.exit_code == -9
    found = postmortem.diagnose(job.log_tail(200_000), job.exit_code)
    assert "signal 9 (SIGKILL)" in found.cause and any("resume" in f for f in found.fixes)
    assert files_of(out / "checkpoint-2") == kept  # the checkpoint to resume from is whole
    assert [p.name for p in training.checkpoints(job)][0] == "checkpoint-2"
    rows = app_starts(settings.home, models_dir)
    assert [r[1] for r in rows] == ["failed"]


def test_cancel_in_the_middle_of_a_step(settings, models_dir):
    store = JobStore(settings.home / "jobs")
    job = short_run(settings, store, save_steps=1000)
    wait_for(lambda: steps_logged(job) >= 1, timeout=600, every=0.2, what="the first step")
    t0 = time.time()
    training.cancel(store, job.id)  # a step is under way: the trainer stops after it, and saves
    job = store.refresh(store.get(job.id))
    assert job.status == "cancelled" and time.time() - t0 < 90
    assert training.adapter_dir(job) is not None  # what it learnt so far is kept
    assert not children(job.pid) and steps_logged(job) < 30
    rows = app_starts(settings.home, models_dir)
    assert [r[1] for r in rows] == ["cancelled"]


def test_kill_9_of_vllm(settings, models_dir):
    store = JobStore(settings.home / "jobs")
    job = serving.start(settings, store, opts=serving.DeployOptions(max_model_len=512, kv_cache_gib=1))
    wait_for(lambda: serving.healthy(store.get(job.id)), timeout=600, every=2, what="a healthy server")
    for pid in children(store.get(job.id).pid):
        os.kill(pid, signal.SIGKILL)
    job = wait_done(store, job.id, 60, "the killed server")
    assert job.status == "failed" and serving.state(store, job) == "failed"
    assert not serving.healthy(job)
    app_starts(settings.home, models_dir)


def test_kill_9_of_the_app_during_a_training(settings, models_dir):
    app = RunningStudio(settings.home, models_dir)
    c = Client(app.start().url, verbose=False, analytics_enabled=False)
    form = ["support_sample", 8, 16, "all", 1e-3, 1, 6, 96, 2, 3, 1, "cosine", 0.1, 0.0, 0.0, True,
            False, "", "lora"]
    run = c.predict(*form, api_name="/start_training")
    run_id = run["value"] if isinstance(run, dict) else run
    store = JobStore(settings.home / "jobs")
    wait_for(lambda: steps_logged(store.get(run_id)) >= 1, timeout=600, every=1, what="a logged step")
    app.kill()  # as a crash would: no clean-up runs
    c = Client(app.start().url, verbose=False, analytics_enabled=False)
    try:
        wait_for(lambda: "succeeded" in c.predict(run_id, api_name="/training_progress")[0],
                 timeout=600, every=2, what="the run to finish under the new app")
    finally:
        app.kill()
    job = store.get(run_id)
    assert job.status == "succeeded" and training.adapter_dir(job) is not None


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (root only): a disk that fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine refuses a tmpfs mount: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_during_a_dataset_save(small_disk, models_dir):
    s = config.load(home=small_disk / "home", models_dir=models_dir)
    fmt, rows = datasets.load(s, datasets.SAMPLE_NAME)
    datasets.save(s, "mine", fmt, rows[:10])
    before = files_of(datasets.folder(s))
    huge = [{"instruction": f"q{i}", "input": "", "output": "x" * 2000} for i in range(2000)]  # ~4 MB
    with pytest.raises(datasets.DatasetError, match="Not saved: No space left on device") as e:
        datasets.save(s, "mine", "alpaca", huge)
    assert "unchanged" in str(e.value) and "free some disk space" in str(e.value)
    after = files_of(datasets.folder(s))
    # The dataset and the registry are as they were; no temporary file is left behind.
    assert {p: b for p, b in after.items() if ".versions" not in p.parts} == \
        {p: b for p, b in before.items() if ".versions" not in p.parts}
    assert datasets.load(s, "mine") == (fmt, rows[:10])


def test_a_full_disk_during_a_checkpoint(small_disk, settings, models_dir):
    """The run's folder fills up while the trainer saves a checkpoint (an ~10 MB adapter)."""
    store = JobStore(settings.home / "jobs")
    job = short_run(settings, store, max_steps=4, save_steps=2)
    out = Path(job.spec["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    # The disk under the run's checkpoints is the small one; the job store stays on the big one.
    (small_disk / "checkpoint-2").mkdir()
    (out / "checkpoint-2").symlink_to(small_disk / "checkpoint-2")
    job = wait_done(store, job.id, 600, "the run on a full disk")
    assert job.status == "failed", job.log_tail()
    found = postmortem.diagnose(job.log_tail(200_000), job.exit_code)
    assert found.cause == "The disk is full." and "No space left" in found.evidence
    rows = app_starts(settings.home, models_dir)
    assert [r[1] for r in rows] == ["failed"]


def test_kill_9_of_the_app_during_an_ingestion(settings, models_dir, tmp_path):
    from gradio_client import handle_file

    from studio.knowledge import Knowledge

    big = tmp_path / "handbook.txt"
    big.write_text("\n\n".join(f"Section {i}. The K{i} kettle holds {i % 3 + 1}.{i % 10} litres and "
                               f"boils in {i % 5 + 2} minutes; its warranty code is W{i:04d}." for i in range(1500)))
    app = RunningStudio(settings.home, models_dir)
    c = Client(app.start().url, verbose=False, analytics_enabled=False)
    job = c.submit("default", [handle_file(str(big))], None, api_name="/ingest")
    tasks = settings.home / "knowledge" / "tasks"
    wait_for(lambda: any(tasks.glob("ingest-*.json")), timeout=120, every=0.2, what="the ingestion to start")
    time.sleep(3)  # some chunks are in, most are not
    app.kill()
    assert any(tasks.glob("ingest-*.json")), "the ingestion ended before the kill: make the file bigger"
    c = Client(app.start().url, verbose=False, analytics_enabled=False)  # finishes what was cut short
    try:
        wait_for(lambda: not any(tasks.glob("ingest-*.json")), timeout=600, every=1,
                 what="the resumed ingestion to finish")
    finally:
        app.kill()
    kb = Knowledge(settings)
    try:
        chunks = kb.chunks("handbook.txt")
        assert [ch["chunk"] for ch in chunks] == list(range(1, len(chunks) + 1))  # none twice, none missing
        assert dict(kb.documents()) == {"handbook.txt": len(chunks)} and len(chunks) > 20
        assert "W1499" in chunks[-1]["text"]
    finally:
        kb.close()
    assert not any((settings.home / "knowledge" / "incoming").glob("*"))


def test_an_interrupted_merge_leaves_no_model_behind(tmp_path):
    """The export dies half-way (here: it wrote config.json and failed): the target is never a
    half-written model, and the next merge starts clean."""
    import sys

    exporter = config.REPO / "studio" / "lf_export.py"
    partial, target = tmp_path / ".m.partial", tmp_path / "m"
    half = ("import os, sys; os.makedirs(sys.argv[1], exist_ok=True); "
            "open(os.path.join(sys.argv[1], 'config.json'), 'w').write('{'); sys.exit(int(sys.argv[2]))")
    died = subprocess.run([sys.executable, "-I", str(exporter), str(partial), str(target), "--",
                           sys.executable, "-c", half, str(partial), "1"])
    assert died.returncode == 1 and not target.exists()  # the Models tab lists nothing, merge may run again
    again = subprocess.run([sys.executable, "-I", str(exporter), str(partial), str(target), "--",
                            sys.executable, "-c", half, str(partial), "0"])
    assert again.returncode == 0 and (target / "config.json").exists() and not partial.exists()
