"""The browser chat page in real Chromium against a real daphne (issue 5)."""
import json
import os
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser.helpers import (
    PASSWORD, blacklist_as_owner, expect_once, join, log_in, room_panel, run_async, screenshot, seed, send, texts,
)
from tests.e2e.harness import ws_client

pytestmark = pytest.mark.e2e


@pytest.mark.daphne_env(CHAT_ENABLE_USERLIST_UPDATES="true")
def test_signup_chat_both_ways_and_live_userlist(daphne_server, new_page):
    seed(daphne_server, users=["bob", "carol"], rooms=[("lobby", None), ("other", None)])
    base = daphne_server.http_url

    alice = new_page(base)
    alice.goto("/")
    expect(alice).to_have_url(re.compile(r"/accounts/login/"))
    alice.get_by_role("link", name="Sign up").click()
    alice.get_by_label("Username", exact=True).fill("alice")
    alice.get_by_label("Password", exact=True).fill(PASSWORD)
    alice.get_by_label("Password confirmation", exact=True).fill("something-else-entirely")
    alice.get_by_role("button", name="Sign up").click()
    expect(alice.locator(".error")).to_contain_text("didn’t match")
    alice.get_by_label("Password", exact=True).fill(PASSWORD)
    alice.get_by_label("Password confirmation", exact=True).fill(PASSWORD)
    alice.get_by_role("button", name="Sign up").click()
    expect(alice.locator("#me")).to_have_text("alice")
    expect(alice.locator("#conn-status")).to_have_attribute("data-state", "online")
    expect(alice.locator("#room-list .room-button")).to_have_count(2)

    bob = new_page(base)
    log_in(bob, "bob")
    alice_lobby = join(alice, "lobby")
    bob_lobby = join(bob, "lobby")
    expect(alice_lobby.locator(".userlist li")).to_have_text(["alice (you)", "bob"])
    expect(alice_lobby.locator(".system", has_text="bob joined")).to_have_count(1)

    send(alice, "lobby", "Hello Bob")
    expect_once(bob_lobby, "Hello Bob")
    expect(bob_lobby.locator(".message").last.locator(".author")).to_have_text("alice")
    send(bob, "lobby", "Hi Alice")
    expect_once(alice_lobby, "Hi Alice")
    expect_once(alice_lobby, "Hello Bob")

    carol = new_page(base, width=390, height=844)  # phone width
    log_in(carol, "carol")
    carol_lobby = join(carol, "lobby")
    expect(carol_lobby.locator(".message .text")).to_have_text(["Hello Bob", "Hi Alice"])  # recent history
    for panel in (alice_lobby, bob_lobby):
        expect(panel.locator(".userlist li")).to_have_count(3)
        expect(panel.locator(".userlist li", has_text="carol")).to_have_count(1)
        expect(panel.locator(".system", has_text="carol joined")).to_have_count(1)
    no_overflow = carol.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_overflow, "the page is wider than a phone screen"
    screenshot(carol, "chat-phone.png")

    carol_lobby.get_by_role("button", name="Leave room lobby").click()
    expect(carol_lobby).to_have_count(0)
    for panel in (alice_lobby, bob_lobby):
        expect(panel.locator(".userlist li", has_text="carol")).to_have_count(0)
        expect(panel.locator(".system", has_text="carol left")).to_have_count(1)

    # Keyboard only: Tab reaches the message field, Enter sends.
    alice_lobby.get_by_label("Message", exact=True).focus()
    alice.keyboard.type("typed with the keyboard")
    alice.keyboard.press("Enter")
    expect_once(bob_lobby, "typed with the keyboard")
    assert alice_lobby.locator(".messages").get_attribute("aria-live") == "polite"


