"""What a request may not make the studio do, each tried through the API as a client would:
download past the size cap, bind a keyless server to every address, fetch link-local or cloud
metadata addresses, load a model from elsewhere on the server's disk, or read an API key back."""
import json

import pytest
from gradio_client import Client

from tests.conftest import wait_for
from tests.unit.test_auth import endpoint, hub_model

pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def hub():
    with endpoint(hub_model(300 * 2**30)) as (url, seen):
        yield url, seen


@pytest.fixture
def client(studio, hub):
    studio.start(env={"HF_ENDPOINT": hub[0], "HF_HUB_OFFLINE": "0"})
    return Client(studio.url, verbose=False, analytics_enabled=False)


def refused(call, *words):
    with pytest.raises(Exception) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


def test_a_download_over_the_cap_is_refused_before_any_file(client, hub):
    _, status = client.predict("big/model", api_name="/download_model")
    assert "300.0 GiB, above this studio's download cap of 40 GiB" in status
    assert "STUDIO_HUB_MAX_DOWNLOAD_GIB" in status
    assert [r["path"].split("?")[0] for r in hub[1]] == ["/api/models/big/model"]  # no file asked for


def test_a_keyless_server_cannot_be_bound_to_every_address(client, studio):
    refused(lambda: client.predict([], 1024, 2, 1, "auto", True, 0, 4, False, "0.0.0.0", api_name="/deploy"),
            "Require an API key")
    assert not (studio.home / "jobs").exists() or not any((studio.home / "jobs").glob("serve-*"))


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fd00:ec2::254]/v1",
                                 "http://100.100.100.200/v1"])
def test_external_endpoints_at_metadata_addresses_are_refused(client, url):
    refused(lambda: client.predict(url, "", api_name="/external_models"), "link-local", "STUDIO_FETCH_LINK_LOCAL")
    history, _, _ = client.predict("hello", [], "external", False, "", 0.3, 1.0, 16, url, "", "m", "default",
                                   api_name="/chat")
    assert "link-local or cloud metadata" in json.dumps(history, ensure_ascii=False)


def test_models_from_elsewhere_on_the_servers_disk_are_refused(client):
    refused(lambda: client.predict("stolen", "/etc", 200, 20, "sentence", api_name="/create_base"),
            "outside this studio's data folders")
    refused(lambda: client.predict("default", "/root/.cache", api_name="/set_reranker"),
            "outside this studio's data folders")
    refused(lambda: client.predict("web", "https://evil.example/model", 200, 20, "sentence",
                                   api_name="/create_base"), "not a model name")


def test_an_api_key_is_shown_once_and_never_read_back(client, studio):
    which, key_box = client.predict([], 1024, 2, 1, "auto", True, 0, 4, True, "127.0.0.1", api_name="/deploy")
    job_id = which["value"] if isinstance(which, dict) else which
    key = key_box["value"] if isinstance(key_box, dict) else key_box
    assert len(key) >= 24
    try:
        outputs = [client.predict(job_id, api_name="/deploy_status"),
                   client.predict(None, "", api_name="/chat_models"),
                   client.predict(job_id, api_name="/restart_deploy")]
        new_id = outputs[-1]["value"] if isinstance(outputs[-1], dict) else outputs[-1]
        outputs.append(client.predict(new_id, api_name="/deploy_status"))
        wait_for(lambda: "ready" in str(client.predict(new_id, api_name="/deploy_status")[0]) or
                 "failed" in str(client.predict(new_id, api_name="/deploy_status")[0]),
                 timeout=300, every=3, what="the restarted deployment")
        outputs.append(client.predict(new_id, api_name="/deploy_status"))  # with its snippet now
        text = json.dumps(outputs, ensure_ascii=False)
        assert "STUDIO_API_KEY" in text  # the snippet names the variable that holds the key...
        assert key not in text  # ...and never the key itself
    finally:
        studio.stop_all_jobs()
