import pytest

from studio import formats

CHAT = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                           {"from": "human", "value": "Warranty?"}, {"from": "gpt", "value": "2 years"}],
         "system": "Be brief."}]


def test_detects_each_format():
    assert formats.detect([{"instruction": "q", "output": "a"}]) == "alpaca"
    assert formats.detect(CHAT) == "sharegpt"
    assert formats.detect([{"messages": []}]) == "openai"
    with pytest.raises(formats.FormatError, match="Unknown format"):
        formats.detect([{"question": "q"}])


def test_reads_json_jsonl_and_wrapped_lists(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"instruction": "q", "output": "a"}\n\n{"instruction": "q2", "output": "b"}\n')
    assert formats.read(tmp_path / "a.jsonl") == ("alpaca", [{"instruction": "q", "output": "a"},
                                                             {"instruction": "q2", "output": "b"}])
    (tmp_path / "w.json").write_text('{"data": [{"messages": [{"role": "user", "content": "x"}]}]}')
    assert formats.read(tmp_path / "w.json")[0] == "openai"
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(formats.FormatError, match="line 1"):
        formats.read(tmp_path / "bad.json")


def test_csv_with_a_column_mapping(tmp_path):
    f = tmp_path / "faq.csv"
    f.write_text("question,answer\n退货期限？,15天\nWarranty?,Two years\n", encoding="utf-8")
    with pytest.raises(formats.FormatError, match="Map the CSV columns"):
        formats.read(f)
    fmt, recs = formats.read(f, {"instruction": "question", "output": "answer"})
    assert fmt == "alpaca" and recs[0] == {"instruction": "退货期限？", "input": "", "output": "15天"}


def test_chat_table_round_trip_keeps_system_and_turns():
    rows = formats.to_table("sharegpt", CHAT)
    assert rows[0] == ["1", "system", "Be brief."] and rows[1] == ["1", "user", "Hi"]
    assert formats.from_table("sharegpt", rows) == CHAT


def test_conversions():
    alpaca = [{"instruction": "Q", "input": "ctx", "output": "A"}]
    openai = formats.convert("alpaca", alpaca, "openai")
    assert openai == [{"messages": [{"role": "user", "content": "Q\nctx"},
                                    {"role": "assistant", "content": "A"}]}]
    assert formats.convert("openai", openai, "sharegpt")[0]["conversations"][1] == {"from": "gpt", "value": "A"}
    with pytest.raises(formats.FormatError, match="Conversation 1 has 4 messages"):
        formats.convert("sharegpt", CHAT, "alpaca")


def test_chat_checks_name_the_row_and_problem():
    bad = [{"messages": [{"role": "assistant", "content": "Hi"}, {"role": "bot", "content": "x"},
                         {"role": "user", "content": ""}]}]
    problems = formats.check("openai", bad)
    assert (1, "conversation 1: expected a user message here (roles must alternate, starting with user)") in problems
    assert any(r == 2 and "unknown role 'bot'" in m for r, m in problems)
    assert any(r == 3 and "empty user message" in m for r, m in problems)
    assert any("must end with an assistant answer" in m for _, m in problems)
    assert formats.check("sharegpt", CHAT) == []


def test_alpaca_checks():
    rows = [{"instruction": "Q1", "input": "", "output": "A1"}, {"instruction": "", "output": "A2"},
            {"instruction": "Q3", "output": " "}, {"instruction": "Q1", "input": "", "output": "again"}]
    problems = formats.check("alpaca", rows)
    assert (2, "instruction is empty") in problems
    assert any(i == 3 and "output is empty" in m for i, m in problems)
    assert any(i == 4 and "row 1" in m for i, m in problems)
    assert formats.check("alpaca", []) == [(0, "the dataset has no rows")]
