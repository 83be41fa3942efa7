from pathlib import Path

import pytest

from studio import clientcode, serving
from studio.jobs import Job, JobStore


def test_cpu_command_is_eager_float32_with_adapters(settings):
    model = Path("/models/SmolLM2-135M-Instruct")
    settings.gpu = False
    cmd = serving.build_command(settings, model, [{"name": "a", "path": "/x/a", "rank": 4},
                                                  {"name": "b", "path": "/x/b", "rank": 12}],
                                "127.0.0.1", 8001)
    assert cmd[:3] == [settings.serve_python, "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--dtype") + 1] == "float32" and "--enforce-eager" in cmd
    assert cmd[cmd.index("--max-lora-rank") + 1] == "16"  # 12 rounded up to a rank vLLM accepts
    assert cmd[cmd.index("--lora-modules") + 1:] == ["a=/x/a", "b=/x/b"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_gpu_command_has_no_cpu_flags_and_lora_stays_ready_without_adapters(settings):
    settings.gpu = True
    cmd = serving.build_command(settings, Path("/m/x"), [], "127.0.0.1", 8001)
    assert "--enforce-eager" not in cmd and "--lora-modules" not in cmd
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8"  # adapters can still be loaded later


def test_eager_can_be_chosen_either_way(settings):
    settings.gpu = False
    compiled = serving.build_command(settings, Path("/m/x"), [], "127.0.0.1", 1,
                                     serving.DeployOptions(eager=False))
    assert "--enforce-eager" not in compiled and "float32" in compiled
    settings.gpu = True
    eager = serving.build_command(settings, Path("/m/x"), [], "127.0.0.1", 1,
                                  serving.DeployOptions(eager=True))
    assert "--enforce-eager" in eager


def test_restart_refuses_unknown_jobs_and_missing_models(settings, tmp_path):
    store = JobStore(tmp_path / "jobs")
    with pytest.raises(serving.ServeError, match="No such deployment"):
        serving.restart(settings, store, "serve-nope")
    job = store.launch("serve", "gone@1", ["true"], spec={"model": str(tmp_path / "gone"), "host": "127.0.0.1",
                                                           "port": 1, "served_name": "gone"})
    with pytest.raises(serving.ServeError, match="is gone"):
        serving.restart(settings, store, job.id)


def test_free_port_is_bindable():
    import socket

    port = serving.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_snippet_and_url(tmp_path):
    job = Job(id="s", kind="serve", name="m@8001", status="running",
              spec={"host": "0.0.0.0", "port": 8001, "served_name": "m", "adapters": ["lora-1"]},
              command=[], folder=tmp_path, pid=None, pgid=None, proc_start=None, created=0,
              started=0, finished=None, exit_code=None, error=None)
    assert serving.base_url(job) == "http://127.0.0.1:8001/v1"
    assert serving.served_models(job) == ["m", "lora-1"]
    code = clientcode.snippet(job)
    assert 'base_url="http://127.0.0.1:8001/v1"' in code and "curl http://127.0.0.1:8001/v1" in code
    compile(code.split("# curl")[0], "snippet", "exec")  # the Python parts are valid Python
    assert 'OpenAILike(model="m", api_base="http://127.0.0.1:8001/v1"' in code
    assert not serving.healthy(job, timeout=0.5)  # nothing listens there


def test_deploy_options_reach_the_command(settings):
    settings.gpu = True
    opts = serving.DeployOptions(max_model_len=4096, gpu_memory_share=0.5, dtype="bfloat16",
                                 prefix_caching=False, max_lora_rank=32, max_loras=2)
    cmd = serving.build_command(settings, Path("/m/x"), [], "0.0.0.0", 8001, opts)
    assert cmd[cmd.index("--max-model-len") + 1] == "4096"
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.5"
    assert cmd[cmd.index("--dtype") + 1] == "bfloat16" and "--no-enable-prefix-caching" in cmd
    assert cmd[cmd.index("--max-lora-rank") + 1] == "32" and cmd[cmd.index("--max-loras") + 1] == "2"
    assert "--lora-modules" not in cmd and "--enable-lora" in cmd  # ready for runtime loading


def test_bad_deploy_options_are_refused(settings):
    import pytest

    for bad, words in ((serving.DeployOptions(max_model_len=10), "Max model length"),
                       (serving.DeployOptions(tensor_parallel=2), "needs as many GPUs"),
                       (serving.DeployOptions(dtype="int3"), "dtype"),
                       (serving.DeployOptions(gpu_memory_share=1.5), "memory share")):
        with pytest.raises(serving.ServeError, match=words):
            serving.check_options(settings, bad)


def _machine(cores=2, flags=("avx2",), mem=16.0, plugin=True):
    from studio import launchplan

    return launchplan.Machine(list(range(cores)), set(flags), mem, plugin)


def test_the_cpu_plan_follows_the_machine(settings):
    from studio import launchplan

    plain = launchplan.plan(settings, _machine(), kv_bytes_per_token=46080)
    assert launchplan.dtype_of(plain) == "float32"  # no bfloat16 instructions
    env = launchplan.env_of(plain)
    assert env == {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1",
                   "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    assert "46,603 tokens" in launchplan.table(plain) and "46,603 个 token" in launchplan.table(plain, zh=True)
    bf16 = launchplan.plan(settings, _machine(flags=("avx512f", "avx512_bf16")), kv_bytes_per_token=46080)
    assert launchplan.dtype_of(bf16) == "bfloat16" and "93,206 tokens" in launchplan.table(bf16)  # half the bytes
    big = launchplan.env_of(launchplan.plan(settings, _machine(cores=32)))
    assert big["VLLM_CPU_OMP_THREADS_BIND"] == "auto" and "VLLM_CPU_NUM_OF_RESERVED_CPU" not in big
    assert "not installed" in launchplan.table(launchplan.plan(settings, _machine(plugin=False)))
    rows = [launchplan.row(c) for c in bf16]  # what a deployment's job spec keeps, as JSON
    assert "dtype bfloat16" in launchplan.summary(rows) and "LoRA kernels studio plugin" in launchplan.summary(rows)
    assert "LoRA 计算 工作台插件" in launchplan.summary(rows, zh=True)


def test_the_user_overrides_the_plan(settings):
    from studio import launchplan

    m = _machine(flags=("avx512_bf16",))
    mine = launchplan.plan(settings, m, dtype="float32", kv_gib=5)
    assert launchplan.dtype_of(mine) == "float32" and launchplan.env_of(mine)["VLLM_CPU_KVCACHE_SPACE"] == "5"
    settings.serve_cpu_dtype = "float32"
    assert launchplan.dtype_of(launchplan.plan(settings, m)) == "float32"
    settings.serve_cpu_kv_gib = 0  # from memory: an eighth of what is free, 1 to 8 GiB
    assert launchplan.env_of(launchplan.plan(settings, _machine(mem=40)))["VLLM_CPU_KVCACHE_SPACE"] == "5"
