"""The Knowledge tab through the API: knowledge bases made, renamed and deleted; the bundled
evaluation set loaded and scored for dense, BM25 and hybrid search."""
import re

import pytest
from gradio_client import Client

pytestmark = [pytest.mark.api, pytest.mark.integration]


def value(x):
    return x.get("value") if isinstance(x, dict) and x.get("__type__") == "update" else x


def test_knowledge_bases_and_evaluation_through_the_api(studio):
    studio.start()
    c = Client(studio.url, verbose=False, analytics_enabled=False)
    assert value(c.predict("manuals", "builtin:all-MiniLM-L6-v2", 120, 10, "token",
                           api_name="/create_base")) == "manuals"
    with pytest.raises(Exception, match="already exists"):
        c.predict("manuals", "", 120, 10, "sentence", api_name="/create_base")
    with pytest.raises(Exception, match="reads at most 256 tokens"):
        c.predict("huge", "", 1024, 10, "sentence", api_name="/create_base")
    assert value(c.predict("manuals", "kettle manuals", api_name="/rename_base")) == "kettle manuals"
    assert value(c.predict("kettle manuals", api_name="/delete_base")) == "default"
    with pytest.raises(Exception, match="only knowledge base"):
        c.predict("default", api_name="/delete_base")

    base, labelled = c.predict(api_name="/eval_sample_zh")
    assert value(base) == "sample-zh" and "静夜思.txt" in labelled
    scores, ranks, *_, said = c.predict("sample-zh", labelled, api_name="/evaluate")
    scores, ranks = value(scores), value(ranks)
    by_mode = {row[0]: row[1:] for row in scores["data"]}
    learned = next(m for m in by_mode if m.startswith("hybrid, learned weights (dense "))
    assert set(by_mode) == {"hybrid (RRF)", "dense", "BM25", learned}
    # MRR: the default fusion is at least as good as either list alone
    assert by_mode["hybrid (RRF)"][-1] >= max(by_mode["dense"][-1], by_mode["BM25"][-1])
    assert by_mode[learned][-1] >= by_mode["hybrid (RRF)"][-1] - 1e-9  # learned on this very set
    assert len(ranks["data"]) == 16 and "automatic" not in said and "by how much" in said
    share = float(learned.rsplit(" ", 1)[1].rstrip(")"))
    assert f"dense share of {share:.1f}" in c.predict("sample-zh", api_name="/use_learned_weights")
    hits = value(c.predict("sample-zh", "哪首诗写夜里看见月光而想念家乡？", "hybrid", api_name="/search"))
    assert hits["data"][0][3] == "静夜思.txt"
    assert "by how much" in c.predict("sample-zh", api_name="/automatic_weights")
    with pytest.raises(Exception, match="Row 1: question and document"):
        c.predict("sample-zh", '{"question": "x"}', api_name="/evaluate")


def test_a_reranker_through_the_api(studio, tmp_path):
    from sentence_transformers import CrossEncoder

    from studio import defaults

    # A real cross-encoder with an untrained head (the wiring is under test), inside the data root:
    # a folder elsewhere on the server is refused.
    model = studio.home / "rerankers" / "cross-encoder"
    CrossEncoder(str(defaults.embedding_path()), num_labels=1).save(str(model))
    studio.start()
    c = Client(studio.url, verbose=False, analytics_enabled=False)
    with pytest.raises(Exception, match="Cannot load the reranker"):
        c.predict("default", str(studio.home / "rerankers" / "missing"), api_name="/set_reranker")
    with pytest.raises(Exception, match="outside this studio's data folders"):
        c.predict("default", str(tmp_path), api_name="/set_reranker")
    base, labelled = c.predict(api_name="/eval_sample_en")
    base = value(base)
    assert f"reranked by `{model}`" in c.predict(base, str(model), api_name="/set_reranker")
    hits = value(c.predict(base, "What does the Fourth Amendment protect?", "hybrid", api_name="/search"))
    assert hits["headers"] == ["score", "dense", "BM25", "rerank", "file", "chunk", "text"]
    reranked = [re.fullmatch(r"(\S+) \(was (\d+)\)", h[3]).groups() for h in hits["data"]]
    scores = [float(s) for s, _ in reranked]
    assert scores == sorted(scores, reverse=True)  # ordered by the reranker
    assert all(1 <= int(was) <= 20 for _, was in reranked)  # rank before reranking
    scores, ranks, *_ = c.predict(base, labelled, api_name="/evaluate")
    scores, ranks = value(scores), value(ranks)
    assert [row[0] for row in scores["data"]][:4] == ["hybrid (RRF)", "dense", "BM25", "hybrid + rerank"]
    assert ranks["headers"][-2] == "hybrid + rerank" and len(ranks["data"][0]) == 7
    assert "reranked" not in c.predict(base, "", api_name="/set_reranker")
