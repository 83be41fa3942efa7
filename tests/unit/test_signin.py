"""The gate's decision for a Space with Hugging Face OAuth: a session from the hub's OAuth routes,
or a script's own hub token, let in only for the allowed users and organisations."""
import json
import time

import pytest
from starlette.requests import Request

from studio import config
from studio.core import signin
from tests.unit.test_auth import endpoint


@pytest.fixture
def space(tmp_path, monkeypatch):
    for k, v in {"SPACE_ID": "alice/studio", "OAUTH_CLIENT_ID": "id", "SPACE_AUTHOR_NAME": "alice"}.items():
        monkeypatch.setenv(k, v)
    return config.load(home=tmp_path, hf_allow="alice, qinghe-team")


def request(session=None, headers=()):
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    if session is not None:
        scope["session"] = session
    return Request(scope)


def oauth(name, orgs=(), expires=3600):
    return {"oauth_info": {"access_token": "hf_oauth", "expires_at": time.time() + expires,
                           "userinfo": {"preferred_username": name,
                                        "orgs": [{"preferred_username": o, "name": o.title()} for o in orgs]}}}


def test_an_oauth_session_lets_in_only_allowed_users_and_orgs(space):
    gate = signin.Gate(None, space)
    assert gate.user(request(oauth("alice"))) == "alice"
    assert gate.user(request(oauth("carol", ["qinghe-team"]))) == "carol"
    assert gate.user(request(oauth("mallory", ["elsewhere"]))) is None
    assert gate.user(request(oauth("alice", expires=-10))) is None  # expired at the hub
    assert gate.user(request({})) is None and gate.user(request()) is None


def test_a_scripts_hub_token_is_checked_with_the_hub_once(space, monkeypatch):
    from huggingface_hub import constants

    people = {"Bearer hf_carol": {"name": "carol", "orgs": [{"name": "qinghe-team"}]},
              "Bearer hf_mallory": {"name": "mallory", "orgs": []}}

    def whoami(h):
        me = people.get(h.headers.get("Authorization"))
        return (200, {"Content-Type": "application/json"}, json.dumps(me).encode()) if me else (401, {}, b"{}")

    with endpoint(whoami) as (url, seen):
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        gate = signin.Gate(None, space)
        assert gate.user(request(headers=[("authorization", "Bearer hf_carol")])) == "carol"
        assert gate.user(request(headers=[("authorization", "Bearer hf_carol")])) == "carol"
        assert len(seen) == 1  # cached
        assert gate.user(request(headers=[("authorization", "Bearer hf_mallory")])) is None
        assert gate.user(request(headers=[("authorization", "Bearer hf_revoked")])) is None


def test_without_oauth_a_hub_token_opens_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    gate = signin.Gate(None, config.load(home=tmp_path, host="0.0.0.0"))
    assert gate.user(request(oauth("alice"), [("authorization", "Bearer hf_x")])) is None


@pytest.mark.parametrize("raw,want", [("/", "/"), ("/?tab=2", "/?tab=2"), ("https://evil.example", "/"),
                                      ("//evil.example", "/"), ("/\\evil", "/"), (None, "/")])
def test_after_sign_in_only_a_page_of_this_site_is_next(raw, want):
    assert signin._next(raw) == want


def test_on_a_space_the_hubs_oauth_routes_send_a_browser_to_the_provider(space, monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from huggingface_hub import constants

    def provider(h):
        meta = {"issuer": url, "authorization_endpoint": f"{url}/oauth/authorize",
                "token_endpoint": f"{url}/oauth/token", "userinfo_endpoint": f"{url}/oauth/userinfo",
                "jwks_uri": f"{url}/oauth/jwks"}
        return 200, {"Content-Type": "application/json"}, json.dumps(meta).encode()

    with endpoint(provider) as (url, seen):
        for name, value in {"OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "secret",
                            "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": url}.items():
            monkeypatch.setattr(constants, name, value)
        api = FastAPI()
        signin.mount(api, space)

        @api.get("/")
        def home():
            return {"ok": True}

        c = TestClient(api, base_url="https://alice-studio.hf.space", follow_redirects=False)
        assert c.get("/", headers={"Accept": "text/html"}).headers["location"] == "/signin?next=/"
        page = c.get("/signin?next=/").text
        assert "Sign in with Hugging Face" in page and 'name="password"' not in page  # no password users
        go = c.get("/oauth/huggingface/login?_target_url=/")
        assert go.status_code in (302, 307)
        assert go.headers["location"].startswith(f"{url}/oauth/authorize?")
        assert "client_id=id" in go.headers["location"] and "redirect_uri=" in go.headers["location"]
        assert seen[0]["path"] == "/.well-known/openid-configuration"
        assert c.get("/").status_code == 401  # still nobody until the hub calls back


def test_on_a_space_the_password_session_cookie_works_inside_the_hubs_iframe(tmp_path, monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from studio.core import auth

    monkeypatch.setenv("SPACE_ID", "alice/studio")
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    s = config.load(home=tmp_path, users=f"alice:{auth.hash_password('password1')}")
    api = FastAPI()
    signin.mount(api, s)
    c = TestClient(api, base_url="https://alice-studio.hf.space", follow_redirects=False)
    cookie = c.post("/login", data={"username": "alice", "password": "password1"}).headers["set-cookie"].lower()
    assert "samesite=none" in cookie and "secure" in cookie and "httponly" in cookie
