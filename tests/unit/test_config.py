from pathlib import Path

from studio import config


def test_defaults_bind_loopback(monkeypatch):
    for k in ("STUDIO_HOST", "STUDIO_PORT", "STUDIO_HOME"):
        monkeypatch.delenv(k, raising=False)
    s = config.load()
    assert s.host == "127.0.0.1"
    assert s.port == 7860
    assert s.home == Path("studio_data").resolve()
    assert s.models == s.home / "models"


def test_environment_overrides_and_types(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("STUDIO_PORT", "8123")
    monkeypatch.setenv("STUDIO_GPU", "false")
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")
    s = config.load()
    assert s.home == tmp_path and s.port == 8123 and s.gpu is False
    assert s.qdrant_url == "http://qdrant:6333"
    assert s.hf_home == tmp_path / "hf"


def test_keyword_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_PORT", "8123")
    assert config.load(port=9000, home=tmp_path).port == 9000
