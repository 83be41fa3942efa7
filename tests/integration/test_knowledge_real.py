"""Real ingestion into Qdrant local with the real embedding model, and retrieval."""
import pytest

from studio import config
from studio.knowledge import Knowledge

pytestmark = pytest.mark.integration
DOCS = config.REPO / "assets" / "docs"


@pytest.fixture
def kb(settings):
    k = Knowledge(settings)
    yield k
    k.close()


def test_two_documents_ingest_and_the_right_chunk_comes_back(kb, settings):
    assert kb.add_file(DOCS / "qinghe_policies.md")[1] >= 2
    assert kb.add_file(DOCS / "k2_kettle_manual.txt")[1] >= 2
    assert dict(kb.documents()).keys() == {"qinghe_policies.md", "k2_kettle_manual.txt"}
    assert (settings.home / "knowledge" / "files" / "qinghe_policies.md").exists()

    top = kb.search("How many days do I have to return a product?")[0]
    assert top.file == "qinghe_policies.md" and "15 days" in top.text
    top = kb.search("What does error E3 mean on the kettle?")[0]
    assert top.file == "k2_kettle_manual.txt" and "E3" in top.text
    assert top.score > 0


def test_reingesting_replaces_and_delete_removes(kb):
    n = kb.add_file(DOCS / "k2_kettle_manual.txt")[1]
    assert kb.add_file(DOCS / "k2_kettle_manual.txt")[1] == n
    assert dict(kb.documents())["k2_kettle_manual.txt"] == n
    kb.delete("k2_kettle_manual.txt")
    assert kb.documents() == []


def test_the_store_persists_across_processes(kb, settings):
    kb.add_file(DOCS / "qinghe_policies.md")
    kb.close()
    again = Knowledge(settings)
    try:
        assert dict(again.documents())["qinghe_policies.md"] >= 2
    finally:
        again.close()


def test_chunks_fit_the_embedding_model(kb):
    from transformers import AutoTokenizer

    from studio import defaults

    kb.add_file(DOCS / "qinghe_policies.md")
    tok = AutoTokenizer.from_pretrained(str(defaults.embedding_path()))
    for hit in kb.search("warranty", top_k=10):
        assert len(tok.encode(hit.text)) <= 256
