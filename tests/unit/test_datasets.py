import json

import pytest

from studio import datasets


def test_sample_dataset_is_installed_valid_and_registered(settings):
    assert datasets.SAMPLE_NAME in datasets.list_names(settings)
    rows = datasets.load(settings, datasets.SAMPLE_NAME)
    assert len(rows) >= 30
    assert datasets.validate(rows) == []
    info = json.loads((datasets.folder(settings) / "dataset_info.json").read_text())
    assert info[datasets.SAMPLE_NAME]["file_name"] == f"{datasets.SAMPLE_NAME}.json"
    assert info[datasets.SAMPLE_NAME]["columns"]["prompt"] == "instruction"


def test_validation_names_the_row_and_the_problem():
    rows = [{"instruction": "Q1", "input": "", "output": "A1"},
            {"instruction": "", "input": "", "output": "A2"},
            {"instruction": "Q3", "input": "", "output": "  "},
            {"instruction": "Q1", "input": "", "output": "again"}]
    problems = datasets.validate(rows)
    assert (2, "instruction is empty") in problems
    assert any(i == 3 and "output is empty" in m for i, m in problems)
    assert any(i == 4 and "row 1" in m for i, m in problems)
    assert datasets.validate([]) == [(0, "the dataset has no rows")]


def test_normalise_accepts_table_rows_and_drops_blank_lines():
    rows = datasets.normalise([["Q", None, "A"], [None, None, None], ["Q2", "ctx", "A2", "extra"]])
    assert rows == [{"instruction": "Q", "input": "", "output": "A"},
                    {"instruction": "Q2", "input": "ctx", "output": "A2"}]


def test_save_keeps_previous_versions(settings):
    name = "mine"
    datasets.save(settings, name, [["Q", "", "A"]])
    datasets.save(settings, name, [["Q", "", "A"], ["Q2", "", "B"]])
    datasets.save(settings, name, [["Q3", "", "C"]])
    assert datasets.load(settings, name) == [{"instruction": "Q3", "input": "", "output": "C"}]
    old = [json.loads(p.read_text()) for p in datasets.versions(settings, name)]
    assert len(old) == 2 and len(old[0]) == 2 and len(old[1]) == 1
    assert name in json.loads((datasets.folder(settings) / "dataset_info.json").read_text())


def test_invalid_data_is_refused_and_nothing_is_written(settings):
    before = (datasets.folder(settings) / f"{datasets.SAMPLE_NAME}.json").read_bytes()
    with pytest.raises(datasets.DatasetError, match="row 2: output is empty"):
        datasets.save(settings, datasets.SAMPLE_NAME, [["Q", "", "A"], ["Q2", "", ""]])
    assert (datasets.folder(settings) / f"{datasets.SAMPLE_NAME}.json").read_bytes() == before
    assert datasets.versions(settings, datasets.SAMPLE_NAME) == []


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "x" * 65, ".hidden"])
def test_dataset_names_cannot_escape_the_folder(settings, bad):
    with pytest.raises(datasets.DatasetError):
        datasets.save(settings, bad, [["Q", "", "A"]])


def test_loading_a_broken_file_says_where(settings):
    (datasets.folder(settings) / "broken.json").write_text('[{"instruction": "x",')
    with pytest.raises(datasets.DatasetError, match="not valid JSON"):
        datasets.load(settings, "broken")
    with pytest.raises(datasets.DatasetError, match="no dataset named"):
        datasets.load(settings, "missing")
