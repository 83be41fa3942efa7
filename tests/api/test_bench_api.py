"""The Deploy tab's benchmark button: a real (small) run as a job, vLLM vs transformers and prefix
caching on vs off, shown beside the primer's claims."""
import re

import pytest
from gradio_client import Client

from tests.conftest import wait_for

pytestmark = [pytest.mark.api, pytest.mark.integration]


def test_benchmark_button_runs_a_job_and_shows_measured_ratios(studio):
    studio.start()
    c = Client(studio.url, verbose=False, analytics_enabled=False)
    assert "No benchmark yet" in c.predict(api_name="/benchmark_status")
    with pytest.raises(Exception, match="less than minimum value 1"):
        c.predict(0, 8, api_name="/benchmark")
    first = c.predict(4, 8, api_name="/benchmark")
    assert "running" in first
    with pytest.raises(Exception, match="already running"):
        c.predict(4, 8, api_name="/benchmark")
    wait_for(lambda: re.search("measured on this machine|failed|lost",
                               c.predict(api_name="/benchmark_status")),
             timeout=900, every=5, what="the benchmark to finish")
    table = c.predict(api_name="/benchmark_status")
    assert "measured on this machine" in table, table
    ratios = [float(x) for x in re.findall(r"\*\*([\d.]+)×\*\*", table)]
    assert len(ratios) == 3 and all(r > 0 for r in ratios), table
    assert "10-15×" in table  # the primer's claim, beside the measurement
    # The servers it started are gone with it.
    from studio.jobs import JobStore

    inner = next((studio.home / "jobs").glob("bench-*")) / "jobs"
    assert all(j.status != "running" for j in JobStore(inner).list())
