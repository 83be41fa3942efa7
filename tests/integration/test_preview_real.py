"""Rows rendered through LLaMA-Factory's own template and processor (in the train environment)."""
import ast
import re

import pytest

from studio import datasets, formats, preview

pytestmark = pytest.mark.integration


def test_preview_matches_what_the_training_job_printed(trained):
    s, _store, job = trained
    fmt, records = datasets.load(s, datasets.SAMPLE_NAME)
    [row] = preview.render(s, fmt, records, [0], cutoff_len=128)
    # LLaMA-Factory prints its first tokenised example; the preview must be that same example.
    log = job.log_tail(400_000)
    input_ids = ast.literal_eval(re.search(r"^input_ids:\n(\[.*?\])$", log, re.M).group(1))
    label_ids = ast.literal_eval(re.search(r"^label_ids:\n(\[.*?\])$", log, re.M).group(1))
    assert row["kept"] == len(input_ids)
    assert row["trained"] == sum(1 for x in label_ids if x != -100)
    trained_text = "".join(t for t, on in row["segments"] if on)
    assert trained_text.startswith("Qinghe Appliances is a small home-appliance maker")
    masked_text = "".join(t for t, on in row["segments"] if not on)
    assert "<|im_start|>user\nWhat is Qinghe Appliances?" in masked_text


def test_chat_rows_train_every_answer_and_truncate_at_cutoff(settings):
    chat = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                          {"role": "user", "content": "Warranty?"},
                          {"role": "assistant", "content": "Two years."}]}]
    [row] = preview.render(settings, "openai", chat, [0], cutoff_len=2048)
    trained = [t for t, on in row["segments"] if on]
    assert len(trained) == 2 and "Hello!" in trained[0] and "Two years." in trained[1]
    [short] = preview.render(settings, "openai", chat, [0], cutoff_len=16, with_segments=False)
    assert short["length"] == row["length"] and short["kept"] <= 16
    assert preview.over_cutoff([short], 16)[0][0] == 1
    st = preview.stats("openai", chat + chat, [row, row])
    assert st["duplicates"] == 1 and st["tokens_max"] == row["length"]


def test_a_broken_template_request_is_a_clear_error(settings):
    with pytest.raises(preview.PreviewError, match="could not render"):
        preview.render(settings, "alpaca", [{"no": "fields"}], [0], 64)
    assert formats.check("alpaca", [{"no": "fields"}])  # the editor's check catches it first


def test_a_whole_dataset_renders_in_the_background_with_progress(settings):
    rows = [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(450)]
    seen = []
    run = preview.start(settings, "alpaca", rows, list(range(len(rows))), 64, with_segments=False)
    # Asked again while it runs (a second click, a reloaded page): the same run, not a second one.
    assert preview.start(settings, "alpaca", rows, list(range(len(rows))), 64, with_segments=False) is run
    rendered = preview.wait(run, lambda done, total: seen.append((done, total)), every=0.05)
    assert len(rendered) == 450 and run["done"] == run["total"] == 450
    # Followed while it ran (loading LLaMA-Factory takes seconds), counting up to the rows asked.
    assert seen and [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][1] == 450
    # A run that failed is tried afresh; its error is the renderer's, in words.
    bad = preview.start(settings, "alpaca", [{"no": "fields"}], [0], 64)
    with pytest.raises(preview.PreviewError, match="could not render"):
        preview.wait(bad)
    assert preview.start(settings, "alpaca", [{"no": "fields"}], [0], 64) is not bad
