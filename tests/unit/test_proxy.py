"""The /v1 proxy against a tiny real upstream (a FastAPI app that answers like vLLM), with real
job rows in a real JobStore, both apps under uvicorn on free ports, so streaming is real too."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from studio import clientcode, config, proxy, serving
from studio.jobs import JobStore

from tests.conftest import wait_for

KEY = "secret-key-123"
seen: list[dict] = []  # what the upstream received, in order
release = threading.Event()


def sse(obj) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health():
        return {}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        rec = {"path": "chat", "auth": request.headers.get("authorization"), "body": body,
               "host": request.headers.get("host"), "extra": request.headers.get("x-extra")}
        seen.append(rec)
        if not body.get("stream"):
            return {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Hi from upstream"}}]}

        async def gen():
            yield sse({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
            deadline = time.monotonic() + 10
            try:  # a hang-up cancels this generator (Starlette watches for it), like vLLM's abort
                while body.get("hold") and not release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            except BaseException:
                rec["aborted"] = True
                raise
            rec["released"] = release.is_set()
            yield sse({"choices": [{"index": 0, "delta": {"content": " there"}}]})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        seen.append({"path": "embeddings", "auth": request.headers.get("authorization")})
        return {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}]}

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request):
        seen.append({"path": "load"})
        return "ok"

    return app


def serve(app) -> tuple[str, uvicorn.Server]:
    port = serving.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_for(lambda: server.started, 10, every=0.05, what="uvicorn to start")
    return f"http://127.0.0.1:{port}", server


def deployment(store: JobStore, served: str, port: int, key: str | None, adapters=()):
    """A running serve row like serving.start leaves, whose process is a sleeper."""
    job_id, folder = store.new_folder("serve")
    if key:
        (folder / "api_key").write_text(key)
    spec = {"model": "/m/" + served, "served_name": served, "host": "127.0.0.1", "port": port,
            "adapters": list(adapters), "options": {}}
    return store.launch("serve", f"{served}@{port}", [sys.executable, "-c", "import time; time.sleep(600)"],
                        spec=spec, job_id=job_id, folder=folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("proxy")
    store = JobStore(home / "jobs")
    up_url, up = serve(upstream_app())
    up_port = int(up_url.rsplit(":", 1)[1])
    dead = serving.free_port()  # nothing listens there
    jobs = [deployment(store, "base", dead, "old-key"),  # older: the newer one below wins
            deployment(store, "dead-model", dead, KEY),
            deployment(store, "open-model", up_port, None),
            deployment(store, "base", up_port, KEY, adapters=["tuned"])]
    apps = {}
    for name, host in (("loopback", "127.0.0.1"), ("open", "0.0.0.0")):
        api = FastAPI()
        proxy.mount(api, config.load(home=home, host=host, port=7860), store)
        apps[name] = serve(api)
    yield {"store": store, "jobs": jobs, "loop": apps["loopback"][0], "open": apps["open"][0]}
    for _, server in (*apps.values(), (None, up)):
        server.should_exit = True
    for job in jobs:
        store.cancel(job.id, grace=5)


def post(base, path, body, key=KEY, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base}/v1/{path}", json=body, headers=headers, timeout=20, **kw)


def chat_body(model="base", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def test_a_stream_is_relayed_as_it_comes_with_the_deployments_key(world):
    release.clear()
    with httpx.stream("POST", world["open"] + "/v1/chat/completions", timeout=20,
                      json=chat_body("tuned", stream=True, hold=True),
                      headers={"Authorization": f"Bearer {KEY}", "X-Extra": "kept"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = r.iter_raw()
        first = next(chunks)
        assert b'"Hi"' in first  # arrived while the upstream still holds the rest back
        release.set()
        rest = b"".join(chunks)
    rec = seen[-1]
    assert rec["released"] is True and b"[DONE]" in rest and b" there" in rest
    assert rec["auth"] == f"Bearer {KEY}" and rec["body"]["model"] == "tuned"
    assert rec["extra"] == "kept" and rec["host"].endswith(str(world["jobs"][3].spec["port"]))


def test_a_caller_who_hangs_up_stops_the_upstream(world):
    release.clear()
    with httpx.stream("POST", world["loop"] + "/v1/chat/completions", timeout=20,
                      json=chat_body(stream=True, hold=True),
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert b'"Hi"' in next(r.iter_raw())
        rec = seen[-1]
    wait_for(lambda: rec.get("aborted"), 8, every=0.1, what="the upstream to see the hang-up")


def test_newest_deployment_of_a_name_wins_and_plain_answers_pass(world):
    r = post(world["loop"], "chat/completions", chat_body("base"))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Hi from upstream"
    assert post(world["loop"], "chat/completions", chat_body("base"), key="old-key").status_code == 401


@pytest.mark.parametrize("key", [None, "wrong", KEY + "x"])
def test_missing_or_wrong_keys_are_refused_before_the_upstream(world, key):
    before = len(seen)
    r = post(world["open"], "chat/completions", chat_body("base"), key=key)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.post(world["open"] + "/v1/chat/completions", json=chat_body("base"), timeout=10,
                   headers={"Authorization": f"Basic {KEY}"})
    assert r.status_code == 401
    assert len(seen) == before


def test_only_inference_routes_are_relayed(world):
    before = len(seen)
    r = post(world["loop"], "load_lora_adapter", {"lora_name": "x", "lora_path": "/etc", "model": "base"})
    assert r.status_code == 404 and "error" in r.json()
    for path in ("unload_lora_adapter", "models/base", "../health"):
        assert post(world["loop"], path, chat_body()).status_code == 404
    assert httpx.get(world["loop"] + "/v1/chat/completions").status_code == 404
    assert [s["path"] for s in seen[before:]] == []
    r = post(world["loop"], "embeddings", {"model": "base", "input": "x"})
    assert r.status_code == 200 and r.json()["data"][0]["embedding"] == [0.1]
    assert seen[-1] == {"path": "embeddings", "auth": f"Bearer {KEY}"}


def test_unknown_models_and_bad_bodies(world):
    r = post(world["open"], "chat/completions", chat_body("nope"))
    err = r.json()["error"]
    assert r.status_code == 404 and err["code"] == "model_not_found"
    assert err["type"] == "invalid_request_error"
    assert "base" in err["message"] and "tuned" in err["message"]
    assert "open-model" not in err["message"]  # keyless: not on the network
    # Someone without a key learns no model names.
    assert post(world["open"], "chat/completions", chat_body("nope"), key=None).status_code == 401
    r = httpx.post(world["loop"] + "/v1/chat/completions", content=b"{not json",
                   headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 400 and "error" in r.json()
    assert post(world["loop"], "chat/completions", {"messages": []}).status_code == 400


def test_keyless_deployments_only_when_the_studio_is_on_loopback(world):
    r = post(world["loop"], "chat/completions", chat_body("open-model"), key=None)
    assert r.status_code == 200 and seen[-1]["auth"] is None
    r = post(world["open"], "chat/completions", chat_body("open-model"), key=None)
    assert r.status_code == 403 and "Require an API key" in r.json()["error"]["message"]


def test_an_upstream_that_does_not_answer_is_a_502_naming_it(world):
    r = post(world["loop"], "chat/completions", chat_body("dead-model"))
    assert r.status_code == 502 and world["jobs"][1].name in r.json()["error"]["message"]


def test_models_lists_what_the_key_opens_and_is_ready(world):
    def ids(base, key):
        r = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {key}"} if key else {})
        return r.status_code, sorted(m["id"] for m in r.json().get("data", []))

    assert ids(world["loop"], KEY) == (200, ["base", "open-model", "tuned"])  # dead-model: no /health
    assert ids(world["open"], KEY) == (200, ["base", "tuned"])
    assert ids(world["open"], None)[0] == 401
    assert ids(world["loop"], None) == (200, ["open-model"])


def test_a_new_deployment_is_routable_within_a_moment_not_a_cache_period(world):
    up_port = world["jobs"][3].spec["port"]
    assert post(world["loop"], "chat/completions", chat_body("fresh")).status_code == 404
    job = deployment(world["store"], "fresh", up_port, "k2")
    time.sleep(0.3)  # a miss re-reads the jobs at most every 0.25 s, not every CACHE_S
    try:
        r = post(world["loop"], "chat/completions", chat_body("fresh"), key="k2")
        assert r.status_code == 200 and seen[-1]["auth"] == "Bearer k2"
    finally:
        world["store"].cancel(job.id, grace=5)


def test_a_restarted_deployment_takes_the_request_its_old_port_refused(world):
    store, up_port = world["store"], world["jobs"][3].spec["port"]
    old = deployment(store, "moving", serving.free_port(), "k3")
    new = None
    try:
        time.sleep(0.3)
        assert post(world["loop"], "chat/completions", chat_body("moving"), key="k3").status_code == 502
        new = deployment(store, "moving", up_port, "k3")  # as serving.restart: same key, new port
        r = post(world["loop"], "chat/completions", chat_body("moving"), key="k3")
        assert r.status_code == 200 and seen[-1]["auth"] == "Bearer k3"
    finally:
        for job in (old, new):
            if job:
                store.cancel(job.id, grace=5)


def test_the_printed_snippets_run_against_the_proxy(world):
    job = world["jobs"][3]
    parts = clientcode.snippets(job, world["open"] + "/v1")
    assert KEY not in "".join(parts.values())
    assert all(p.startswith("# export STUDIO_API_KEY=") for p in parts.values())
    env = {"PATH": "/usr/bin:/bin", "STUDIO_API_KEY": KEY}
    py = subprocess.run([sys.executable, "-c", parts["python"]], env=env, capture_output=True,
                        text=True, timeout=60)
    assert py.returncode == 0 and "Hi from upstream" in py.stdout, py.stderr
    sh = subprocess.run(["bash", "-c", parts["curl"]], env=env, capture_output=True, text=True,
                        timeout=60)
    assert sh.returncode == 0 and "Hi from upstream" in sh.stdout, sh.stderr
    assert seen[-1]["auth"] == f"Bearer {KEY}"
    bad = subprocess.run(["bash", "-c", parts["curl"]], env={**env, "STUDIO_API_KEY": "no"},
                         capture_output=True, text=True, timeout=60)
    assert "invalid_api_key" in bad.stdout
    keyless = clientcode.snippets(world["jobs"][2], "http://x/v1")
    assert "Authorization" not in keyless["curl"] and 'api_key="EMPTY"' in keyless["python"]
    assert "STUDIO_API_KEY" not in "".join(keyless.values())


def test_public_base(monkeypatch):
    monkeypatch.delenv("SPACE_HOST", raising=False)
    s = config.load(host="0.0.0.0", port=7861)
    assert proxy.public_base(s, {}) == "http://127.0.0.1:7861/v1"
    assert proxy.public_base(s, {"host": "box:7861"}) == "http://box:7861/v1"
    assert proxy.public_base(s, {"Host": "10.0.0.5:7861", "X-Forwarded-Proto": "https",
                                 "X-Forwarded-Host": "studio.example.com, inner"}) \
        == "https://studio.example.com/v1"
    monkeypatch.setenv("SPACE_HOST", "me-studio.hf.space")
    assert proxy.public_base(s, {"host": "box"}) == "https://me-studio.hf.space/v1"
    s.public_url = "https://llm.example.org/"
    assert proxy.public_base(s, {"host": "box"}) == "https://llm.example.org/v1"
    s.public_url = "https://llm.example.org/v1"
    assert proxy.public_base(s, {}) == "https://llm.example.org/v1"


def test_is_loopback():
    assert all(map(proxy.is_loopback, ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"]))
    assert not any(map(proxy.is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))
