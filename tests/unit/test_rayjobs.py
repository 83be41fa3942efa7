"""The Ray backend's pieces that need no cluster: the address, what enters Ray's runtime
environment (nothing secret), and the wrapper's cluster mode (variables from the job's folder,
the node's address and a free port filled in, the cancel file's signal passed on)."""
import json
import signal
import subprocess
import sys
import time

import pytest

from studio import jobs, rayjobs


def test_the_address_is_the_dashboards_and_a_ray_client_address_is_refused_with_why():
    assert rayjobs.dashboard("10.0.0.5:8265") == "http://10.0.0.5:8265"
    assert rayjobs.dashboard("https://ray.example.com/") == "https://ray.example.com"
    with pytest.raises(rayjobs.ClusterError, match="dashboard") as e:
        rayjobs.dashboard("ray://10.0.0.5:10001")
    assert "RAY_ADDRESS" in e.value.args[0].zh


def test_no_secret_enters_the_runtime_environment():
    env = {"STUDIO_HOME": "/data", "HF_HOME": "/data/hf", "HF_TOKEN": "hf_x", "OMP_NUM_THREADS": "1",
           "STUDIO_USERS": "ann:hash", "STUDIO_SECRET_KEY": "k", "QDRANT_API_KEY": "q",
           "VLLM_API_KEY": "v", "AWS_SECRET_ACCESS_KEY": "a", "PATH": "/usr/bin", "HOME": "/root"}
    got = rayjobs.runtime_env(env)["env_vars"]
    assert {"STUDIO_HOME", "HF_HOME", "OMP_NUM_THREADS"} <= set(got)
    assert not {"HF_TOKEN", "STUDIO_USERS", "STUDIO_SECRET_KEY", "QDRANT_API_KEY", "VLLM_API_KEY",
                "AWS_SECRET_ACCESS_KEY", "PATH", "HOME"} & set(got)
    assert got["RAY_JOB_STOP_WAIT_TIME_S"] == str(rayjobs.STOP_GRACE_S)


def _folder(tmp_path, env: dict):
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "env.json").write_text(json.dumps(env))
    (folder / "launch.json").write_text(json.dumps({"command": [], "cwd": str(tmp_path)}))
    return folder


def test_the_wrapper_on_a_node_takes_the_jobs_variables_and_fills_in_where_it_runs(tmp_path):
    folder = _folder(tmp_path, {"JOB_SECRET": "s3"})
    code = "import os, sys; print(os.environ['JOB_SECRET'], os.getcwd(), *sys.argv[1:])"
    out = subprocess.run([sys.executable, "-I", str(jobs.WRAPPER), str(folder), "--cluster", "--",
                          sys.executable, "-c", code, "--host", "{node_ip}", "--port", "{free_port}"],
                         capture_output=True, text=True, timeout=60, env={"RAY_ADDRESS": "127.0.0.1:6379"})
    assert out.returncode == 0, out.stderr
    where = json.loads((folder / "where.json").read_text())
    assert where["host"] == "127.0.0.1" and 1024 < where["port"] < 65536
    assert out.stdout.split() == ["s3", str(tmp_path), "--host", "127.0.0.1", "--port", str(where["port"])]
    assert json.loads((folder / "exit.json").read_text())["returncode"] == 0


def test_the_wrapper_passes_the_cancel_files_signal_to_the_command(tmp_path):
    folder = _folder(tmp_path, {})
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGABRT, lambda *a: (print('saved', flush=True), sys.exit(3)))\n"
            "print('up', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-I", str(jobs.WRAPPER), str(folder), "--cluster", "--",
                             sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    started = time.time()
    (folder / "cancel.json").write_text(json.dumps({"signal": int(signal.SIGABRT)}))
    assert proc.wait(30) == 1 and time.time() - started < 10
    assert proc.stdout.read().strip() == "saved"
    rec = json.loads((folder / "exit.json").read_text())
    assert rec["returncode"] == 3 and rec["signals"] == [int(signal.SIGABRT)]
