"""Steps the browser tests share: seeding users and rooms, logging in,
joining, sending, screenshots of the chat page, and watching for what the
Content-Security-Policy blocks."""
import asyncio
import concurrent.futures
import re

from playwright.sync_api import expect

from tests.e2e.harness import ROOT, ws_client

ARTIFACTS = ROOT / "artifacts"
PASSWORD = "correct-horse-battery-9"

# Collected in the page: every script, style, connection or frame the policy blocked.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} ${e.blockedURI} ${location.pathname}`);
});
"""


def seed(server, users=(), rooms=()):
    """Create Django users and chat rooms ``(name, owner)`` in one manage.py run."""
    script = (
        "from django.contrib.auth.models import User\n"
        "from chatproject.service import ChatService\n"
        f"for name in {list(users)!r}:\n"
        f"    User.objects.create_user(name, password={PASSWORD!r})\n"
        "service = ChatService()\n"
        f"for name, owner in {list(rooms)!r}:\n"
        "    service.sync.add_room(name, {'owner': owner})\n"
    )
    result = server.manage("shell", "-c", script)
    assert result.returncode == 0, result.stderr


def run_async(coro_fn, *args):
    """Run an async helper on its own loop in a worker thread (Playwright's
    sync API owns this thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result(timeout=60)


async def blacklist_as_owner(server, room, user):
    """``roomAddToList(room, "blacklist", [user])`` from a WebSocket of the room's owner, "owner"."""
    async with ws_client(server, user="owner") as owner:
        assert owner.user == "owner", owner.login
        await owner.call("roomAddToList", room, "blacklist", [user])


def log_in(page, name):
    page.goto("/accounts/login/")
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")


def room_panel(page, room):
    return page.locator(".room-panel").filter(has=page.locator(".room-title", has_text=re.compile(f"^{re.escape(room)}$")))


def room_button(page, room):
    return page.locator(f'.room-button[data-room="{room}"]')


def join(page, room):
    room_button(page, room).click()
    panel = room_panel(page, room)
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="Send")).to_be_enabled()
    return panel


def send(page, room, text):
    panel = room_panel(page, room)
    panel.get_by_label("Message", exact=True).fill(text)
    panel.get_by_label("Message", exact=True).press("Enter")
    expect(panel.get_by_label("Message", exact=True)).to_have_value("")


def texts(panel):
    return panel.locator(".message .text")


def expect_once(panel, text):
    expect(texts(panel).filter(has_text=re.compile(f"^{re.escape(text)}$"))).to_have_count(1)


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def watched(page):
    """``page``, recording CSP violations in every document it loads from now on."""
    page.add_init_script(WATCH_VIOLATIONS)
    return page


def violations(page):
    """What the policy blocked in the page's current document."""
    return page.evaluate("window.__cspViolations")