def test_rooms_json_lists_accessible_rooms(daphne_server, new_page):
    seed(daphne_server, users=["bob"], rooms=[("open", None), ("closed", "zed"), ("mine", "bob")])
    script = (
        "from chatproject.service import ChatService\n"
        "s = ChatService()\n"
        "s.sync.exec_user_command(True, 'roomAddToList', 'open', 'blacklist', ['bob'])\n"
        "s.sync.exec_user_command(True, 'roomSetWhitelistMode', 'closed', True)\n"
    )
    assert daphne_server.manage("shell", "-c", script).returncode == 0
    page = new_page(daphne_server.http_url)
    anonymous = page.request.get("/chat/rooms/")
    assert anonymous.status == 401 and anonymous.json()["code"] == "notAuthenticated"
    log_in(page, "bob")
    data = page.request.get("/chat/rooms/").json()
    assert data == {
        "user": "bob",
        "rooms": [{"name": "mine", "owner": "bob", "whitelistOnly": False}],
        "enableRoomsManagement": False,
        "enableDirectMessages": False,
    }
    expect(page.locator("#room-list .room-button")).to_have_count(1)
    expect(page.locator("#room-create")).to_have_count(0)
    posted = page.request.post("/chat/rooms/")
    assert posted.status in (403, 405)  # CSRF or method: never a listing


def test_loss_of_access_is_shown(daphne_server, new_page):
    seed(daphne_server, users=["bob"], rooms=[("lobby", "owner"), ("side", "owner")])
    bob = new_page(daphne_server.http_url)
    log_in(bob, "bob")
    lobby = join(bob, "lobby")
    side = join(bob, "side")
    # The owner blacklists bob from another connection to the same server.
    run_async(blacklist_as_owner, daphne_server, "lobby", "bob")
    expect(bob.locator("#flash")).to_contain_text("You lost access")
    expect(lobby.locator(".notice")).to_contain_text("You lost access to this room")
    expect(lobby.locator(".compose button")).to_be_disabled()
    lobby_button = bob.locator('.room-button[data-room="lobby"]')
    expect(lobby_button).to_contain_text("access lost")
    lobby_button.click()
    expect(lobby.get_by_role("alert")).to_have_text(re.compile("You lost access to this room"))
    expect(lobby.get_by_role("button", name="Send")).to_be_disabled()
    expect(lobby.get_by_role("button", name="Close room lobby")).to_be_focused()
    bob.keyboard.press("Enter")
    expect(lobby).to_have_count(0)
    expect(lobby_button).to_have_count(0)  # no longer in the list: bob has no access
    bob.locator('.room-button[data-room="side"]').click()
    expect(side.get_by_role("button", name="Send")).to_be_enabled()  # other rooms are unaffected
    send(bob, "side", "still here")
    expect_once(side, "still here")

    if os.environ.get("REDIS_URL"):
        # With a shared channel layer, a management process reaches the page too.
        script = ("from chatproject.service import api\n"
                  "api.sync.exec_user_command(True, 'roomAddToList', 'side', 'blacklist', ['bob'])\n")
        assert daphne_server.manage("shell", "-c", script).returncode == 0
        expect(side.get_by_role("alert")).to_have_text(re.compile("You lost access to this room"))
        expect(side.get_by_role("button", name="Send")).to_be_disabled()


async def _post_as(server, user, room, texts_):
    async with ws_client(server, user=user) as client:
        await client.call("roomJoin", room)
        for text in texts_:
            await client.call("roomMessage", room, {"textMessage": text})


@pytest.mark.daphne_env(CHAT_HISTORY_MAX_GET_MESSAGES="2")  # the catch-up needs several pages
def test_dropped_connection_recovers_without_gap_or_duplicate(daphne_server, new_page, make_proxy):
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", None)])
    proxy_a, proxy_b = make_proxy(daphne_server), make_proxy(daphne_server)
    alice = new_page(proxy_a.url)
    bob = new_page(proxy_b.url)
    log_in(alice, "alice")
    log_in(bob, "bob")
    alice_lobby = join(alice, "lobby")
    bob_lobby = join(bob, "lobby")
    send(bob, "lobby", "before the drop")
    expect_once(alice_lobby, "before the drop")

    # 1. Alice's TCP connection is aborted (1006) while Bob keeps talking.
    proxy_a.block()
    proxy_a.abort()
    expect(alice.locator("#conn-status")).to_have_attribute("data-state", "offline")
    for n in range(1, 4):
        send(bob, "lobby", f"during the drop {n}")
    proxy_a.unblock()
    expect(alice.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=30_000)
    for n in range(1, 4):
        expect_once(alice_lobby, f"during the drop {n}")
    expect_once(alice_lobby, "before the drop")
    send(alice, "lobby", "alice is back")
    expect_once(bob_lobby, "alice is back")

    # 2. The server restarts (4001); messages are posted before either page is back.
    proxy_a.block()
    proxy_b.block()
    daphne_server.restart()
    expect(alice.locator("#conn-status")).to_have_attribute("data-state", "offline")
    expect(bob.locator("#conn-status")).to_have_attribute("data-state", "offline")
    run_async(_post_as, daphne_server, "carol", "lobby", ["after restart 1", "after restart 2"])
    proxy_a.unblock()
    proxy_b.unblock()
    for page, panel in ((alice, alice_lobby), (bob, bob_lobby)):
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=30_000)
        expect_once(panel, "after restart 1")
        expect_once(panel, "after restart 2")
    send(alice, "lobby", "still in the room")
    expect_once(bob_lobby, "still in the room")
    # Every message exactly once and in id order.
    ids = [int(i) for i in alice_lobby.locator(".message").evaluate_all("els => els.map(e => e.dataset.id)")]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) == 8, ids
    assert texts(bob_lobby).all_inner_texts() == texts(alice_lobby).all_inner_texts()


