"""Browsers as socket.io clients (docs/socketio.md): Chromium runs the real
socket.io-client browser bundles, 2.x and 4.x, against a real daphne.

The server's own pages have a strict Content-Security-Policy, so the test
page is served by a Playwright route at an unused URL of the server's
origin: the page's origin is the server's, and every `/socket.io/` request
goes to daphne. A foreign page is routed the same way; the page of another
admitted site comes from a small HTTP server of the test.
"""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers import log_in, run_async, seed
from tests.e2e.harness import free_port, wait_until
from tests.e2e.socketio_clients import socketio_clients_installed  # noqa: F401  (fixture)

# The server's host and one more site of the same deployment are admitted.
pytestmark = [pytest.mark.e2e, pytest.mark.daphne_env(ALLOWED_HOSTS="127.0.0.1,localhost")]

BUNDLES = {"sio2": "sio2/dist/socket.io.js", "sio4": "sio4/dist/socket.io.min.js"}
# socket.io-client 2.x sends `extraHeaders` from Node only: its browser bundle never needs a preflight.
SENDS_EXTRA_HEADERS = {"sio2": False, "sio4": True}
TEST_PATH = "/__socketio-browser-test__/"
WAIT_MS = 20_000

# The page's helpers: `chatOpen` connects a socket and records what it sees,
# `chatCall` emits a command and resolves with its ack's [error, data].
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>socket.io browser client</title>
<script src="socket.io.js"></script>
<script>
window.chatSockets = {};
window.chatOpen = (name, target, options) => {
  const socket = io(target + "/chat-service",
                    Object.assign({forceNew: true, reconnection: false}, options));
  const seen = {transports: [socket.io.engine.transport.name], messages: [], errors: [], user: null};
  socket.io.engine.on("upgrade", (transport) => seen.transports.push(transport.name));
  socket.on("loginConfirmed", (user) => { seen.user = user; });
  socket.on("loginRejected", (error) => seen.errors.push("loginRejected " + JSON.stringify(error)));
  socket.on("connect_error", (error) => seen.errors.push("connect_error " + ((error && error.message) || error)));
  socket.on("roomMessage", (room, message) => seen.messages.push([room, message.author, message.textMessage]));
  window.chatSockets[name] = {socket, seen};
};
window.chatSeen = (name) => Object.assign(
  {transport: window.chatSockets[name].socket.io.engine.transport.name}, window.chatSockets[name].seen);
window.chatCall = (name, ...args) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no ack for " + args[0])), 20000);
  window.chatSockets[name].socket.emit(...args, (error, data) => { clearTimeout(timer); resolve([error, data]); });
});
</script></head><body><main><h1>socket.io browser client</h1></main></body></html>
"""


@pytest.fixture(scope="module")
def browser():
    """Chromium without its Local Network Access checks: a page fulfilled by a
    Playwright route has no server address, so Chromium counts it as a public
    site and would block its WebSocket to 127.0.0.1, which a page daphne
    served itself may open."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + ["--disable-features=LocalNetworkAccessChecks"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def static_site():
    """``static_site(script)``: the origin of a small HTTP server on 127.0.0.1,
    named `localhost`, serving the test page and `script` under TEST_PATH."""
    servers = []

    def start(script):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == TEST_PATH + "socket.io.js":
                    body, content_type = script.read_bytes(), "application/javascript; charset=utf-8"
                elif self.path == TEST_PATH + "page.html":
                    body, content_type = PAGE.encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://localhost:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def serve_test_page(page, origin, script):
    """Route `origin` + TEST_PATH to the test page and the client bundle `script`."""

    def fulfill(route):
        if route.request.url.endswith("/socket.io.js"):
            route.fulfill(path=str(script), content_type="application/javascript; charset=utf-8")
        else:
            route.fulfill(body=PAGE, content_type="text/html; charset=utf-8")

    page.route(f"{origin}{TEST_PATH}**", fulfill)
    page.goto(f"{origin}{TEST_PATH}page.html")
    return page


def seen(page, name):
    return page.evaluate("(name) => window.chatSeen(name)", name)


def wait_for(page, name, condition):
    """Until the JS `condition` on `seen` (what socket `name` saw) holds."""
    page.wait_for_function(f"(name) => {{ const seen = window.chatSeen(name); return {condition}; }}",
                           arg=name, timeout=WAIT_MS)
    return seen(page, name)


