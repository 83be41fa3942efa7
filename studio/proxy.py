"""Every deployment's OpenAI-compatible API through the studio's own port.

A Hugging Face Space or a cloud box exposes one port, the studio's; each vLLM server listens on
its own port on loopback. This relays /v1 calls by the body's "model" to the deployment that
serves it, checks the caller's key against that deployment's, and streams the answer back.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import os
import time

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from studio import config, serving
from studio.core.auth import is_loopback  # one test of "only this machine" for the studio
from studio.jobs import Job, JobStore

# Only inference: vLLM also answers /v1/load_lora_adapter and /v1/unload_lora_adapter, which
# would let any key holder load files from the server's disk.
ROUTES = ("chat/completions", "completions", "embeddings")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
CACHE_S = 1.5  # first-token latency: a request should not read SQLite and key files every time
IDLE_S = 10.0  # after this long without a relayed response, a request reads them first
# Generations can run for minutes between tokens only on a very loaded box; never cut them.
TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=60.0, pool=60.0)
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=64)  # many streams at once


def public_base(s: config.Settings, headers: dict) -> str:
    """The /v1 address a caller outside uses: the configured one, the Space's, the one the
    browser reached us at, or the studio's own."""
    origin = (getattr(s, "public_url", "") or "").strip().rstrip("/")
    if not origin and os.environ.get("SPACE_HOST"):
        origin = "https://" + os.environ["SPACE_HOST"].strip().rstrip("/")
    if not origin:
        h = {k.lower(): v for k, v in (headers or {}).items()}
        host = (h.get("x-forwarded-host") or h.get("host") or "").split(",")[0].strip()
        proto = (h.get("x-forwarded-proto") or "http").split(",")[0].strip()
        if host:
            origin = f"{proto}://{host}"
    if not origin:
        host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host
        origin = f"http://{f'[{host}]' if ':' in host else host}:{s.port}"
    return origin if origin.endswith("/v1") else origin + "/v1"


def error(status: int, message: str, kind: str = "invalid_request_error", code=None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status)


class _Deployments:
    """Running deployments with their keys. Read off the request path: a relayed response
    re-reads them once it is done when they are older than CACHE_S, so a request waits for
    SQLite and the key files only after an idle spell, on a miss, or when an upstream is gone."""

    def __init__(self, store: JobStore):
        self.store, self.rows, self.at = store, [], float("-inf")

    def age(self) -> float:
        return time.monotonic() - self.at

    async def read(self) -> list[tuple[Job, str | None]]:
        self.rows = await run_in_threadpool(
            lambda: [(j, serving.api_key(j)) for j in serving.running(self.store)])
        self.at = time.monotonic()
        return self.rows

    async def get(self, max_age: float = IDLE_S) -> list[tuple[Job, str | None]]:
        return self.rows if self.age() <= max_age else await self.read()


class _Relay(StreamingResponse):
    """Watches for the caller hanging up even while vLLM is silent (a long prefill), which
    Starlette skips on ASGI 2.4 servers, and then closes the upstream at once: vLLM aborts the
    generation instead of finishing it for nobody. The upstream is closed on every path."""

    async def __call__(self, scope, receive, send) -> None:
        async def stream(done: anyio.CancelScope) -> None:
            try:
                await self.stream_response(send)
            except OSError:  # the caller hung up between two chunks
                pass
            done.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream, tg.cancel_scope)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.background()


