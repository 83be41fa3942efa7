"""The Dataset tab's actions through gradio_client: import with a column mapping, check with the
cutoff, preview through the training template, statistics, export, versions."""
import pytest
from gradio_client import Client, handle_file

pytestmark = [pytest.mark.api, pytest.mark.integration]


def test_dataset_tab_actions(studio, tmp_path):
    c = Client(studio.start().url, verbose=False, analytics_enabled=False)
    csv = tmp_path / "faq.csv"
    csv.write_text("question,answer\nHow long is the warranty?,Two years.\n退货期限？,\n",
                   encoding="utf-8")
    table, fmt, save_as, report = c.predict(handle_file(str(csv)), "instruction=question, output=answer",
                                            api_name="/import_dataset")
    assert fmt == "alpaca" and len(table["data"]) == 2
    assert save_as == "faq"  # the file's name, not the dataset loaded before: Save overwrites nothing
    assert "Imported 2 rows" in report and "row 2: output is empty" in report
    table["data"][1][2] = "15天。"
    assert "no problems" in c.predict(table, "alpaca", 256, api_name="/check_dataset")
    assert "over the cutoff of 16" in c.predict(table, "alpaca", 16, api_name="/check_dataset")

    spans, counts = c.predict(table, "alpaca", 1, 256, api_name="/preview_row")
    labels = {d["class_or_confidence"] for d in spans} if isinstance(spans, list) else \
        {d["class_or_confidence"] for d in spans["value"]}
    assert labels == {"trained", "masked"} and "are trained" in counts
    counts, hist = c.predict(table, "alpaca", 256, api_name="/dataset_stats")
    assert counts.startswith("2 rows (alpaca)") and "0 exact duplicates" in counts

    c.predict(table, "alpaca", "faq", api_name="/save_dataset")
    chat = c.predict(table, "openai", api_name="/convert_dataset")  # from the session's format
    assert chat["headers"] == ["conversation", "role", "content"] and len(chat["data"]) == 4
    c.predict(chat, "openai", "faq", api_name="/save_dataset")
    table, fmt, name, _, versions = c.predict("faq", api_name="/load_dataset")
    assert fmt == "openai" and len(versions["choices"]) == 1
    table, fmt, *_ = c.predict("faq", versions["choices"][0][1], api_name="/restore_version")
    assert fmt == "alpaca"
    path = c.predict("faq", "sharegpt", "jsonl", api_name="/export_dataset")
    assert open(path, encoding="utf-8").read().count('"conversations"') == 2
