"""The shell in Chromium, logged in through the provider's own page, for each role."""

from __future__ import annotations

import pytest

from ..conftest import browser_login, screenshot

pytestmark = pytest.mark.browser




@pytest.mark.parametrize("who,badge", [("admin", "Platform admin"), ("finance", "Finance")])
def test_staff_log_in_and_see_the_dashboard_shell(page, live_server, who, badge, console_errors, backend):
    browser_login(page, live_server, who)
    console_errors.clear()  # the provider's own page is not ours to judge
    page.reload()
    assert page.url == f"{live_server.url}/"
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator(".role-badge").inner_text() == badge
    assert page.locator(".main-nav a").count() >= 1
    screenshot(page, f"shell-dashboard-{who}-{backend}")
    assert console_errors == []


def test_nobody_gets_the_no_role_page(page, live_server, console_errors, backend):
    browser_login(page, live_server, "nobody")
    assert page.locator("#no-role").is_visible()
    assert page.locator(".main-nav").count() == 0
    screenshot(page, f"shell-no-role-{backend}")


def test_logout_returns_to_the_sign_in_page(page, live_server, backend):
    browser_login(page, live_server, "admin")
    page.click("text=Log out")
    # the provider asks to confirm the end of the session
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/login**")
    assert "signed out" in page.content()
    page.goto(f"{live_server.url}/")
    assert "/login" in page.url