def call(page, name, *args):
    return page.evaluate("([name, args]) => window.chatCall(name, ...args)", [name, list(args)])


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_session_cookie_users_upgrade_or_stay_on_polling_and_chat(
        bundle, daphne_server, new_page, socketio_clients_installed):
    seed(daphne_server, users=["alice", "bob"], rooms=[("lobby", None)])
    base = daphne_server.http_url
    pages = {}
    for user, options in (("alice", {}), ("bob", {"transports": ["polling"]})):
        page = new_page(base)
        log_in(page, user)  # the Django session cookie is the socket.io login
        serve_test_page(page, base, socketio_clients_installed / "node_modules" / BUNDLES[bundle])
        page.evaluate("([name, target, options]) => window.chatOpen(name, target, options)", [user, base, options])
        pages[user] = page

    alice = wait_for(pages["alice"], "alice", "seen.user !== null && seen.transport === 'websocket'")
    assert alice["user"] == "alice" and alice["transports"] == ["polling", "websocket"], alice
    bob = wait_for(pages["bob"], "bob", "seen.user !== null")
    assert bob["user"] == "bob" and bob["transports"] == ["polling"], bob

    for user, page in pages.items():
        error, joined = call(page, user, "roomJoin", "lobby")
        assert error is None and joined == 1, (user, error)
    error, message_id = call(pages["alice"], "alice", "roomMessage", "lobby", {"textMessage": "over websocket"})
    assert error is None and isinstance(message_id, int)
    error, _ = call(pages["bob"], "bob", "roomMessage", "lobby", {"textMessage": "over polling"})
    assert error is None
    expected = [["lobby", "alice", "over websocket"], ["lobby", "bob", "over polling"]]
    for user, page in pages.items():
        final = wait_for(page, user, "seen.messages.length >= 2")
        assert final["messages"] == expected and not final["errors"], (user, final)
    assert seen(pages["bob"], "bob")["transport"] == "polling"
    assert seen(pages["alice"], "alice")["transport"] == "websocket"


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_a_page_of_another_admitted_origin_with_extra_headers_connects(
        bundle, daphne_server, new_page, socketio_clients_installed, static_site):
    """`extraHeaders` on cross-origin polling makes Chromium send a CORS
    preflight first: it is granted, then the client logs in and upgrades.
    The page comes from a real server: while a Playwright route is active,
    Playwright answers preflights itself."""
    seed(daphne_server, rooms=[("lobby", None)])
    base = daphne_server.http_url
    page = new_page(base)
    page.goto(static_site(socketio_clients_installed / "node_modules" / BUNDLES[bundle]) + TEST_PATH + "page.html")
    options = {"query": {"user": "carol"}, "extraHeaders": {"X-Chat-Client": "browser-test"}, "withCredentials": True}
    page.evaluate("([name, target, options]) => window.chatOpen(name, target, options)", ["carol", base, options])
    carol = wait_for(page, "carol", "seen.user !== null && seen.transport === 'websocket'")
    assert carol["user"] == "carol" and carol["transports"] == ["polling", "websocket"] and not carol["errors"], carol
    assert call(page, "carol", "roomJoin", "lobby") == [None, 1]
    assert call(page, "carol", "roomMessage", "lobby", {"textMessage": "from another site"})[0] is None
    assert wait_for(page, "carol", "seen.messages.length > 0")["messages"] == [["lobby", "carol", "from another site"]]
    preflights = [line for line in socketio_log(daphne_server, "/socket.io/") if '"OPTIONS ' in line]
    assert bool(preflights) == SENDS_EXTRA_HEADERS[bundle], preflights
    assert all('" 204 ' in line for line in preflights), preflights


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_a_page_of_a_foreign_origin_is_refused(bundle, daphne_server, new_page, socketio_clients_installed):
    """`foreign.test` is not in the server's ALLOWED_HOSTS: polling gets 403 without
    a CORS grant (so the page may not even read it), the WebSocket handshake
    is rejected."""
    seed(daphne_server, users=["mallory"])
    base = daphne_server.http_url
    page = new_page(base)
    log_in(page, "mallory")  # a logged-in browser: the cookie must not help a foreign page
    script = socketio_clients_installed / "node_modules" / BUNDLES[bundle]
    serve_test_page(page, f"http://foreign.test:{free_port()}", script)
    for transport in ("polling", "websocket"):
        page.evaluate("([name, target, options]) => window.chatOpen(name, target, options)",
                      [transport, base, {"transports": [transport], "withCredentials": True}])
        refused = wait_for(page, transport, "seen.errors.length > 0")
        assert refused["user"] is None and refused["errors"][0].startswith("connect_error"), refused
    refusals = run_async(wait_until, lambda: socketio_log(daphne_server, "WSREJECT"), WAIT_MS / 1000)
    assert any("transport=polling" in line and '" 403 ' in line for line in refusals), refusals
    assert not [line for line in refusals if '" 200 ' in line or '"WSCONNECT ' in line], refusals


def socketio_log(server, until):
    """The access log's lines of `/socket.io/` requests, once one holds `until`."""
    lines = [line for line in server.log_path.read_text().splitlines()
             if "daphne.access" in line and "/socket.io/" in line]
    return lines if any(until in line for line in lines) else None
