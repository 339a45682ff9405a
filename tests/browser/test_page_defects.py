"""Three defects of the chat page, each shown failing on the old single-file
page script: a room named "dm" mixed up with the direct-message panel, text
typed while a send was in flight wiped when the send was confirmed, and a
user still listed among a room's people after losing access to it."""
import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import blacklist_as_owner, expect_once, join, log_in, room_button, run_async, screenshot, seed, send

pytestmark = pytest.mark.e2e

HOLD_TIMEOUT = 20  # seconds to wait for a held frame to reach the route


class HeldFrames:
    """Routes a page's chat WebSocket through Playwright and, while holding,
    keeps the page's requests for the given methods from the server until
    ``release()``: the page sees its send stay in flight."""

    def __init__(self, page, methods):
        self.page = page
        self.methods = set(methods)
        self.holding = False
        self.frames = []
        self.server = None
        page.route_web_socket(re.compile(r"/ws/chat/"), self._route)

    def _route(self, ws):
        self.server = ws.connect_to_server()
        ws.on_message(self._from_page)

    def _from_page(self, message):
        if self.holding and json.loads(message).get("method") in self.methods:
            self.frames.append(message)
        else:
            self.server.send(message)

    def hold(self):
        self.holding = True

    def wait_for_frames(self, count):
        """Let Playwright deliver frames until ``count`` are held."""
        deadline = time.monotonic() + HOLD_TIMEOUT
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"only {len(self.frames)} of {count} frames were held"
            self.page.wait_for_timeout(50)

    def release(self):
        self.holding = False
        frames, self.frames = self.frames, []
        for message in frames:
            self.server.send(message)


@pytest.mark.daphne_env(CHAT_ENABLE_DIRECT_MESSAGES="true")
def test_room_named_dm_is_a_room_and_the_direct_panel_stays_separate(daphne_server, new_page, axe_check):
    """A room called "dm" shows only its own panel, and unread counts go on
    for it while the direct-message panel is open and for direct messages
    while the room is open."""
    seed(daphne_server, users=["alice", "bob"], rooms=[("dm", None), ("lobby", None)])
    alice = new_page(daphne_server.http_url)
    bob = new_page(daphne_server.http_url)
    log_in(alice, "alice")
    log_in(bob, "bob")
    direct = alice.locator("#dm-panel")
    dm_button = room_button(alice, "dm")

    alice_dm = join(alice, "dm")
    expect(direct).to_be_hidden()
    expect(dm_button).to_have_attribute("aria-current", "true")
    join(bob, "dm")
    lobby = join(alice, "lobby")
    expect(alice_dm).to_be_hidden()
    send(bob, "dm", "one")
    expect(dm_button.locator(".badge")).to_have_text("1")

    alice.get_by_role("button", name="Open direct messages").click()
    expect(direct).to_be_visible()
    expect(alice_dm).to_be_hidden()
    expect(lobby).to_be_hidden()
    expect(alice.locator('.room-button[aria-current="true"]')).to_have_text(["Open direct messages"])
    send(bob, "dm", "two")
    expect(dm_button.locator(".badge")).to_have_text("2")

    dm_button.click()
    expect(alice_dm).to_be_visible()
    expect(direct).to_be_hidden()
    expect(dm_button.locator(".badge")).to_have_count(0)
    expect_once(alice_dm, "one")
    expect_once(alice_dm, "two")

    bob.get_by_role("button", name="Open direct messages").click()
    bob_direct = bob.locator("#dm-panel")
    bob_direct.get_by_label("To user", exact=True).fill("alice")
    bob_direct.get_by_label("Message", exact=True).fill("a direct hello")
    bob_direct.get_by_label("Message", exact=True).press("Enter")
    expect(bob_direct.get_by_label("Message", exact=True)).to_have_value("")
    unread = alice.locator("#dm-unread")
    expect(unread).to_have_text("1")
    expect(unread).to_have_attribute("aria-label", "1 unread")
    expect(alice.locator("#dm-log .text")).to_have_text(["a direct hello"])
    axe_check(alice, "a room named dm open, direct messages unread")
    alice.get_by_role("button", name="Open direct messages").click()
    expect(unread).to_be_hidden()
    expect(alice_dm).to_be_hidden()


@pytest.mark.daphne_env(CHAT_ENABLE_DIRECT_MESSAGES="true")
def test_text_typed_while_a_send_is_in_flight_is_kept(daphne_server, new_page):
    """When a send is confirmed, only the text that was sent leaves the
    field: what was typed meanwhile stays, in rooms and direct messages."""
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", None)])
    alice = new_page(daphne_server.http_url)
    held = HeldFrames(alice, {"roomMessage", "directMessage"})
    log_in(alice, "alice")
    log_in(new_page(daphne_server.http_url), "bob")  # direct messages go to users online
    lobby = join(alice, "lobby")
    field = lobby.get_by_label("Message", exact=True)
    send_button = lobby.get_by_role("button", name="Send")

    # Typing on after Enter: the sent words leave, the new ones stay.
    held.hold()
    field.fill("first")
    field.press("Enter")
    held.wait_for_frames(1)
    expect(send_button).to_be_disabled()
    field.press("End")
    field.press_sequentially(" and more")
    held.release()
    expect_once(lobby, "first")
    expect(send_button).to_be_enabled()
    expect(field).to_have_value("and more")

    # Replacing the text while it is in flight: the new text stays whole.
    held.hold()
    field.fill("second")
    field.press("Enter")
    held.wait_for_frames(1)
    field.fill("a new draft")
    held.release()
    expect_once(lobby, "second")
    expect(send_button).to_be_enabled()
    expect(field).to_have_value("a new draft")
    send(alice, "lobby", "a new draft")
    expect_once(lobby, "a new draft")

    alice.get_by_role("button", name="Open direct messages").click()
    direct = alice.locator("#dm-panel")
    direct.get_by_label("To user", exact=True).fill("bob")
    dm_field = direct.get_by_label("Message", exact=True)
    held.hold()
    dm_field.fill("hi bob")
    dm_field.press("Enter")
    held.wait_for_frames(1)
    dm_field.fill("how are you?")
    held.release()
    expect(alice.locator("#dm-log .text")).to_have_text(["hi bob"])
    expect(dm_field).to_have_value("how are you?")


@pytest.mark.daphne_env(CHAT_ENABLE_USERLIST_UPDATES="true")
def test_people_list_drops_the_user_who_lost_access(daphne_server, new_page, axe_check):
    """The page's side of B86: the owner blacklists bob; bob's page no longer
    lists him (nor anyone: it gets no more updates) among the room's people,
    and alice's page sees him leave."""
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", "owner")])
    alice = new_page(daphne_server.http_url)
    bob = new_page(daphne_server.http_url)
    log_in(alice, "alice")
    log_in(bob, "bob")
    alice_lobby = join(alice, "lobby")
    bob_lobby = join(bob, "lobby")
    expect(bob_lobby.locator(".userlist li")).to_have_text(["alice", "bob (you)"])
    expect(alice_lobby.locator(".userlist li")).to_have_text(["alice (you)", "bob"])

    run_async(blacklist_as_owner, daphne_server, "lobby", "bob")
    expect(bob_lobby.locator(".notice")).to_contain_text("You lost access to this room")
    expect(bob_lobby.locator(".userlist li")).to_have_count(0)
    expect(bob_lobby.locator(".userlist-note")).to_have_text("You are no longer in this room.")
    expect(alice_lobby.locator(".userlist li")).to_have_text(["alice (you)"])
    axe_check(bob, "access to the room lost")
    screenshot(bob, "chat-access-lost.png")
