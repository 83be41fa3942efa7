"""The job queue: jobs that need GPU memory start in order as it comes free, a waiting job says
why, the queue survives a restart of the store, and the races the store used to have are gone."""
import json
import sys
import threading
import time

import pytest

from studio import jobqueue, serving
from studio.jobs import JobError, JobStore

GIB = 2**30
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def env_of(job) -> str:
    return [sys.executable, "-c", f"import os; open({str(job)!r}, 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', '-'))"]


def wait_status(store, job_id, status, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.refresh(store.get(job_id))
        if job.status == status:
            return job
        time.sleep(0.1)
    raise AssertionError(f"{job_id} is {job.status}, not {status}")


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "jobs", gpus=[24 * GIB])
    yield s
    for job in s.list(status=("queued", "running")):
        s.cancel(job.id, grace=5)


def test_jobs_start_in_order_as_gpu_memory_frees(store, tmp_path):
    big = store.launch("train", "lora-a", SLEEP, needs={"gpus": 1, "gpu_mem": 18 * GIB}, owner="alice")
    assert big.status == "running" and big.needs["placed"] == [0]
    second = store.launch("train", "lora-b", env_of(tmp_path / "b.txt"), needs={"gpus": 1, "gpu_mem": 10 * GIB})
    small = store.launch("serve", "small", env_of(tmp_path / "c.txt"), needs={"gpus": 1, "gpu_mem": 2 * GIB})
    cpu = store.launch("bench", "cpu-only", env_of(tmp_path / "d.txt"), needs={"cpus": 2})
    assert (second.status, small.status, cpu.status) == ("queued", "queued", "running")
    # The waiting job says what holds the GPU; the one behind it waits its turn although it
    # would fit (a large job is not starved by small ones).
    n, d = store.position(second)
    assert n == 1 and d.reason == ("waiting for GPU 0: in use by lora-a (18 GiB) of 24 GiB; it needs "
                                   "10 GiB and 6 GiB are free")
    assert d.why[0] == "q_gpu" and d.why[1]["holders"] == "lora-a (18 GiB)"
    n, d = store.position(small)
    assert n == 2 and d.reason == "behind lora-b, which came first"
    store.cancel(big.id, grace=5)
    assert store.get(second.id).status in ("running", "succeeded")
    assert store.get(small.id).status in ("running", "succeeded")  # 10 + 2 fit in 24
    wait_status(store, second.id, "succeeded")
    wait_status(store, cpu.id, "succeeded")
    # A GPU job is started on its GPU; a CPU-only job sees the machine's setting unchanged.
    assert (tmp_path / "b.txt").read_text() == "0"
    assert store.get(big.id).owner == "alice"


