import json

from studio import telemetry
from studio.jobs import Job

METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:generation_tokens_total{engine="0",model_name="m"} 100.0
vllm:prompt_tokens_total{engine="0",model_name="m"} 40.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.5
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 5.0
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 200.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 150.0
"""


def test_parse_and_pick_the_numbers_that_matter():
    got = telemetry.pick(telemetry.parse(METRICS))
    assert got["running"] == 2 and got["waiting"] == 1 and got["kv_usage"] == 0.25
    assert got["generation_tokens"] == 100 and got["ttft_count"] == 5 and got["prefix_hits"] == 150


def test_history_turns_counters_into_rates(tmp_path):
    job = Job(id="s", kind="serve", name="m", status="running", spec={}, command=[], folder=tmp_path,
              pid=None, pgid=None, proc_start=None, created=0, started=0, finished=None,
              exit_code=None, error=None)
    base = telemetry.pick(telemetry.parse(METRICS))
    later = {**base, "generation_tokens": 160.0, "ttft_sum": 0.9, "ttft_count": 7.0,
             "prefix_queries": 300.0, "prefix_hits": 240.0}
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"t": 10.0, **base}) + "\n"
                                            + json.dumps({"t": 12.0, **later}) + "\n")
    [p] = telemetry.history(job)
    assert p["seconds"] == 2.0 and p["tokens_per_s"] == 30.0
    assert abs(p["ttft_s"] - 0.2) < 1e-9 and p["prefix_hit_pct"] == 90.0 and p["kv_usage_pct"] == 25.0
    t = telemetry.totals(job)
    assert t["generation_tokens"] == 160 and abs(t["prefix_hit_pct"] - 80.0) < 1e-9
