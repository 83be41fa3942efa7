"""Signing in, in a real browser, in English and Chinese, on a studio open to the network; and
the warning when it is opened without sign-in on purpose."""
import pytest

from studio.core import auth
from tests.e2e.test_journey_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.e2e]
SHOTS = "docs"


def test_a_browser_signs_in_and_out_in_its_language(studio, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    studio.start(env={"STUDIO_HOST": "0.0.0.0", "STUDIO_USERS": f"alice:{auth.hash_password('tea-garden-42')}"})
    for locale, words in (("en-US", {"name": "User name", "password": "Password", "go": "Sign in",
                                     "wrong": "Wrong user name or password", "in": "Signed in as",
                                     "out": "Sign out", "tab": "1 · Models"}),
                          ("zh-CN", {"name": "用户名", "password": "密码", "go": "登录",
                                     "wrong": "用户名或密码错误", "in": "已登录", "out": "退出登录",
                                     "tab": "1 · 模型"})):
        page = browser(locale).new_page()
        page.goto(studio.url)
        expect(page).to_have_url(studio.url + "signin?next=/")
        page.get_by_label(words["name"]).fill("alice")
        page.get_by_label(words["password"]).fill("not-the-password")
        page.get_by_role("button", name=words["go"]).click()
        expect(page.get_by_role("alert")).to_contain_text(words["wrong"])
        page.get_by_label(words["name"]).fill("alice")
        page.get_by_label(words["password"]).fill("tea-garden-42")
        page.screenshot(path=str(tmp_path / f"signin-{locale}.png"))
        page.get_by_role("button", name=words["go"]).click()
        expect(page.locator("#account")).to_contain_text(f"{words['in']}", timeout=30_000)
        expect(page.locator("#account")).to_contain_text("alice")
        expect(page.get_by_role("tab", name=words["tab"])).to_be_visible()
        page.screenshot(path=str(tmp_path / f"signed-in-{locale}.png"))
        page.locator("#account").get_by_role("link", name=words["out"]).click()
        expect(page.get_by_role("button", name=words["go"])).to_be_visible()
        page.goto(studio.url)
        expect(page).to_have_url(studio.url + "signin?next=/")
        page.close()


def test_opened_without_sign_in_on_purpose_the_page_warns(studio, browser):  # noqa: F811
    from playwright.sync_api import expect

    studio.start(env={"STUDIO_HOST": "0.0.0.0", "STUDIO_AUTH": "none"})
    for locale, words in (("en-US", "Sign-in is off (STUDIO_AUTH=none)"), ("zh-CN", "登录已关闭")):
        page = browser(locale).new_page()
        page.goto(studio.url)
        expect(page.locator("#notices")).to_contain_text(words, timeout=30_000)
        expect(page.locator("#account")).to_be_hidden()
        page.close()
