"""BM25 sparse encoding (Chinese and English), fusion, evaluation metrics and the checks that warn
a user about poor retrieval; no embedding model needed."""
from types import SimpleNamespace

import pytest

from studio import config, kbeval, kbsearch, sources, sparse
from studio.knowledge import Hit


def test_chinese_is_cut_into_words_and_english_is_stemmed_without_stopwords():
    assert sparse.tokens("退货期限是几天") == ["退货", "期限", "几天"]
    assert sparse.tokens("The kettles were boiling") == ["kettl", "boil"]
    mixed = sparse.tokens("K2 电水壶 error E3")
    assert {"k2", "电水壶", "error", "e3"} <= set(mixed)


def test_doc_vectors_saturate_term_frequency_and_normalise_length():
    ids, vals = sparse.doc_vector("kettle kettle kettle water", avg_len=4)
    weights = dict(zip(ids, vals))
    kettle, water = weights[sparse.term_id("kettl")], weights[sparse.term_id("water")]
    assert water < kettle < 3 * water  # more is better, but saturating (k1)
    long_ids, long_vals = sparse.doc_vector("kettle " + "filler " * 40, avg_len=4)
    assert dict(zip(long_ids, long_vals))[sparse.term_id("kettl")] < water  # long chunks weigh less
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_query_vectors_are_unit_weights_for_qdrant_idf():
    ids, vals = sparse.query_vector("保修 保修 warranty")
    assert len(ids) == 2 and vals == [1.0, 1.0]
    assert sparse.query_encoder(["a kettle"]) == ([[sparse.term_id("kettl")]], [[1.0]])


def _result(ids, scores):
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQueryResult

    return VectorStoreQueryResult(nodes=[TextNode(id_=i, text=i) for i in ids], similarities=scores,
                                  ids=ids)


def test_rrf_fuses_by_rank_and_keeps_both_ranks():
    a, b, c = ("00000000-0000-0000-0000-00000000000" + x for x in "abc")
    fused = kbsearch.rrf(_result([a, b], [0.9, 0.8]), _result([b, c], [12.0, 3.0]), top_k=3)
    assert fused.ids[0] == b  # second in dense, first in BM25: best overall
    assert set(fused.ids) == {a, b, c}
    node_b = fused.nodes[0]
    assert node_b.metadata["_dense"] == (2, 0.8) and node_b.metadata["_sparse"] == (1, 12.0)


def test_model_card_languages_and_language_warnings(tmp_path):
    (tmp_path / "README.md").write_text("---\nlanguage: en\nlicense: mit\n---\n# model")
    assert kbsearch.model_languages(str(tmp_path)) == {"en"}

    class Doc:
        def __init__(self, text):
            self.text = text

    assert "mostly Chinese" in kbsearch.language_warning([Doc("床前明月光，疑是地上霜。")], "m", {"en"})
    assert kbsearch.language_warning([Doc("Returns within 15 days.")], "m", {"en"}) == ""
    assert kbsearch.language_warning([Doc("床前明月光")], "m", {"multilingual"}) == ""
    assert kbsearch.language_warning([Doc("床前明月光")], "m", set()) == ""  # unknown: no guess


def test_labelled_sets_parse_from_jsonl_json_and_csv_with_clear_errors():
    assert kbeval.parse('{"question": "q", "document": "d.md"}') == [kbeval.Item("q", "d.md")]
    assert kbeval.parse('[{"question": "q", "document": "d", "contains": "15"}]')[0].contains == "15"
    assert kbeval.parse("question,document\nq1,a.txt\nq2,b.txt\n")[1] == kbeval.Item("q2", "b.txt")
    with pytest.raises(kbeval.KnowledgeError, match="Row 1: question and document"):
        kbeval.parse('{"question": "q"}')
    with pytest.raises(kbeval.KnowledgeError, match="empty"):
        kbeval.parse("  ")


def test_recall_and_mrr_from_ranks():
    class FakeKb:  # search results scripted per mode: the metric arithmetic is under test here
        def documents(self, base):
            return [("a", 1), ("b", 1)]

        def base(self, name):
            return SimpleNamespace(rerank_model="")

        def search(self, q, top_k, base, mode, rerank):
            order = {"q1": ["a", "b"], "q2": ["a", "b"]} if mode == "dense" else {"q1": ["b", "a"], "q2": ["b"]}
            return [Hit(f, 1, "", 1.0, "text") for f in order[q]]

    items = [kbeval.Item("q1", "a"), kbeval.Item("q2", "b")]
    res = kbeval.evaluate(FakeKb(), items, ks=(1, 2), modes=("dense", "sparse"))
    assert res["dense"]["ranks"] == [1, 2] and res["dense"]["recall@1"] == 0.5
    assert res["dense"]["recall@2"] == 1.0 and res["dense"]["mrr"] == 0.75
    assert res["sparse"]["ranks"] == [2, 1] and res["sparse"]["mrr"] == 0.75
    with pytest.raises(kbeval.KnowledgeError, match="Not in this knowledge base: c"):
        kbeval.evaluate(FakeKb(), [kbeval.Item("q", "c")])


def test_sources_open_to_their_text_and_weak_matches_are_flagged():
    s = config.Settings()
    good = [Hit("p.md", 1, "", 0.03, "Returns <within> 15 days.", dense_rank=1, dense_score=0.62)]
    block = sources.sources_block(good, s, asked=True)
    assert "<summary>[1] p.md (chunk 1)" in block and "Returns &lt;within&gt; 15 days." in block
    assert "may not cover" not in block
    weak = [Hit("p.md", 1, "", 0.03, "x", dense_rank=1, dense_score=0.12)]
    assert "may not cover this (best match 0.12)" in sources.sources_block(weak, s, asked=True)
    assert "may not cover this" in sources.sources_block([], s, asked=True)
    bm25 = [Hit("诗.txt", 1, "", 0.5, "床前明月光", dense_rank=1, dense_score=0.1, sparse_rank=1, sparse_score=3.2)]
    assert "may not cover" not in sources.sources_block(bm25, s, asked=True)  # rare words matched
    assert sources.sources_block([], s, asked=False) == ""