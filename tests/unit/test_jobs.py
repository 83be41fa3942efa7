import os
import signal
import sys
import time

import pytest

from studio.jobs import JobStore


def wait_final(store, job_id, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.refresh(store.get(job_id))
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.status}")


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "jobs")


def py(code):
    return [sys.executable, "-c", code]


def test_success_writes_log_and_exit_record(store):
    job = store.launch("test", "hello", py("print('hello from the job')"))
    job = wait_final(store, job.id)
    assert job.status == "succeeded" and job.exit_code == 0
    assert "hello from the job" in job.log_tail()
    assert (job.folder / "exit.json").exists()


def test_failure_keeps_exit_code(store):
    job = wait_final(store, store.launch("test", "fail", py("import sys; sys.exit(3)")).id)
    assert job.status == "failed" and job.exit_code == 3 and "3" in job.error


def test_missing_executable_fails_clearly(store):
    job = wait_final(store, store.launch("test", "nope", ["/nonexistent/tool"]).id)
    assert job.status == "failed"
    assert "cannot start" in job.error


def test_cancel_signals_the_group_and_marks_cancelled(store):
    job = store.launch("test", "sleeper", py("import time; time.sleep(60)"))
    assert store.refresh(job).status == "running"
    job = store.cancel(job.id, grace=10)
    assert job.status == "cancelled"
    assert store.refresh(job).status == "cancelled"


def test_cancel_kills_a_child_that_ignores_the_signal(store):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    job = store.launch("test", "stubborn", py(code))
    time.sleep(0.5)
    t0 = time.time()
    job = store.cancel(job.id, sig=signal.SIGTERM, grace=1)
    assert job.status == "cancelled" and time.time() - t0 < 10


def test_a_restarted_store_reattaches_a_live_job(store, tmp_path):
    job = store.launch("test", "long", py("import time; time.sleep(2)"))
    again = JobStore(tmp_path / "jobs")  # what the app does after a restart
    [found] = [j for j in again.reconcile() if j.id == job.id]
    assert found.status == "running" and found.pid == job.pid
    assert wait_final(again, job.id).status == "succeeded"


def test_a_vanished_job_without_exit_record_is_lost(store, tmp_path):
    job = store.launch("test", "doomed", py("import time; time.sleep(60)"))
    os.killpg(job.pgid, signal.SIGKILL)  # wrapper and child die: nobody writes exit.json
    time.sleep(0.5)
    job = wait_final(JobStore(tmp_path / "jobs"), job.id)
    assert job.status == "lost" and "no exit record" in job.error


def test_a_reused_pid_is_not_mistaken_for_the_job(store, tmp_path):
    job = store.launch("test", "x", py("import time; time.sleep(60)"))
    try:
        store._update(job.id, proc_start="1")  # same pid, different start time: not ours
        again = JobStore(tmp_path / "jobs")
        assert again.refresh(again.get(job.id)).status == "lost"
    finally:
        os.killpg(job.pgid, signal.SIGKILL)


def test_list_filters_by_kind_and_status(store):
    a = wait_final(store, store.launch("train", "a", py("pass")).id)
    store.launch("serve", "b", py("import time; time.sleep(5)"))
    assert [j.id for j in store.list(kind="train")] == [a.id]
    assert {j.kind for j in store.list(status=("running",))} == {"serve"}
    for j in store.list(status=("running",)):
        store.cancel(j.id, grace=5)