def test_markup_in_messages_is_shown_as_text(daphne_server, new_page):
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", None)])
    alice = new_page(daphne_server.http_url)
    bob = new_page(daphne_server.http_url)
    log_in(alice, "alice")
    log_in(bob, "bob")
    dialogs = []
    bob.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    join(alice, "lobby")
    bob_lobby = join(bob, "lobby")
    payload = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2; alert(1)"> <b>bold</b>'
    send(alice, "lobby", payload)
    expect_once(bob_lobby, payload)
    assert bob_lobby.locator(".messages img, .messages script, .messages b").count() == 0
    # Were a broken <img src=x> in the message, it would have failed before a
    # probe of the same address, loaded after it, fails.
    bob.evaluate("""() => new Promise(done => {
        const probe = new Image();
        probe.onerror = probe.onload = done;
        probe.src = "x";
    })""")
    assert bob.evaluate("window.__pwned") is None
    assert dialogs == []
    path = screenshot(bob, "chat-page.png")
    assert path.stat().st_size > 10_000


@pytest.mark.daphne_env(CHAT_ENABLE_ROOMS_MANAGEMENT="true", CHAT_ENABLE_DIRECT_MESSAGES="true")
def test_rooms_management_direct_messages_and_tabs(daphne_server, new_page):
    seed(daphne_server, users=["alice", "bob"])
    alice = new_page(daphne_server.http_url)
    bob = new_page(daphne_server.http_url)
    log_in(alice, "alice")
    log_in(bob, "bob")
    alice.on("dialog", lambda dialog: dialog.accept())

    # Create a room; a bad name gets a clear error.
    alice.get_by_label("Room name", exact=True).fill("bad:name")
    alice.get_by_role("button", name="Create room").click()
    expect(alice.locator("#flash")).to_contain_text("contains invalid characters")
    alice.get_by_label("Room name", exact=True).fill("alice's room")
    alice.get_by_role("button", name="Create room").click()
    alice_room = room_panel(alice, "alice's room")
    expect(alice_room.get_by_role("button", name="Send")).to_be_enabled()
    expect(alice.get_by_role("button", name="Delete room alice's room")).to_be_visible()

    # A second tab of alice's follows her joins and leaves.
    alice2 = alice.context.new_page()
    alice2.goto("/")
    expect(alice2.locator("#conn-status")).to_have_attribute("data-state", "online")
    bob.get_by_role("button", name="Refresh").click()
    expect(bob.get_by_role("button", name="Delete room alice's room")).to_have_count(0)
    bob_room = join(bob, "alice's room")
    alice_room.get_by_role("button", name="Leave room alice's room").click()
    expect(alice_room).to_have_count(0)
    join(alice, "alice's room")
    alice2_room = room_panel(alice2, "alice's room")
    expect(alice2_room).to_have_count(1)
    send(bob, "alice's room", "seen in both tabs")
    expect_once(room_panel(alice, "alice's room"), "seen in both tabs")
    expect_once(alice2_room, "seen in both tabs")
    room_panel(alice, "alice's room").get_by_role("button", name="Leave room alice's room").click()
    expect(alice2_room).to_have_count(0)

    # Direct messages, echoed to the sender's other tab; blacklisting blocks them.
    bob.get_by_role("button", name="Open direct messages").click()
    alice.get_by_role("button", name="Open direct messages").click()
    alice.get_by_label("To user", exact=True).fill("bob")
    alice.get_by_label("Message", exact=True).fill("psst <i>bob</i>")
    alice.get_by_label("Message", exact=True).press("Enter")
    expect(bob.locator("#dm-log .text")).to_have_text(["psst <i>bob</i>"])
    expect(bob.locator("#dm-log .author")).to_have_text(["alice → bob"])
    expect(alice2.locator("#dm-log .author")).to_have_text(["alice → bob"])
    expect(alice.locator("#dm-log .text")).to_have_text(["psst <i>bob</i>"])

    bob.locator("summary", has_text="Who may message me").click()
    bob.get_by_label("User name", exact=True).fill("alice")
    bob.get_by_label("List", exact=True).select_option("blacklist")
    bob.get_by_role("button", name="Add", exact=True).click()
    expect(bob.locator("#dm-blacklist li")).to_have_text(["alice"])
    alice.get_by_label("Message", exact=True).fill("blocked?")
    alice.get_by_label("Message", exact=True).press("Enter")
    expect(alice.locator("#flash")).to_contain_text("Action is not allowed")
    expect(bob.locator("#dm-log .text")).to_have_count(1)
    screenshot(bob, "chat-direct-messages.png")

    # The owner deletes the room: bob, still joined, loses access.
    bob.locator('.room-button[data-room="alice\'s room"]').click()
    alice.get_by_role("button", name="Delete room alice's room").click()
    expect(alice.locator("#flash")).to_contain_text("was deleted")
    expect(bob_room.locator(".notice")).to_contain_text("You lost access")
    expect(bob.locator("#room-list .room-button")).to_have_text([re.compile("alice's room.*access lost")])
    rooms = json.loads(bob.evaluate("fetch('/chat/rooms/').then(r => r.text())"))
    assert rooms["rooms"] == [] and rooms["enableRoomsManagement"] and rooms["enableDirectMessages"]


