"""Sign-in rules, the users CLI, the server's hub token, and what the server may fetch."""
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from studio import config, hub, models
from studio.core import auth, netguard

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def endpoint(answer):
    """A real HTTP server on 127.0.0.1 that records each request and answers answer(handler)."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self):
            seen.append({"method": self.command, "path": self.path,
                         "authorization": self.headers.get("Authorization")})
            code, headers, body = answer(self)
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _any

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def test_a_password_hash_verifies_only_its_password():
    h = auth.hash_password("correct horse")
    assert h.startswith("scrypt$") and "correct" not in h
    assert auth.verify_password(h, "correct horse")
    assert not auth.verify_password(h, "correct horsE")
    assert not auth.verify_password("not-a-hash", "x") and not auth.verify_password(h[:-4], "correct horse")
    assert auth.hash_password("same") != auth.hash_password("same")  # salted


@pytest.mark.parametrize("host,users,switch,want", [
    ("127.0.0.1", "", "", "open"), ("localhost", "", "", "open"), ("::1", "", "", "open"),
    ("0.0.0.0", "", "", "refuse"), ("192.168.1.5", "", "", "refuse"),
    ("0.0.0.0", "", "none", "open"), ("0.0.0.0", "USERS", "", "signin"), ("127.0.0.1", "USERS", "", "signin"),
])
def test_sign_in_is_needed_off_loopback_and_wherever_users_exist(tmp_path, monkeypatch, host, users, switch, want):
    monkeypatch.delenv("SPACE_ID", raising=False)
    users = f"alice:{auth.hash_password('password1')}" if users else ""
    s = config.load(home=tmp_path, host=host, users=users, auth=switch)
    assert auth.mode(s) == want


def test_a_space_with_oauth_signs_in_its_owner_and_named_orgs(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "alice/studio")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "x")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "alice")
    s = config.load(home=tmp_path)
    assert s.host == "0.0.0.0" and auth.mode(s) == "signin"
    assert auth.hf_user_allowed(s, "Alice", []) and not auth.hf_user_allowed(s, "bob", ["other"])
    s = config.load(home=tmp_path, hf_allow="bob, qinghe-team")
    assert auth.hf_user_allowed(s, "carol", ["qinghe-team"]) and auth.hf_user_allowed(s, "bob", [])
    assert not auth.hf_user_allowed(s, "alice", []) and not auth.hf_user_allowed(s, None, ["qinghe-team"])


def test_a_bad_users_variable_is_an_error_that_says_how_to_fix_it(tmp_path):
    s = config.load(home=tmp_path, host="0.0.0.0", users="alice:plaintext")
    with pytest.raises(auth.AuthError, match="python -m studio.core.auth hash"):
        auth.mode(s)


def cli(home, *args, password=None):
    return subprocess.run([sys.executable, "-m", "studio.core.auth", *args], cwd=REPO, text=True,
                          input=password, capture_output=True, env={**os.environ, "STUDIO_HOME": str(home)})


def test_the_users_cli_adds_lists_and_removes_users(tmp_path):
    r = cli(tmp_path, "add", "alice", "--password-stdin", password="s3cret-pass\n")
    assert r.returncode == 0, r.stderr
    f = tmp_path / "users.json"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and "s3cret" not in f.read_text()
    s = config.load(home=tmp_path)
    assert auth.check(s, "alice", "s3cret-pass") and not auth.check(s, "alice", "wrong-pass")
    assert not auth.check(s, "nobody", "s3cret-pass")
    assert cli(tmp_path, "list").stdout.startswith("alice\t")
    short = cli(tmp_path, "add", "bob", "--password-stdin", password="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    line = cli(tmp_path, "hash", "carol", "--password-stdin", password="carol-pass\n").stdout.strip()
    assert auth.users(config.load(home=tmp_path, users=line))["carol"].startswith("scrypt$")
    assert cli(tmp_path, "remove", "alice").returncode == 0
    assert not auth.check(config.load(home=tmp_path), "alice", "s3cret-pass")
    assert "No user named alice" in cli(tmp_path, "remove", "alice").stderr


def test_wrong_passwords_are_throttled_per_name_and_address():
    t = auth.Throttle()
    for _ in range(auth.MAX_FAILURES):
        assert not t.blocked("alice", "10.0.0.1")
        t.failed("alice", "10.0.0.1")
    assert t.blocked("alice", "10.0.0.1")
    assert not t.blocked("alice", "10.0.0.2") and not t.blocked("bob", "10.0.0.1")


def adapter_folder(tmp_path):
    folder = tmp_path / "lora"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    return folder


def test_a_publish_without_a_token_never_uses_the_servers_token(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests' default; this hub is local
    users = f"alice:{auth.hash_password('password1')}"
    with endpoint(lambda h: (500, {}, b"{}")) as (url, seen):
        s = config.load(home=tmp_path, host="0.0.0.0", users=users, hf_token="hf_server_secret")
        with pytest.raises(hub.HubError, match="Paste your own hub token"):
            hub.push(s, adapter_folder(tmp_path), "alice/lora", token=None, endpoint=url)
        assert seen == []  # not a single request went out, with or without the token
        # The user's own token goes out, and only it.
        with pytest.raises(hub.HubError):
            hub.push(s, tmp_path / "lora", "alice/lora", token="hf_users_own", endpoint=url)
        assert seen and {r["authorization"] for r in seen} == {"Bearer hf_users_own"}
        # The owner can allow it on purpose.
        seen.clear()
        allowed = config.load(home=tmp_path, host="0.0.0.0", users=users, hf_token="hf_server_secret",
                              hf_token_use="download,publish")
        with pytest.raises(hub.HubError):
            hub.push(allowed, tmp_path / "lora", "alice/lora", token=None, endpoint=url)
        assert {r["authorization"] for r in seen} == {"Bearer hf_server_secret"}


def test_the_servers_token_serves_downloads_by_default_and_nothing_when_told(tmp_path):
    signin = dict(home=tmp_path, host="0.0.0.0", users=f"a:{auth.hash_password('password1')}", hf_token="hf_s")
    assert auth.hub_token(config.load(**signin), "download", None) == "hf_s"
    assert auth.hub_token(config.load(**signin), "publish", None) is None
    assert auth.hub_token(config.load(**signin, hf_token_use="none"), "download", None) is None
    alone = config.load(home=tmp_path, hf_token="hf_s")  # a laptop: the owner is the only user
    assert auth.hub_token(alone, "publish", None) == "hf_s"


def hub_model(size):
    def answer(h):
        body = {"id": "big/model", "sha": "0" * 40, "siblings": [
            {"rfilename": "config.json", "size": 700},
            {"rfilename": "model-00001.safetensors", "size": size},
            {"rfilename": "original/consolidated.pth", "size": 10 * size}]}  # not downloaded: not counted
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
    return answer


def test_a_download_over_the_cap_is_refused_before_it_starts(tmp_path, monkeypatch):
    from huggingface_hub import constants

    with endpoint(hub_model(50 * 2**30)) as (url, seen):
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        s = config.load(home=tmp_path, hub_max_download_gib=40)
        with pytest.raises(models.ModelError, match=r"50\.0 GiB, above this studio's download cap of 40 GiB"):
            models.download(s, "big/model")
        assert [r["path"].split("?")[0] for r in seen] == ["/api/models/big/model"]
        assert models.download_size("big/model", False) == 50 * 2**30 + 700
    for bad in ("../../etc", "just-a-name", "a/b/c", "https://evil.example/x"):
        with pytest.raises(models.ModelError, match="owner/name"):
            models.download(s, bad)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/v1",
                                 "http://100.100.100.200/v1", "http://metadata.google.internal/v1",
                                 "http://[::ffff:169.254.169.254]/v1", "http://[fe80::1]/v1"])
def test_link_local_and_metadata_addresses_are_refused(url):
    netguard.configure(False)
    with pytest.raises(netguard.Refused, match="STUDIO_FETCH_LINK_LOCAL"):
        netguard.check_url(url)
    try:
        netguard.configure(True)
        assert netguard.check_url(url) == url
    finally:
        netguard.configure(False)


def test_ordinary_addresses_pass_and_other_schemes_do_not():
    netguard.configure(False)
    assert netguard.check_url("http://127.0.0.1:8000/v1")
    assert netguard.check_url("https://api.example.com/v1")  # unresolvable here: left to the client
    for bad in ("file:///etc/passwd", "ftp://x/v1", "gopher://x", "not a url"):
        with pytest.raises(netguard.Refused, match="http"):
            netguard.check_url(bad)


def test_a_redirect_to_the_metadata_address_is_refused_too():
    netguard.configure(False)
    with endpoint(lambda h: (302, {"Location": "http://169.254.169.254/latest/"}, b"")) as (url, seen):
        client = httpx.Client(transport=netguard.GuardedTransport(), follow_redirects=True)
        with pytest.raises(httpx.ConnectError, match="link-local"):
            client.get(url + "/v1/models")
        assert len(seen) == 1


def test_model_names_are_hub_names_or_folders_inside_the_data_root(tmp_path):
    inside = tmp_path / "models" / "mine"
    inside.mkdir(parents=True)
    assert netguard.check_model_name("BAAI/bge-small-zh-v1.5", tmp_path) == "BAAI/bge-small-zh-v1.5"
    assert netguard.check_model_name("builtin:all-MiniLM-L6-v2", tmp_path)
    assert netguard.check_model_name(str(inside), tmp_path) == str(inside.resolve())
    for bad in ("/etc", "/root/.cache/huggingface", str(tmp_path / ".." / "elsewhere"),
                "https://evil.example/model", "a/../../etc"):
        with pytest.raises(netguard.Refused):
            netguard.check_model_name(bad, tmp_path)
