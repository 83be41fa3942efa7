from studio import chat, config, sources
from studio.knowledge import Hit


def test_text_of_accepts_gradio6_parts():
    assert chat.text_of([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "ab"
    assert chat.text_of("plain") == "plain" and chat.text_of(None) == ""


def test_messages_carry_history_and_numbered_sources():
    hits = [Hit("policy.md", 2, "", 0.8, "Returns within 15 days."),
            Hit("manual.pdf", 1, "3", 0.5, "E3 means no water.")]
    history = [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
               {"role": "assistant", "content": "hello"}]
    msgs = chat.build_messages(history, "How long to return?", hits)
    assert msgs[0] == {"role": "system", "content": chat.SYSTEM}
    assert msgs[1:3] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert msgs[3]["content"] == ("Returns within 15 days.\n\nE3 means no water.\n\n"
                                  "Answer from the text above: How long to return?")
    block = sources.sources_block(hits)
    assert "[1] policy.md (chunk 2)" in block and "[2] manual.pdf (p.3, chunk 1)" in block
    zh = sources.sources_block(hits, zh=True)
    assert "[1] policy.md（第 2 块）" in zh and "[2] manual.pdf（第 3 页，第 1 块）" in zh and "chunk" not in zh


def test_without_retrieval_there_are_no_sources():
    msgs = chat.build_messages([], "hi", [])
    assert msgs[0]["content"] == chat.SYSTEM and sources.sources_block([]) == ""


def test_unreachable_server_is_a_clear_error():
    import pytest

    with pytest.raises(chat.ChatError, match="Cannot reach"):
        list(chat.stream("http://127.0.0.1:9/v1", "m", [{"role": "user", "content": "x"}]))


def test_endpoint_errors_read_as_advice():
    assert "check the key" in chat.explain(401, "Unauthorized")
    assert "overloaded" in chat.explain(503, "busy")
    assert "longer than the model's context" in chat.explain(400, "This model's maximum context length is 2048")
    assert "(418)" in chat.explain(418, "teapot")


def test_system_prompt_leads_and_exports_keep_the_conversation():
    hits = [Hit("policy.md", 1, "", 0.9, "Returns within 15 days.")]
    msgs = chat.build_messages([], "Return?", hits, system="You are Qinghe's assistant.")
    assert msgs[0]["content"] == "You are Qinghe's assistant."
    assert msgs[-1]["content"] == "Returns within 15 days.\n\nAnswer from the text above: Return?"
    assert chat.build_messages([], "退货？", hits)[-1]["content"].endswith("\n\n请根据上面的内容回答：退货？")
    history = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
               {"role": "assistant", "content": "Hello!"}]
    assert "**You**:\n\nHi" in chat.to_markdown(history)
    assert '"content": "Hello!"' in chat.to_json(history)


def test_streamed_answers_reach_the_page_less_often_when_many_stream_at_once():
    from studio.chat import Pacer

    pacer = Pacer(0.1, per=8)
    assert pacer.interval() == 0.1
    streams = [pacer.streaming() for _ in range(32)]
    for s in streams[:8]:
        s.__enter__()
    assert pacer.interval() == 0.1  # up to 8 at once: every 0.1 s
    for s in streams[8:]:
        s.__enter__()
    assert pacer.interval() == 0.4  # 32 at once: every 0.4 s
    for s in streams:
        s.__exit__(None, None, None)
    assert pacer.active == 0 and pacer.interval() == 0.1


def test_earlier_answers_go_back_without_the_studios_sources_and_warnings():
    hits = [Hit("policy.md", 1, "", 0.9, "Returns within 15 days.")]
    said = "Within 15 days [1]." + sources.sources_block(hits, config.Settings(rag_low_score=0.99), asked=True)
    assert "Sources:" in said and "⚠️" in said
    msgs = chat.build_messages([{"role": "user", "content": "Return?"},
                                {"role": "assistant", "content": said}], "And opened ones?", None)
    assert msgs[2] == {"role": "assistant", "content": "Within 15 days [1]."}


def test_sentences_that_restate_a_source_get_its_number():
    hits = [Hit("a.md", 0, "", 1, "Capacity 1.7 litres. Every product has a two-year warranty."),
            Hit("b.md", 1, "", 1, "Return any unused product within 15 days of delivery. 签收后15天内，未使用的商品可以全额退款。")]
    assert chat.cite("You can return an unused product within 15 days of delivery. Thanks!", hits) == \
        "You can return an unused product within 15 days of delivery [2]. Thanks!"
    assert chat.cite("签收后15天内可以全额退款。祝您愉快", hits) == "签收后15天内可以全额退款 [2]。祝您愉快"
    assert chat.cite("The capacity is 1.7 litres.", hits) == "The capacity is 1.7 litres [1]."
    assert chat.cite("It holds 1.7 litres [2].", hits) == "It holds 1.7 litres [2]."  # the model's own mark stays
    assert chat.grounded("You may return it within 15 days of delivery.", hits)
    assert not chat.grounded("Return within 2 weeks after the order date.", hits)


MANUAL = ("Qinghe K2 smart kettle: user manual\n\nSpecifications. Capacity 1.7 litres. Power 1800 watts "
          "at 220 volts.\n\nError codes. E2: the water is above 110 degrees. E3: the kettle was switched on "
          "with no water.")
POLICY = "# Policies\n\n签收后15天内，未使用的商品可以全额退款。已拆封但功能正常的商品需收取10%的折旧费。"


def test_a_small_model_is_handed_the_sentences_closest_to_the_question():
    # The fact's own line comes first; titles, headings and labels ("Error codes.") never do.
    assert chat.evidence("My kettle shows E3, what is wrong?", [MANUAL], 1) == [
        "E3: the kettle was switched on with no water."]
    assert chat.evidence("What is the capacity of the K2 kettle?", [MANUAL], 1) == ["Capacity 1.7 litres."]
    # From a lower-ranked chunk too, in Chinese, and word forms ("returned"/"return") meet.
    assert chat.evidence("已经拆封的东西退货要扣多少？", [MANUAL, POLICY], 1) == [
        "已拆封但功能正常的商品需收取10%的折旧费。"]
    assert chat.evidence("Can opened items be returned?", ["Opened items can be returned. Power 1800 watts."], 1) \
        == ["Opened items can be returned."]
    # Nothing sentence-like: the best chunk as it is.
    assert chat.evidence("what?", ["# Title only"], 2) == ["# Title only"]


def test_the_prompt_carries_whole_chunks_or_their_closest_sentences():
    hits = [Hit("manual.txt", 0, "", 0.9, MANUAL)]
    whole = chat.build_messages([], "What does E3 mean?", hits)[-1]["content"]
    short = chat.build_messages([], "What does E3 mean?", hits, sentences=2)[-1]["content"]
    assert "Capacity 1.7 litres" in whole and "Capacity 1.7 litres" not in short
    assert short.startswith("E3: the kettle was switched on with no water.")
    assert short.endswith("Answer from the text above: What does E3 mean?")


def test_sentences_by_model_size_unless_set(tmp_path):
    from studio import config

    s = config.load(home=tmp_path)
    assert chat.prompt_sentences(s, None) == 0  # an external endpoint: size unknown, whole chunks
    tiny = config.REPO / "studio_data" / "models" / s.default_model
    if tiny.exists():
        assert chat.prompt_sentences(s, tiny) == chat.SMALL_MODEL_SENTENCES
    assert chat.prompt_sentences(config.load(home=tmp_path, rag_prompt_sentences=-1), tiny) == 0
    assert chat.prompt_sentences(config.load(home=tmp_path, rag_prompt_sentences=3), None) == 3
