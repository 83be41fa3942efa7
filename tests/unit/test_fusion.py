"""Hybrid search's fusion weights per query (Chinese, English, mixed), the weights a base learns
from its labelled set, the coverage warning from both lists, and the sentence a citation marks."""
import pytest

from studio import config, kbfusion, sources
from studio.knowledge import Hit

EN_MODEL, MULTI = {"en"}, {"multilingual"}


def test_an_english_model_is_not_heard_on_a_chinese_question():
    w = kbfusion.for_query("哪首诗写夜里看见月光而想念家乡？", EN_MODEL)
    assert (w.how, w.fit, w.dense, w.sparse) == ("fit", 0.0, 0.0, 1.0)
    assert w.rrf() == [0.0, 1.0]
    assert "reads 0% of this query" in str(w.said()) and "0%" in w.said().zh


def test_a_model_that_reads_the_question_leads_the_fusion():
    en = kbfusion.for_query("Do the police need a warrant to search my house?", EN_MODEL)
    assert en.fit == 1.0 and en.dense == pytest.approx(0.9) and en.rrf() == pytest.approx([1.0, 0.1 / 0.9])
    zh = kbfusion.for_query("哪首诗把春风比作剪刀？", MULTI)
    assert zh.fit == 1.0 and zh.dense == pytest.approx(0.9)
    assert kbfusion.for_query("哪首诗", {"zh"}).fit == 1.0
    assert kbfusion.for_query("which poem", {"zh"}).fit == 0.0  # a Chinese-only model


def test_a_mixed_question_is_weighed_by_the_share_the_model_reads():
    # 4 Latin letters ("K2" has one) and 4 Chinese characters: MiniLM reads half of it
    w = kbfusion.for_query("Kett K2 水壶故障", EN_MODEL)
    assert w.fit == pytest.approx(5 / 9) and w.dense == pytest.approx(0.9 * 5 / 9)
    assert kbfusion.for_query("Kett K2 水壶故障", MULTI).fit == 1.0


def test_unknown_languages_and_learned_weights():
    assert kbfusion.for_query("anything", set()) == kbfusion.Weights(0.5, "unknown")
    assert kbfusion.for_query("1234 ???", EN_MODEL).how == "unknown"  # no letters to judge by
    w = kbfusion.for_query("哪首诗", EN_MODEL, learned=0.3)
    assert (w.how, w.dense) == ("learned", 0.3) and "learned from this base" in str(w.said())
    assert kbfusion.Weights(0.5, "x").rrf() == [1.0, 1.0]  # equal shares: plain RRF


def test_fusion_follows_the_weights_and_learning_finds_the_better_share():
    dense, bm25 = ["a", "b", "c"], ["c", "d", "a"]
    assert kbfusion.fuse(dense, bm25, kbfusion.Weights(1.0, "x"), 3) == ["a", "b", "c"]
    assert kbfusion.fuse(dense, bm25, kbfusion.Weights(0.0, "x"), 3) == ["c", "d", "a"]
    assert kbfusion.fuse(dense, bm25, kbfusion.Weights(0.5, "x"), 2) == ["a", "c"]
    # the right chunk is first in BM25 and third in the dense list, for every question
    runs = [(["x", "y", "ok"], ["ok", "x"], lambda k: k == "ok")] * 3
    share, mrr = kbfusion.learn(runs, 5)
    assert share <= 0.4 and mrr == 1.0
    # both lists agree: every share ties, and the tie goes to the preferred one
    assert kbfusion.learn([(["ok"], ["ok"], lambda k: k == "ok")], 5, prefer=0.9) == (0.9, 1.0)


def hit(**kw):
    return Hit("p.md", 1, "", 0.03, kw.pop("text", "Returns within 15 days."), **kw)


def test_coverage_reads_each_list_as_far_as_the_fusion_heard_it():
    s = config.Settings()
    chinese_on_minilm = kbfusion.for_query("退货期限是多久？", EN_MODEL)
    english = kbfusion.for_query("How long is the return period?", EN_MODEL)
    # MiniLM scores Chinese text ~0.6 whatever it says: not evidence when it could not read the question
    assert not sources.covered([hit(dense_score=0.62, sparse_score=None, weights=chinese_on_minilm)], s)
    assert sources.covered([hit(dense_score=0.62, sparse_score=4.0, weights=chinese_on_minilm)], s)
    assert sources.covered([hit(dense_score=0.62, weights=english)], s)
    # a BM25 match alone barely moves a fusion led by the dense list, so it does not vouch either
    assert not sources.covered([hit(dense_score=0.1, sparse_score=9.0, weights=english)], s)
    # e5's similarities sit high: its own bar
    e5 = kbfusion.for_query("退货期限是多久？", MULTI)
    assert not sources.covered([hit(dense_score=0.8, weights=e5, embed_model=config.BUILTIN_EMBEDDINGS[1])], s)
    assert sources.covered([hit(dense_score=0.9, weights=e5, embed_model=config.BUILTIN_EMBEDDINGS[1])], s)
    # one list alone (dense or BM25 search mode)
    assert sources.covered([hit(dense_score=0.5)], s) and not sources.covered([hit(sparse_score=1.0)], s)
    assert not sources.covered([], s)


def test_a_citation_marks_the_sentence_of_a_long_chunk_that_backs_the_claim():
    chunk = ("Returns are accepted within 15 days of delivery. Opened kettles are refunded at 80%. "
             "Shipping is free over 99 yuan.")
    hits = [hit(text=chunk), hit(text="E3 means the kettle is empty.")]
    answer = "Opened kettles get 80% back [1]. The kettle shows E3 when empty."
    marks = sources.backing(answer, hits)
    assert marks == {1: {"Opened kettles are refunded at 80%."}}  # a one-sentence chunk is its own line
    block = sources.sources_block(hits, answer=answer)
    assert "<mark>Opened kettles are refunded at 80%.</mark>" in block
    assert block.count("<mark>") == 1 and "<mark>Returns" not in block
    zh = [hit(text="水壶两年内免费保修。人为损坏不在保修范围内。")]
    assert sources.backing("人为损坏不保修 [1]。", zh) == {1: {"人为损坏不在保修范围内。"}}
    assert sources.backing("", hits) == {} and sources.backing("Unrelated words here [9].", hits) == {}


def test_the_built_in_multilingual_model_reads_chinese_offline():
    from studio import kbe5

    emb, tok, limit, langs = kbe5.load()
    assert limit == 512 and langs == {"multilingual"} and len(tok.encode("床前明月光")) >= 5
    q = emb.get_query_embedding("哪首诗写夜里看见月光而想念家乡？")
    poems = emb.get_text_embedding_batch(["床前明月光，疑是地上霜。举头望明月，低头思故乡。",
                                          "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"])
    sims = [sum(a * b for a, b in zip(q, p)) for p in poems]
    assert len(q) == 384 and sims[0] > sims[1]
