"""Said: a service's message in English and Chinese; pick gives the page the one it asks for."""
import copy
import pickle

from studio import formats, words
from studio.words import Said, join, pick


def test_a_said_reads_as_its_english_and_carries_its_chinese():
    s = Said("Type a question first.", "请先输入问题。")
    assert s == "Type a question first." and isinstance(s, str) and s.zh == "请先输入问题。"
    assert f"{s}" == "Type a question first." and "question" in s
    assert pick(s, zh=True) == "请先输入问题。" and pick(s, zh=False) == "Type a question first."
    for back in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert back == s and back.zh == s.zh


def test_an_exception_gives_its_said_though_str_drops_it():
    e = ValueError(Said("Batch size must be between 1 and 1024.", "批大小必须在 1 到 1024 之间。"))
    assert str(e) == "Batch size must be between 1 and 1024." and not isinstance(str(e), Said)
    assert pick(e, True) == "批大小必须在 1 到 1024 之间。"
    assert pick(e, False) == "Batch size must be between 1 and 1024."


def test_plain_text_and_other_exceptions_stay_as_they_are():
    assert pick("a library's own words", True) == "a library's own words"
    assert pick(KeyError("x"), True) == "'x'"  # str(e), as before
    assert pick(OSError(28, "No space left on device"), True) == "[Errno 28] No space left on device"
    assert pick(RuntimeError(), True) == "" and pick(None, False) == "None"


def test_lists_and_joins_keep_both_languages():
    a, b = Said("instruction is empty", "instruction 为空"), "plain"
    assert pick([a, b], True) == ["instruction 为空", "plain"]
    j = join("; ", [a, b], "；")
    assert j == "instruction is empty; plain" and j.zh == "instruction 为空；plain"
    assert words.zh(a) == "instruction 为空" and words.zh(7) == "7"


def test_a_message_inside_another_keeps_its_chinese(settings):
    from studio import datasets

    (datasets.folder(settings) / "broken.json").write_text("[")
    try:
        datasets.load(settings, "broken")
    except datasets.DatasetError as e:
        assert str(e).startswith("broken.json: broken.json is not valid JSON (line 1)")
        assert pick(e, True).startswith("broken.json：broken.json 不是有效的 JSON（第 1 行）")
    else:
        raise AssertionError("a broken file loaded")
    problems = formats.check("alpaca", [{"instruction": "", "input": "", "output": "a"}])
    assert problems == [(1, "instruction is empty")] and problems[0][1].zh == "instruction 为空"
