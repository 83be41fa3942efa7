from studio import postmortem


def test_out_of_memory_maps_to_concrete_fixes():
    log = "step 1\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
    f = postmortem.diagnose(log, 1)
    assert f.cause == "Out of memory." and "CUDA out of memory" in f.evidence
    assert any("batch size" in x for x in f.fixes) and any("QLoRA" in x for x in f.fixes)


def test_killed_without_a_message_is_explained():
    f = postmortem.diagnose("loading...\n", -9)
    assert "stopped from outside" in f.cause and "9" in f.cause


def test_dataset_and_disk_and_template_problems():
    assert "dataset" in postmortem.diagnose("ValueError: Cannot find valid samples", 1).cause
    assert "disk" in postmortem.diagnose("OSError: [Errno 28] No space left on device", 1).cause
    assert "template" in postmortem.diagnose("ValueError: Template foo does not exist.", 1).cause


def test_unknown_failures_show_the_last_error_line():
    f = postmortem.diagnose("ok\nRuntimeError: something odd\nshutting down\n", 1)
    assert f.evidence == "RuntimeError: something odd" and f.fixes == ()
    assert postmortem.diagnose("", 0) is None


def test_a_harmless_warning_early_in_the_log_is_not_the_cause():
    log = ("[WARNING] No chat template is set for this tokenizer, falling back to a default.\n"
           + "step\n" * 200 + "Traceback (most recent call last):\n  File x\n"
           "OSError: [Errno 28] No space left on device\n")
    f = postmortem.diagnose(log, 1)
    assert f.cause == "The disk is full." and "Errno 28" in f.evidence
    # the warning alone, then a kill -9: the kill is the cause, not the template
    f = postmortem.diagnose("No chat template is set\n" + "step 3/27\n" * 100, -9)
    assert "signal 9 (SIGKILL)" in f.cause and "person or program" in f.cause
    assert any("resume" in x for x in f.fixes)


def test_the_cause_nearest_the_end_wins_and_chinese_is_offered():
    log = "Traceback (most recent call last):\nKeyError: 'output'\nCUDA out of memory. Tried\n"
    assert postmortem.diagnose(log, 1).cause == "Out of memory."
    f = postmortem.diagnose(log, 1, lang="zh")
    assert f.cause == "内存（显存）不足。" and all(not x.isascii() for x in f.fixes)
    assert "信号 15（SIGTERM）" in postmortem.diagnose("", -15, lang="zh").cause
