"""Sign-in on a studio open to the network: the page, every named API endpoint and Gradio's own
routes refuse an anonymous or wrong-password request and work once signed in; without
credentials the studio does not start there at all."""
import os
import subprocess
import sys
import urllib.parse

import httpx
import pytest

from studio.core import auth
from tests.conftest import REPO, RunningStudio

pytestmark = pytest.mark.api
PASSWORD = "tea-garden-42"


@pytest.fixture(scope="module")
def open_studio(tmp_path_factory, models_dir):
    home = tmp_path_factory.mktemp("signin") / "home"
    home.mkdir()
    app = RunningStudio(home, models_dir)
    users = f"alice:{auth.hash_password(PASSWORD)}"
    app.start(env={"STUDIO_HOST": "0.0.0.0", "STUDIO_USERS": users})
    yield app
    app.kill()
    app.stop_all_jobs()


def signed_in(url: str, name="alice", password=PASSWORD) -> httpx.Client:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    r = c.post("/signin?next=/", data={"username": name, "password": password})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return c


def test_without_credentials_it_does_not_start_off_loopback(tmp_path, models_dir):
    env = {**os.environ, "STUDIO_HOME": str(tmp_path), "STUDIO_MODELS_DIR": str(models_dir),
           "STUDIO_HOST": "0.0.0.0", "STUDIO_PORT": "1"}
    env.pop("STUDIO_USERS", None)
    r = subprocess.run([sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nobody can sign in" in r.stderr and "python -m studio.core.auth add NAME" in r.stderr
    assert "STUDIO_AUTH=none" in r.stderr


def test_the_page_sends_a_browser_to_sign_in_in_its_language(open_studio):
    url = open_studio.url
    r = httpx.get(url, headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=/")
    page = httpx.get(url + "signin", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200 and "用户名" in page.text and "密码" in page.text
    assert "User name" in httpx.get(url + "signin").text
    assert "LLM Studio" not in httpx.get(url + "config").text
    c = signed_in(url)
    home = c.get("/")
    assert home.status_code == 200 and "LLM Studio" in home.text
    # Signing out ends the session.
    assert c.get("/logout").headers["location"] == "/signin"
    assert c.get("/", headers={"Accept": "text/html"}).status_code == 303


def test_every_named_endpoint_refuses_an_anonymous_request(open_studio):
    from gradio_client import Client

    url = open_studio.url
    names = sorted(Client(url, auth=("alice", PASSWORD), verbose=False,
                          analytics_enabled=False).view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert len(names) > 40 and "/chat" in names and "/deploy" in names and "/publish" in names
    anonymous = httpx.Client(base_url=url, timeout=30)
    for name in names:
        r = anonymous.post(f"/gradio_api/call{name}", json={"data": []})
        assert r.status_code == 401, (name, r.status_code, r.text[:200])
    # Gradio's own routes too: its queue, uploads, files, config and the API description.
    for method, path in [("GET", "/config"), ("GET", "/gradio_api/info"), ("POST", "/gradio_api/queue/join"),
                         ("GET", "/gradio_api/queue/data?session_hash=x"), ("POST", "/gradio_api/upload"),
                         ("GET", "/gradio_api/file=/etc/passwd"), ("POST", "/gradio_api/api/chat"),
                         ("GET", "/gradio_api/heartbeat/x"), ("POST", "/gradio_api/reset"),
                         ("GET", "/gradio_api/openapi.json"), ("GET", "/monitoring")]:
        r = anonymous.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (path, r.status_code)
    # Signed in, the same call is taken (an event id comes back).
    c = signed_in(url)
    taken = c.post("/gradio_api/call/chat_models", json={"data": [None, ""]})
    assert taken.status_code == 200 and "event_id" in taken.json()


def test_gradio_client_needs_the_right_password(open_studio):
    from gradio_client import Client

    with pytest.raises(Exception):
        Client(open_studio.url, verbose=False, analytics_enabled=False)
    with pytest.raises(Exception, match="(?i)invalid credentials"):
        Client(open_studio.url, auth=("alice", "wrong-password"), verbose=False, analytics_enabled=False)
    c = Client(open_studio.url, auth=("alice", PASSWORD), verbose=False, analytics_enabled=False)
    listed = c.predict(api_name="/list_runs")
    assert "headers" in listed


def test_wrong_passwords_are_slowed_and_the_next_page_stays_on_this_site(open_studio):
    url = open_studio.url
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    for _ in range(auth.MAX_FAILURES):
        r = c.post("/signin", data={"username": "mallory", "password": "guess"})
        assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert c.post("/signin", data={"username": "mallory", "password": "guess"}).status_code == 429
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = c.post("/signin?next=" + urllib.parse.quote(target), data={"username": "alice", "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/", target


def test_a_removed_user_is_signed_out_at_the_next_request(open_studio):
    env = {**os.environ, "STUDIO_HOME": str(open_studio.home)}
    added = subprocess.run([sys.executable, "-m", "studio.core.auth", "add", "bob", "--password-stdin"],
                           cwd=REPO, env=env, input="bobs-password\n", text=True, capture_output=True)
    assert added.returncode == 0, added.stderr
    c = signed_in(open_studio.url, "bob", "bobs-password")  # no restart needed
    assert c.post("/gradio_api/call/list_runs", json={"data": []}).status_code == 200
    subprocess.run([sys.executable, "-m", "studio.core.auth", "remove", "bob"], cwd=REPO, env=env, check=True)
    assert c.post("/gradio_api/call/list_runs", json={"data": []}).status_code == 401


def test_the_proxy_and_health_stay_reachable_without_a_session(open_studio):
    assert httpx.get(open_studio.url + "healthz").json() == {"ok": True}
    r = httpx.get(open_studio.url + "v1/models")
    assert r.status_code in (200, 401) and "Not signed in" not in r.text



def test_signed_in_users_change_only_what_is_theirs(open_studio):
    from gradio_client import Client

    env = {**os.environ, "STUDIO_HOME": str(open_studio.home)}
    for name in ("dave", "erin"):
        subprocess.run([sys.executable, "-m", "studio.core.auth", "add", name, "--password-stdin"],
                       cwd=REPO, env=env, input=f"{name}s-password\n", text=True, check=True,
                       capture_output=True)

    def as_user(name, password=None):
        return Client(open_studio.url, auth=(name, password or f"{name}s-password"), verbose=False,
                      analytics_enabled=False)

    alice, dave, erin = as_user("alice", PASSWORD), as_user("dave"), as_user("erin")  # alice: the admin
    alice.predict("alices", "", 200, 20, "sentence", api_name="/create_base")
    with pytest.raises(Exception, match="Only its owner or an admin can delete the knowledge base alices: "
                                        "it belongs to alice \\(who made it\\), and you are signed in as dave"):
        dave.predict("alices", api_name="/delete_base")
    with pytest.raises(Exception, match="can rename the knowledge base alices"):
        dave.predict("alices", "mine-now", api_name="/rename_base")
    dave.predict("daves", "", 200, 20, "sentence", api_name="/create_base")
    dave.predict("daves", "daves-notes", api_name="/rename_base")  # his own: allowed
    with pytest.raises(Exception, match="it belongs to dave"):  # the owner moved with the name
        erin.predict("daves-notes", api_name="/delete_base")
    alice.predict("daves-notes", api_name="/delete_base")  # an admin may
    # The sample dataset came with the studio: a user may not overwrite it, but may save their own.
    table = dave.predict("support_sample", api_name="/load_dataset")[0]
    with pytest.raises(Exception, match="overwrite the dataset support_sample: it belongs to the setup"):
        dave.predict(table, "alpaca", "support_sample", api_name="/save_dataset")
    assert "Saved" in dave.predict(table, "alpaca", "daves-data", api_name="/save_dataset")[1]
    with pytest.raises(Exception, match="overwrite the dataset daves-data: it belongs to dave"):
        erin.predict(table, "alpaca", "daves-data", api_name="/save_dataset")