def mount(api: FastAPI, s: config.Settings, store: JobStore) -> None:
    deployments = _Deployments(store)
    loopback = is_loopback(s.host)
    clients: dict = {}  # one pool per event loop: uvicorn has one, each TestClient its own

    def client() -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if loop not in clients:
            clients.clear()
            # trust_env=False: an HTTP(S)_PROXY in the environment must not catch loopback calls;
            # verify=False: upstreams are plain http, and the CA bundle costs ~40 ms to load.
            clients[loop] = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, verify=False,
                                              limits=LIMITS)
        return clients[loop]

    def refusal(job: Job, key: str | None, token: str) -> JSONResponse | None:
        if key is None:
            if loopback:
                return None
            return error(403, f"{job.spec['served_name']} was deployed without an API key, so the "
                         "studio does not open it to the network. Deploy it again with \"Require an "
                         "API key\" ticked.", code="keyless_deployment")
        if token and hmac.compare_digest(token.encode(), key.encode()):
            return None
        return error(401, "Missing or wrong API key: send the key shown when you deployed, as "
                     "'Authorization: Bearer <key>'.", code="invalid_api_key")

    def first_refusal(rows, token: str) -> JSONResponse | None:
        """What a caller who opens none of rows hears: a wrong key before "not on the network"."""
        refused = [refusal(j, k, token) for j, k in rows]
        if rows and all(refused):
            return next((r for r in refused if r.status_code == 401), refused[0])
        return None

    def bearer(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    @api.get("/v1/models")
    async def models(request: Request):
        token, rows = bearer(request), await deployments.get(CACHE_S)
        refused = first_refusal(rows, token)
        if refused is not None:
            return refused
        open_ = [j for j, k in rows if refusal(j, k, token) is None]

        async def ready(job: Job) -> bool:
            try:
                r = await client().get(serving.base_url(job)[:-3] + "/health", timeout=2.0)
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        live = [j for j, ok in zip(open_, await asyncio.gather(*map(ready, open_))) if ok]
        data = [{"id": m, "object": "model", "created": int(j.started or j.created),
                 "owned_by": "llm-studio"} for j in live for m in serving.served_models(j)]
        return {"object": "list", "data": data}

    @api.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def relay(path: str, request: Request):
        if request.method != "POST" or path not in ROUTES:
            return error(404, f"{request.method} /v1/{path} is not offered here; the studio relays "
                         f"POST /v1/{', /v1/'.join(ROUTES)} and GET /v1/models.", code="not_found")
        body = await request.body()
        try:
            model = json.loads(body).get("model")
        except (ValueError, AttributeError):
            model = None
        if not isinstance(model, str):
            return error(400, "The request body must be a JSON object that names a \"model\".")
        token, key_free = bearer(request), {k: v for k, v in request.headers.items()
                                            if k.lower() not in HOP_BY_HOP | {"authorization"}}

        def find(rows):
            return next(((j, k) for j, k in rows if model in serving.served_models(j)), None)

        found = find(rows := await deployments.get())
        if found is None and deployments.age() > 0.25:  # one that just started is found at once
            found = find(rows := await deployments.read())
        if found is None:
            # Name only what this caller may use, so a stranger learns nothing from a 404.
            refused = first_refusal(rows, token)
            if refused is not None:
                return refused
            mine = [m for j, k in rows if refusal(j, k, token) is None for m in serving.served_models(j)]
            return error(404, f"No deployment serves the model {model!r}. Served: "
                         f"{', '.join(mine) or 'none (deploy one in the Deploy tab)'}.",
                         code="model_not_found")
        for attempt in (1, 2):
            job, key = found
            no = refusal(job, key, token)
            if no is not None:
                return no
            headers = {**key_free, **({"authorization": f"Bearer {key}"} if key else {})}
            upstream = client().build_request("POST", serving.base_url(job) + "/" + path,
                                              headers=headers, content=body,
                                              params=request.query_params)
            try:
                r = await client().send(upstream, stream=True)
                break
            except httpx.HTTPError as e:
                # Nothing was sent on a refused connection: a restarted deployment (new port)
                # can take the request.
                again = find(await deployments.read()) if isinstance(e, httpx.ConnectError) else None
                if attempt == 2 or again is None or again[0].id == job.id:
                    return error(502, f"The deployment {job.name} did not answer ({type(e).__name__}); "
                                 "it may be starting or have stopped: see the Deploy tab.",
                                 "server_error", "upstream_unavailable")
                found = again

        async def done() -> None:
            await r.aclose()
            await deployments.get(CACHE_S)

        out = {k: v for k, v in r.headers.items()
               if k.lower() not in HOP_BY_HOP | {"date", "server"}}  # uvicorn adds its own
        return _Relay(r.aiter_raw(), status_code=r.status_code, headers=out,
                      background=BackgroundTask(done))