def test_two_gpus_are_filled_by_free_memory_and_a_job_too_big_for_any_is_refused(tmp_path):
    store = JobStore(tmp_path / "jobs", gpus=[24 * GIB, 24 * GIB])
    try:
        a = store.launch("train", "a", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
        b = store.launch("train", "b", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
        assert a.needs["placed"] != b.needs["placed"] and {a.status, b.status} == {"running"}
        both = store.launch("serve", "tp2", SLEEP, needs={"gpus": 2, "gpu_mem": 10 * GIB})
        assert both.status == "queued" and "needs 10 GiB and 4 GiB are free" in store.position(both)[1].reason
        with pytest.raises(JobError, match="needs 30 GiB on each GPU and the largest has 24 GiB"):
            store.launch("train", "huge", SLEEP, needs={"gpus": 1, "gpu_mem": 30 * GIB})
        with pytest.raises(JobError, match="needs 4 GPUs and the queue has 2"):
            store.launch("serve", "tp4", SLEEP, needs={"gpus": 4, "gpu_mem": GIB})
        assert [j.name for j in store.list()] == ["tp2", "b", "a"]  # nothing refused was kept
    finally:
        for job in store.list(status=("queued", "running")):
            store.cancel(job.id, grace=5)


def test_the_queue_survives_a_restart_and_a_queued_job_can_be_cancelled(store, tmp_path):
    holder = store.launch("serve", "vllm", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    waiting = store.launch("train", "lora-w", env_of(tmp_path / "w.txt"), needs={"gpus": 1, "gpu_mem": 8 * GIB},
                           env={"STUDIO_MARK": "kept"})
    doomed = store.launch("train", "lora-x", SLEEP, needs={"gpus": 1, "gpu_mem": 8 * GIB})
    # the environment (which may hold a key) is only its owner's to read
    assert (waiting.folder / "env.json").stat().st_mode & 0o077 == 0
    assert store.cancel(doomed.id).status == "cancelled" and store.get(doomed.id).pid is None
    # The app restarts: a new store on the same folder finds the queue as it was.
    again = JobStore(store.root, gpus=[24 * GIB])
    again.reconcile()
    assert again.get(waiting.id).status == "queued" and again.position(again.get(waiting.id))[0] == 1
    again.cancel(holder.id, grace=5)
    wait_status(again, waiting.id, "succeeded")
    assert (tmp_path / "w.txt").read_text() == "0"
    assert json.loads((waiting.folder / "env.json").read_text()) == {"STUDIO_MARK": "kept"}


def test_a_cancelled_job_holds_its_memory_until_it_has_exited(store):
    # A trainer saving its adapter after the signal still holds the GPU for those seconds.
    slow = [sys.executable, "-c", "import signal, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1.5), exit(0)))\ntime.sleep(60)"]
    a = store.launch("train", "saver", slow, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    time.sleep(0.5)
    b = store.launch("train", "next", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    done = threading.Thread(target=store.cancel, args=(a.id,), kwargs={"grace": 10})
    done.start()
    time.sleep(0.5)
    assert store.schedule() == [] and store.get(b.id).status == "queued"
    done.join()
    assert store.get(b.id).status == "running"


def test_unique_launches_and_spec_updates_are_atomic_under_threads(tmp_path):
    store = JobStore(tmp_path / "jobs")
    results = []

    def try_one(i):
        try:
            job_id, folder = store.new_folder("bench")
            results.append(store.launch("bench", f"b{i}", SLEEP, job_id=job_id, folder=folder, unique=True).id)
        except JobError as e:
            results.append(str(e))

    threads = [threading.Thread(target=try_one, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    started = [r for r in results if r.startswith("bench-")]
    assert len(started) == 1 and sum("already queued or running" in r for r in results) == 5
    job = store.get(started[0])
    writers = [threading.Thread(target=store.update_spec, args=(job.id,), kwargs={f"k{i}": i}) for i in range(20)]
    [t.start() for t in writers]
    [t.join() for t in writers]
    assert {f"k{i}" for i in range(20)} <= set(store.get(job.id).spec)
    # many threads settling the same job at once (the monitor, every open page): no error
    store.cancel(job.id, grace=5)
    errors = []

    def settle():
        try:
            for _ in range(50):
                store.refresh(store.get(job.id))
        except Exception as e:  # noqa: BLE001 - any error is the failure
            errors.append(e)

    pool = [threading.Thread(target=settle) for _ in range(8)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    assert errors == []


def test_on_a_cpu_box_the_queue_warns_that_heavy_jobs_share_the_cores(tmp_path):
    store = JobStore(tmp_path / "jobs")
    assert store.contention("train") is None
    server = store.launch("serve", "SmolLM2@8000", SLEEP, needs={"cpus": 2})
    try:
        found = store.contention("train")
        assert found["names"] == "SmolLM2@8000" and found["cores"] >= 1
        assert store.contention("ingest") is None  # light jobs are not worth a warning
    finally:
        store.cancel(server.id, grace=5)
    assert store.contention("train") is None


def test_a_server_never_healthy_is_stopped_and_failed_with_its_log(settings, tmp_path):
    settings.serve_start_timeout = 1
    store = JobStore(tmp_path / "jobs")
    port = serving.free_port()
    job = store.launch("serve", f"stuck@{port}", [sys.executable, "-c",
                       "print('loading the weights', flush=True); import time; time.sleep(60)"],
                       spec={"host": "127.0.0.1", "port": port, "served_name": "stuck"})
    assert serving.watch(settings, store) == []  # within its time: left alone
    time.sleep(1.5)
    [failed] = serving.watch(settings, store)
    assert failed.status == "failed" and "not healthy within 1 s" in failed.error
    assert "loading the weights" in failed.error
    assert store.get(job.id).status == "failed" and not serving.running(store)


def test_a_deployment_takes_the_gpu_share_left_free(settings, tmp_path, models_dir):
    store = JobStore(tmp_path / "jobs", gpus=[24 * GIB])
    train = store.launch("train", "lora-a", SLEEP, needs={"gpus": 1, "gpu_mem": 18 * GIB})
    try:
        need, opts = serving.needs(settings, store, models_dir / "SmolLM2-135M-Instruct",
                                   serving.DeployOptions(gpu_memory_share=0.9))
        assert opts.gpu_memory_share == 0.23 and need["gpu_mem"] == int(0.23 * 24 * GIB)
        assert jobqueue.plan([], store.list(status=("running",)), store.gpus) == []
    finally:
        store.cancel(train.id, grace=5)
    need, opts = serving.needs(settings, store, models_dir / "SmolLM2-135M-Instruct",
                               serving.DeployOptions(gpu_memory_share=0.9))
    assert opts.gpu_memory_share == 0.9 and need["gpus"] == 1


def test_a_queued_row_without_its_launch_record_fails_instead_of_blocking_the_queue(store, tmp_path):
    holder = store.launch("train", "a", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    orphan = store.launch("train", "b", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    (orphan.folder / "launch.json").unlink()
    store.cancel(holder.id, grace=5)
    assert store.get(orphan.id).status == "failed" and "launch record" in store.get(orphan.id).error
    assert store.launch("bench", "next", SLEEP).status == "running"


def test_a_queued_job_that_no_longer_fits_after_a_restart_fails_and_frees_the_line(store, tmp_path):
    holder = store.launch("serve", "vllm", SLEEP, needs={"gpus": 1, "gpu_mem": 20 * GIB})
    big = store.launch("train", "big", SLEEP, needs={"gpus": 1, "gpu_mem": 16 * GIB})
    small = store.launch("train", "small", SLEEP, needs={"gpus": 1, "gpu_mem": 2 * GIB})
    again = JobStore(store.root, gpus=[12 * GIB])  # restarted with a smaller budget
    again.reconcile()
    assert again.get(big.id).status == "failed" and "largest has 12 GiB" in again.get(big.id).error
    assert again.get(small.id).status == "queued"  # behind the server, not behind the big one
    again.cancel(holder.id, grace=5)
    assert again.get(small.id).status == "running"
    again.cancel(small.id, grace=5)
