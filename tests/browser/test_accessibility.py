"""axe-core on the chat service's pages in their main states: any serious or
critical violation fails (the axe_check fixture in conftest.py)."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import PASSWORD, join, log_in, room_panel, screenshot, seed, send

pytestmark = pytest.mark.e2e


def test_login_and_signup_pages(daphne_server, new_page, axe_check):
    page = new_page(daphne_server.http_url)
    page.goto("/accounts/login/")
    axe_check(page, "login page")
    page.get_by_role("button", name="Log in").click()  # empty form: the browser asks for the fields
    page.get_by_label("User name", exact=True).fill("nobody")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".error")).to_be_visible()
    axe_check(page, "login page with an error")
    page.get_by_role("link", name="Sign up").click()
    axe_check(page, "sign-up page")


@pytest.mark.daphne_env(CHAT_ENABLE_ROOMS_MANAGEMENT="true", CHAT_ENABLE_DIRECT_MESSAGES="true",
                        CHAT_ENABLE_USERLIST_UPDATES="true")
def test_chat_page_states(daphne_server, new_page, axe_check):
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", None)])
    alice = new_page(daphne_server.http_url)
    bob = new_page(daphne_server.http_url, width=390, height=844)  # phone width
    log_in(alice, "alice")
    log_in(bob, "bob")
    axe_check(alice, "signed in, no room joined")

    lobby = join(alice, "lobby")
    join(bob, "lobby")
    send(alice, "lobby", "Hello from alice")
    send(bob, "lobby", "Hello from bob")
    expect(lobby.locator(".message .text")).to_have_text(["Hello from alice", "Hello from bob"])
    expect(lobby.locator(".userlist li")).to_have_count(2)
    axe_check(alice, "a room joined with messages and people")
    axe_check(bob, "a room joined at phone width")

    # Rooms management: a room of one's own, with its Delete button.
    alice.get_by_label("Room name", exact=True).fill("alice's room")
    alice.get_by_role("button", name="Create room").click()
    expect(room_panel(alice, "alice's room").get_by_role("button", name="Send")).to_be_enabled()
    expect(alice.get_by_role("button", name="Delete room alice's room")).to_be_visible()
    axe_check(alice, "rooms management with an own room")

    # The direct-message panel, with a message and the privacy settings open.
    alice.get_by_role("button", name="Open direct messages").click()
    direct = alice.locator("#dm-panel")
    direct.get_by_label("To user", exact=True).fill("bob")
    direct.get_by_label("Message", exact=True).fill("psst")
    direct.get_by_label("Message", exact=True).press("Enter")
    expect(alice.locator("#dm-log .text")).to_have_text(["psst"])
    direct.locator("summary", has_text="Who may message me").click()
    direct.get_by_label("User name", exact=True).fill("mallory")
    direct.get_by_role("button", name="Add", exact=True).click()
    expect(alice.locator("#dm-blacklist li")).to_have_text(["mallory"])
    axe_check(alice, "the direct-message panel open")
    screenshot(alice, "chat-direct-panel.png")
