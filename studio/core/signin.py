"""The sign-in gate: one ASGI middleware in front of every route of the app (Gradio's pages, its
API and uploads, the studio's own), so no endpoint can be reached without signing in, whichever
library added it. Only the sign-in pages, /healthz and the /v1 proxy (which checks each
deployment's own key) stay open.

Password users sign in on /signin (a browser) or /login (what gradio_client's `auth=` posts);
Hugging Face users through the hub's OAuth routes on a Space; a script on such a Space can send
its hub token as `Authorization: Bearer`. The session is a signed cookie.
"""
from __future__ import annotations

import hashlib
import html
import os
import secrets
import sys
import time
import urllib.parse

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from studio import config
from studio.core import auth

HF_LOGIN = "/oauth/huggingface/login"
WHOAMI_CACHE_S = 300


def _open(path: str) -> bool:
    return path in ("/healthz", "/signin", "/login", "/logout", "/favicon.ico", "/v1") or \
        path.startswith(("/oauth/huggingface/", "/v1/"))


class Gate:
    """Pure ASGI (no BaseHTTPMiddleware): it must not buffer Gradio's streamed events."""

    def __init__(self, app, s: config.Settings):
        self.app, self.s = app, s
        self._whoami: dict[str, tuple[float, str | None]] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or _open(scope["path"]):
            return await self.app(scope, receive, send)
        user = self.user(Request(scope))
        if user:
            scope["studio_user"] = user
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        accept = dict(scope["headers"]).get(b"accept", b"").decode()
        if scope["method"] in ("GET", "HEAD") and "text/html" in accept:
            target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
            response = RedirectResponse("/signin?next=" + urllib.parse.quote(target), status_code=303)
        else:
            response = JSONResponse({"detail": "Not signed in: sign in on /signin, or pass auth=(name, "
                                     "password) to gradio_client."}, status_code=401)
        await response(scope, receive, send)

    def user(self, request: Request) -> str | None:
        session = request.scope.get("session") or {}
        name = session.get("studio_user")
        try:
            if name and name in auth.users(self.s):  # a removed user's cookie stops working
                return name
        except auth.AuthError as e:  # a users file broken while running: nobody, and say why
            print(f"sign-in refused: {e}", file=sys.stderr, flush=True)
            return None
        if not auth.oauth_enabled():
            return None
        if session.get("oauth_info"):
            from huggingface_hub import parse_huggingface_oauth

            info = parse_huggingface_oauth(request)
            if info and info.access_token_expires_at.timestamp() > time.time():
                u = info.user_info
                orgs = [o.preferred_username or o.name or "" for o in (u.orgs or [])]
                if auth.hf_user_allowed(self.s, u.preferred_username, orgs):
                    return u.preferred_username
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer hf_"):
            return self._token_user(bearer[7:].strip())
        return None

    def _token_user(self, token: str) -> str | None:
        """A script's own hub token, asked of the hub once per few minutes."""
        key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._whoami.get(key)
        if hit and time.time() - hit[0] < WHOAMI_CACHE_S:
            return hit[1]
        from huggingface_hub import HfApi

        try:
            me = HfApi().whoami(token=token)
            orgs = [o.get("name", "") for o in me.get("orgs", [])]
            name = me.get("name") if auth.hf_user_allowed(self.s, me.get("name"), orgs) else None
        except Exception:  # noqa: BLE001 - any failure (revoked, offline) means not signed in
            name = None
        self._whoami[key] = (time.time(), name)
        return name


def _session_key(s: config.Settings) -> str:
    """Kept under the data root so sessions survive a restart of the app."""
    f = s.path("secrets") / "session.key"
    if not f.exists():
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return f.read_text().strip()


PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{app} · {title}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#f6f7f9;display:flex;
justify-content:center;padding-top:10vh}}form,.box{{background:#fff;padding:28px 32px;border-radius:10px;
box-shadow:0 1px 6px #0002;width:320px}}h1{{font-size:20px;margin:0 0 18px}}label{{display:block;
margin:12px 0 4px;font-size:14px}}input{{width:100%;box-sizing:border-box;padding:8px;font-size:15px}}
button,a.hf{{margin-top:18px;width:100%;padding:9px;font-size:15px;border:0;border-radius:6px;
background:#4f46e5;color:#fff;cursor:pointer;display:block;text-align:center;text-decoration:none}}
a.hf{{background:#111}}.err{{color:#b91c1c;font-size:14px;margin-top:10px}}</style></head><body>
<div class="box"><h1>{app} · {title}</h1>{body}</div></body></html>"""
WORDS = {
    "en": {"app": "LLM Studio", "title": "Sign in", "name": "User name", "password": "Password", "go": "Sign in",
           "hf": "Sign in with Hugging Face", "wrong": "Wrong user name or password.",
           "slow": "Too many wrong passwords: wait five minutes and try again.",
           "none": "This studio has no password users: the owner adds one with "
                   "<code>python -m studio.core.auth add NAME</code>."},
    "zh": {"app": "大模型工作室", "title": "登录", "name": "用户名", "password": "密码", "go": "登录",
           "hf": "使用 Hugging Face 账号登录", "wrong": "用户名或密码错误。",
           "slow": "密码错误次数过多：请五分钟后再试。",
           "none": "这个工作台还没有密码用户：管理员可用 "
                   "<code>python -m studio.core.auth add 用户名</code> 添加。"},
}


def _lang(request: Request) -> str:
    return "zh" if request.headers.get("accept-language", "").lower().startswith("zh") else "en"


def _next(raw: str | None) -> str:
    # Only a path on this site: an absolute or scheme-relative URL would make this an open redirect.
    raw = raw or "/"
    return raw if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw else "/"


def page(s: config.Settings, request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    lang = _lang(request)
    w = WORDS[lang]
    nxt = html.escape(_next(request.query_params.get("next")))
    body = ""
    if auth.oauth_enabled():
        body += f'<a class="hf" href="{HF_LOGIN}?_target_url={urllib.parse.quote(_next(request.query_params.get("next")))}">{w["hf"]}</a>'
    if auth.users(s) or not auth.oauth_enabled():
        body += (f'<form method="post" action="/signin?next={urllib.parse.quote(nxt)}" style="box-shadow:none;padding:0">'
                 f'<label for="u">{w["name"]}</label><input id="u" name="username" autocomplete="username" autofocus>'
                 f'<label for="p">{w["password"]}</label><input id="p" name="password" type="password" '
                 f'autocomplete="current-password"><button type="submit">{w["go"]}</button></form>')
        if not auth.users(s):
            body += f'<p class="err">{w["none"]}</p>'
    if error:
        body += f'<p class="err" role="alert">{w[error]}</p>'
    return HTMLResponse(PAGE.format(lang="zh-CN" if lang == "zh" else "en", app=w["app"], title=w["title"], body=body),
                        status_code=status)


def mount(api, s: config.Settings) -> None:
    """Sign-in routes, the gate and the session cookie on the FastAPI app (before Gradio's mount)."""
    throttle = auth.Throttle()

    async def attempt(request: Request) -> tuple[str, str | None]:
        form = await request.form()
        name, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
        address = request.client.host if request.client else "?"
        if throttle.blocked(name, address):
            return name, "slow"
        if not auth.check(s, name, password):
            throttle.failed(name, address)
            return name, "wrong"
        request.session.clear()  # a fresh session at sign-in: nothing carried over from before
        request.session["studio_user"] = name
        return name, None

    @api.get("/signin", include_in_schema=False)
    def signin_page(request: Request):
        return page(s, request)

    @api.post("/signin", include_in_schema=False)
    async def signin(request: Request):
        _, error = await attempt(request)
        if error:
            return page(s, request, error, status=429 if error == "slow" else 401)
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)

    @api.post("/login", include_in_schema=False)  # where gradio_client's auth=(name, password) posts
    async def login(request: Request):
        _, error = await attempt(request)
        if error:
            return JSONResponse({"detail": WORDS["en"][error]}, status_code=429 if error == "slow" else 401)
        return JSONResponse({"success": True})

    @api.get("/logout", include_in_schema=False)
    def logout(request: Request):
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)

    api.add_middleware(Gate, s=s)
    if auth.oauth_enabled():
        # The hub's own OAuth routes and session cookie (SameSite=None: a Space runs in an iframe).
        from huggingface_hub import attach_huggingface_oauth

        attach_huggingface_oauth(api)
    else:
        from starlette.middleware.sessions import SessionMiddleware

        # A Space is https and shown inside huggingface.co's iframe: only SameSite=None reaches it.
        space = bool(os.environ.get("SPACE_ID"))
        secure = space or (s.public_url or "").startswith("https://")
        api.add_middleware(SessionMiddleware, secret_key=_session_key(s), session_cookie="studio_session",
                           same_site="none" if space else "lax", https_only=secure)


def gradio_user(request) -> str | None:
    """Gradio's auth_dependency: the gate already decided; this tells Gradio who it is."""
    return request.scope.get("studio_user")
