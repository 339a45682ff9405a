"""The Content-Security-Policy in real Chromium against a real daphne: the
project's pages, the Django admin and the Swagger UI page still work, and
nothing is blocked (docs/operations.md)."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browser, new_page  # noqa: F401  (fixtures)
from tests.browser.helpers import PASSWORD, violations, watched
from tests.e2e.conftest import daphne_server  # noqa: F401  (fixture)
from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e


def test_pages_admin_and_api_docs_work_under_the_policy(daphne_server, new_page):  # noqa: F811
    result = daphne_server.manage("createsuperuser", "--noinput", "--username", "root",
                                  "--email", "root@example.com", env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr

    # Sign up, land on the chat page with its WebSocket online, log out.
    user = watched(new_page(daphne_server.http_url))
    user.goto("/accounts/signup/")
    assert violations(user) == []
    user.get_by_label("Username", exact=True).fill("frank")
    user.get_by_label("Password", exact=True).fill(PASSWORD)
    user.get_by_label("Password confirmation", exact=True).fill(PASSWORD)
    user.get_by_role("button", name="Sign up").click()
    expect(user.locator("#me")).to_have_text("frank")
    expect(user.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert violations(user) == []
    user.get_by_role("button", name=re.compile("Log out", re.IGNORECASE)).click()
    expect(user).to_have_url(re.compile(r"/accounts/login/"))
    expect(user.get_by_label("Password", exact=True)).to_be_visible()
    assert violations(user) == []

    # The Django admin: log in, a list and a change form with its scripts.
    admin = watched(new_page(daphne_server.http_url))
    admin.goto("/admin/")
    admin.get_by_label("Username").fill("root")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    expect(admin.locator("#site-name")).to_be_visible()
    admin.goto("/admin/auth/user/")
    expect(admin.locator("#result_list")).to_contain_text("frank")
    admin.get_by_role("link", name="frank").click()
    expect(admin.locator("#id_username")).to_have_value("frank")
    # The admin's own scripts ran: the date-time shortcuts are added by JavaScript.
    expect(admin.locator(".datetimeshortcuts").first).to_be_visible()
    assert violations(admin) == []

    # The Swagger UI page renders the schema (its script comes from ?script).
    admin.goto("/api/docs/")
    expect(admin.locator(".swagger-ui .info .title")).to_contain_text("Chat service admin API")
    expect(admin.locator(".opblock-summary-path", has_text="/api/rooms/").first).to_be_visible()
    assert violations(admin) == []
    (ROOT / "artifacts").mkdir(exist_ok=True)
    admin.screenshot(path=str(ROOT / "artifacts" / "ops-api-docs.png"))


def test_the_policy_does_block_inline_script(daphne_server, new_page):  # noqa: F811
    """The watch above can see a violation: an injected inline script is refused."""
    page = watched(new_page(daphne_server.http_url))
    page.goto("/accounts/login/")
    page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.__ran = true";
        document.body.appendChild(s);
    }""")
    expect(page.locator("body")).to_be_visible()
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert violations(page)[0].startswith("script-src-elem inline /accounts/login/")
