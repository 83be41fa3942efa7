"""The reliability suite: bad inputs (each answered with a message that names the problem and the
way out, nothing written, nothing lost) and injected faults (each ending in a true job state,
every earlier version of a file intact, an app that starts). It prints its count at the end."""
from __future__ import annotations

_seen = {"bad_input": [0, 0], "fault": [0, 0]}  # passed, run


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for kind in _seen:
        if kind in report.keywords:
            _seen[kind][1] += 1
            _seen[kind][0] += report.passed


def pytest_terminal_summary(terminalreporter):
    bad, fault = _seen["bad_input"], _seen["fault"]
    if bad[1] or fault[1]:
        terminalreporter.write_line(
            f"reliability: {bad[0]} of {bad[1]} bad inputs answered with a clear message and nothing "
            f"lost; {fault[0]} of {fault[1]} faults survived")