def assert_no_reconnect(page, ws_connects):
    """The client has given up for good, and opens no WebSocket within twice
    the longest delay its next retry would have had (the bounded wait of
    "receives nothing", docs/testing.md)."""
    page.wait_for_function("window.chatClient._stopped === true")
    before = ws_connects()
    window_ms = 2 * page.evaluate(
        "(c => Math.min(c.options.maxDelay, c.options.minDelay * 2 ** c._attempt))(window.chatClient)")
    with pytest.raises(PlaywrightTimeout):
        page.wait_for_event("websocket", timeout=window_ms)
    assert ws_connects() == before


def test_no_reconnect_after_close_1000_or_4403(daphne_server, new_page, make_proxy):
    seed(daphne_server, users=["alice"], rooms=[("lobby", None)])
    script = ("from django.contrib.auth.models import User\n"
              "from rest_framework.authtoken.models import Token\n"
              "admin = User.objects.create_user('admin', is_staff=True)\n"
              "print(Token.objects.create(user=admin).key)\n")
    result = daphne_server.manage("shell", "-c", script)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    proxy = make_proxy(daphne_server)
    alice = new_page(proxy.url)
    log_in(alice, "alice")
    status = alice.locator("#conn-status")

    def ws_connects():
        return daphne_server.log_path.read_text(errors="replace").count("WSCONNECTING")

    # 1000: the server disconnects the user (disconnectUserSockets).
    response = alice.request.post(f"{daphne_server.http_url}/api/users/alice/disconnect/",
                                  headers={"Authorization": f"Token {token}"})
    assert response.status == 202, response.text()
    expect(status).to_have_text("Disconnected by the server. Reload the page to reconnect.")
    assert_no_reconnect(alice, ws_connects)
    expect(status).to_have_attribute("data-state", "offline")

    # 4403: the session is gone when the client reconnects after a drop.
    alice.reload()
    expect(status).to_have_attribute("data-state", "online")
    gone = daphne_server.manage("shell", "-c", "from django.contrib.sessions.models import Session\n"
                                               "Session.objects.all().delete()\n")
    assert gone.returncode == 0, gone.stderr
    proxy.abort()
    expect(status).to_have_text("Login rejected: please log in again.")
    assert_no_reconnect(alice, ws_connects)
