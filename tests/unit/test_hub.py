"""Publishing through real huggingface_hub calls, against a local fake hub at the HTTP level."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio import hub


class FakeHub(BaseHTTPRequestHandler):
    commits: list = []
    repos: list = []

    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Authorization") != "Bearer hf_good":
            return self._reply(401, {"error": "Invalid credentials"})
        if self.path == "/api/repos/create":
            self.repos.append(json.loads(body))
            host = f"http://{self.headers['Host']}"
            return self._reply(200, {"url": f"{host}/{json.loads(body)['organization']}/{json.loads(body)['name']}"})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                "shouldIgnore": False} for f in files]})
        if "/commit/" in self.path:
            lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
            files = {x["value"]["path"]: base64.b64decode(x["value"]["content"])
                     for x in lines if x["key"] == "file"}
            self.commits.append(files)
            host = f"http://{self.headers['Host']}"
            return self._reply(200, {"commitUrl": f"{host}/alice/qinghe-lora/commit/abc", "commitOid": "abc"})
        self._reply(404, {"error": self.path})


@pytest.fixture
def fake_hub(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs offline; this is loopback
    FakeHub.commits, FakeHub.repos = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def adapter(tmp_path):
    d = tmp_path / "output"
    (d / "checkpoint-2").mkdir(parents=True)
    (d / "adapter_config.json").write_text('{"r": 8}')
    (d / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    (d / "trainer_log.jsonl").write_text("{}\n")
    (d / "checkpoint-2" / "optimizer.pt").write_bytes(b"x")
    return d


def test_push_creates_a_private_repo_and_uploads_only_the_model(settings, fake_hub, adapter):
    url = hub.push(settings, adapter, "alice/qinghe-lora", token="hf_good", endpoint=fake_hub)
    assert url.endswith("/commit/abc")
    assert FakeHub.repos[0]["name"] == "qinghe-lora" and FakeHub.repos[0]["organization"] == "alice"
    assert FakeHub.repos[0].get("private") is True or FakeHub.repos[0].get("visibility") == "private"
    [files] = FakeHub.commits
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors"}
    assert files["adapter_model.safetensors"] == b"\0" * 64


def test_a_rejected_token_is_a_clear_error(settings, fake_hub, adapter):
    with pytest.raises(hub.HubError, match="refused the token"):
        hub.push(settings, adapter, "alice/x", token="hf_bad", endpoint=fake_hub)


def test_bad_inputs_are_refused_before_any_call(settings, adapter, tmp_path):
    with pytest.raises(hub.HubError, match="owner/name"):
        hub.push(settings, adapter, "no-owner", token="t")
    with pytest.raises(hub.HubError, match="needs a hub token"):
        hub.push(settings, adapter, "alice/x")
    with pytest.raises(hub.HubError, match="neither a model nor an adapter"):
        hub.push(settings, tmp_path, "alice/x", token="t")
