from studio import postmortem


def test_out_of_memory_maps_to_concrete_fixes():
    log = "step 1\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
    f = postmortem.diagnose(log, 1)
    assert f.cause == "Out of memory." and "CUDA out of memory" in f.evidence
    assert any("batch size" in x for x in f.fixes) and any("QLoRA" in x for x in f.fixes)


def test_killed_without_a_message_is_explained():
    f = postmortem.diagnose("loading...\n", -9)
    assert "killed" in f.cause and "9" in f.cause


def test_dataset_and_disk_and_template_problems():
    assert "dataset" in postmortem.diagnose("ValueError: Cannot find valid samples", 1).cause
    assert "disk" in postmortem.diagnose("OSError: [Errno 28] No space left on device", 1).cause
    assert "template" in postmortem.diagnose("ValueError: Template foo does not exist.", 1).cause


def test_unknown_failures_show_the_last_error_line():
    f = postmortem.diagnose("ok\nRuntimeError: something odd\nshutting down\n", 1)
    assert f.evidence == "RuntimeError: something odd" and f.fixes == ()
    assert postmortem.diagnose("", 0) is None
