import json

import pytest

from studio import datasets, formats


def A(*rows):
    return [dict(zip(formats.ALPACA, r)) for r in rows]


def test_sample_dataset_is_installed_valid_and_registered(settings):
    assert datasets.SAMPLE_NAME in datasets.list_names(settings)
    fmt, rows = datasets.load(settings, datasets.SAMPLE_NAME)
    assert fmt == "alpaca" and len(rows) >= 30
    assert formats.check(fmt, rows) == []
    info = json.loads((datasets.folder(settings) / "dataset_info.json").read_text())
    assert info[datasets.SAMPLE_NAME]["file_name"] == f"{datasets.SAMPLE_NAME}.json"
    assert info[datasets.SAMPLE_NAME]["columns"]["prompt"] == "instruction"


def test_save_keeps_previous_versions_and_restores_them(settings):
    datasets.save(settings, "mine", "alpaca", A(("Q", "", "A")))
    datasets.save(settings, "mine", "alpaca", A(("Q", "", "A"), ("Q2", "", "B")))
    datasets.save(settings, "mine", "alpaca", A(("Q3", "", "C")))
    assert datasets.load(settings, "mine") == ("alpaca", A(("Q3", "", "C")))
    old = datasets.versions(settings, "mine")
    assert [len(json.loads(p.read_text())) for p in old] == [2, 1]
    datasets.restore(settings, "mine", old[1].name)
    assert datasets.load(settings, "mine") == ("alpaca", A(("Q", "", "A")))
    assert len(datasets.versions(settings, "mine")) == 3  # the replaced one was kept too
    with pytest.raises(datasets.DatasetError, match="not a saved version"):
        datasets.restore(settings, "mine", "nope.json")


def test_chat_datasets_register_with_their_tags(settings):
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]
    datasets.save(settings, "chatty", "openai", chat)
    info = json.loads((datasets.folder(settings) / "dataset_info.json").read_text())["chatty"]
    assert info["formatting"] == "sharegpt" and info["columns"] == {"messages": "messages"}
    assert info["tags"]["role_tag"] == "role"
    assert datasets.load(settings, "chatty") == ("openai", chat)


def test_invalid_data_is_refused_and_nothing_is_written(settings):
    before = (datasets.folder(settings) / f"{datasets.SAMPLE_NAME}.json").read_bytes()
    with pytest.raises(datasets.DatasetError, match="row 2: output is empty"):
        datasets.save(settings, datasets.SAMPLE_NAME, "alpaca", A(("Q", "", "A"), ("Q2", "", "")))
    assert (datasets.folder(settings) / f"{datasets.SAMPLE_NAME}.json").read_bytes() == before
    assert datasets.versions(settings, datasets.SAMPLE_NAME) == []


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "x" * 65, ".hidden"])
def test_dataset_names_cannot_escape_the_folder(settings, bad):
    with pytest.raises(datasets.DatasetError):
        datasets.save(settings, bad, "alpaca", A(("Q", "", "A")))


def test_loading_a_broken_file_says_where(settings):
    (datasets.folder(settings) / "broken.json").write_text('[{"instruction": "x",')
    with pytest.raises(datasets.DatasetError, match="not valid JSON"):
        datasets.load(settings, "broken")
    with pytest.raises(datasets.DatasetError, match="no dataset named"):
        datasets.load(settings, "missing")


@pytest.mark.parametrize("to,kind", [("sharegpt", "json"), ("openai", "jsonl"), ("alpaca", "csv")])
def test_export_round_trips_through_import(settings, to, kind):
    path = datasets.export(settings, datasets.SAMPLE_NAME, to, kind)
    assert path.parent == settings.home / "exports"
    fmt, records = formats.read(path)
    assert fmt == to
    _, original = datasets.load(settings, datasets.SAMPLE_NAME)
    assert len(records) == len(original) and formats.check(fmt, records) == []
