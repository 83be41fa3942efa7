from studio import chat
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
    assert msgs[0]["role"] == "system"
    assert "[1] (policy.md (chunk 2))\nReturns within 15 days." in msgs[0]["content"]
    assert "[2] (manual.pdf (p.3, chunk 1))" in msgs[0]["content"]
    assert msgs[1:] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                        {"role": "user", "content": "How long to return?"}]
    block = chat.sources_block(hits)
    assert "[1] policy.md (chunk 2)" in block and "[2] manual.pdf (p.3, chunk 1)" in block


def test_without_retrieval_there_are_no_sources():
    msgs = chat.build_messages([], "hi", [])
    assert msgs[0]["content"] == chat.SYSTEM and chat.sources_block([]) == ""


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
    assert msgs[0]["content"].startswith("You are Qinghe's assistant.\n\nAnswer the question using only")
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
