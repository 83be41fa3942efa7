"""The banner above the tabs, in a real browser, in English and Chinese: on a Space whose data
root is its own disk, the page says that everything is lost at the next restart."""
import shutil

import pytest

from studio.core import runtime
from tests.conftest import RunningStudio, unmounted_dir
from tests.e2e.test_journey_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def studio_on_its_own_disk(tmp_path, models_dir):
    """The studio with a data root on the root filesystem, as a Space without a bucket has."""
    home = unmounted_dir(tmp_path)
    assert not runtime.on_mount(home)
    app = RunningStudio(home, models_dir)
    yield app
    app.kill()
    app.stop_all_jobs()
    if home.parent != tmp_path:
        shutil.rmtree(home, ignore_errors=True)


def test_a_space_without_a_bucket_is_told_in_its_language(studio_on_its_own_disk, browser):  # noqa: F811
    from playwright.sync_api import expect

    studio = studio_on_its_own_disk
    studio.start(env={"SPACE_ID": "someone/llm-studio"})
    for locale, words in (("en-US", "Everything here is lost when the Space restarts"),
                          ("zh-CN", "Space 重启后这里的一切都会丢失")):
        page = browser(locale).new_page()
        page.goto(studio.url)
        banner = page.locator("#notices")
        expect(banner).to_contain_text(words, timeout=30_000)
        expect(banner).to_contain_text(str(studio.home))
        page.close()
    # Elsewhere (a laptop) there is nothing to say and no banner.
    studio.kill()
    studio.start()
    page = browser("en-US").new_page()
    page.goto(studio.url)
    expect(page.get_by_text("SmolLM2-135M-Instruct").first).to_be_visible(timeout=30_000)
    expect(page.locator("#notices")).to_be_hidden()
