"""CORS of the socket.io endpoint's long-polling (docs/socketio.md, Endpoint):
a page of an admitted origin that is not the endpoint's own (the page on
chat.example.com, the endpoint on ws.example.com) gets its preflights
granted, so a client with `extraHeaders` connects; a foreign origin gets
403 without a grant; a malformed preflight gets a clear 400.
"""
import json

import pytest
from channels.testing import HttpCommunicator

from chatproject.socketio.engineio import decode_payload, encode_payload
from tests.test_socketio_endpoint import NS, application, no_sockets

PAGE = "https://chat.example.com"
PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "content-type, x-chat-token"}


@pytest.fixture
def cross_site_hosts(settings):
    """The page's host and the endpoint's are both admitted."""
    settings.ALLOWED_HOSTS = ["chat.example.com", "ws.example.com"]


async def request(app, method, query, headers=None, body=b""):
    """(status, headers with lower-case names, body text) of one request."""
    raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    communicator = HttpCommunicator(app, method, "/socket.io/?" + query, body=body, headers=raw_headers)
    response = await communicator.get_response(timeout=5)
    answer = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response["headers"]}
    return response["status"], answer, response["body"].decode()


def granted(answer, origin=PAGE):
    return answer.get("access-control-allow-origin") == origin and answer.get("access-control-allow-credentials") == "true"


@pytest.mark.parametrize("generation", [3, 4])
async def test_a_client_with_extra_headers_on_an_admitted_origin_connects(chat, cross_site_hosts, generation):
    svc = await chat.start()
    app, socketio = application(svc)
    page = {"origin": PAGE, "x-chat-token": "t0ken"}
    status, answer, body = await request(app, "OPTIONS", f"EIO={generation}&transport=polling",
                                         {"origin": PAGE, "access-control-request-method": "GET",
                                          "access-control-request-headers": "x-chat-token"})
    assert (status, body) == (204, "") and granted(answer), answer
    assert answer["access-control-allow-methods"] == "GET, POST"
    assert answer["access-control-allow-headers"] == "x-chat-token"
    assert not socketio.engine.sessions  # a preflight opens nothing

    status, answer, body = await request(app, "GET", f"EIO={generation}&transport=polling&user=alice", page)
    assert status == 200 and granted(answer), answer
    sid = json.loads(decode_payload(body, generation)[0][1:])["sid"]
    query = f"EIO={generation}&transport=polling&sid={sid}"
    status, answer, _ = await request(app, "OPTIONS", query, {"origin": PAGE, **PREFLIGHT})
    assert status == 204 and granted(answer) and answer["access-control-allow-headers"] == PREFLIGHT[
        "access-control-request-headers"], answer

    connect = f"40{NS}," if generation == 3 else f'40{NS},{{"user":"alice"}}'
    status, answer, body = await request(app, "POST", query, {**page, "content-type": "text/plain"},
                                         body=encode_payload([connect], generation).encode())
    assert (status, body) == (200, "ok") and granted(answer), (status, body)
    received = []
    while not any(packet.startswith(f'42{NS},["loginConfirmed","alice"') for packet in received):
        status, answer, body = await request(app, "GET", query, page)
        assert status == 200 and granted(answer), (status, body)
        received += decode_payload(body, generation)
    status, _, _ = await request(app, "POST", query, page, body=encode_payload(["1"], generation).encode())
    assert status == 200
    await no_sockets(svc)


async def test_a_preflight_without_requested_headers_grants_no_headers(chat, cross_site_hosts):
    svc = await chat.start()
    app, _ = application(svc)
    status, answer, _ = await request(app, "OPTIONS", "EIO=4&transport=polling",
                                      {"origin": PAGE, "access-control-request-method": "GET"})
    assert status == 204 and granted(answer) and "access-control-allow-headers" not in answer, answer


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "https://chat.example.com.evil.example",
    "https://evilchat.example.com",
    "null",  # a sandboxed frame or a file:// page
    "",
    "chat.example.com",  # no scheme
    "https://" + "a" * 5000 + ".example",
])
async def test_a_foreign_preflight_is_forbidden_without_a_grant(chat, cross_site_hosts, origin):
    svc = await chat.start()
    app, socketio = application(svc)
    status, answer, body = await request(app, "OPTIONS", "EIO=4&transport=polling", {"origin": origin, **PREFLIGHT})
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "Forbidden"})
    assert not [name for name in answer if name.startswith("access-control-")], answer
    assert not socketio.engine.sessions


@pytest.mark.parametrize("headers", [
    {},  # no Access-Control-Request-Method: not a preflight
    {"access-control-request-headers": "x-chat-token"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x-a, , x-b"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x-a,"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x a"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x-a;x-b"},
    {"access-control-request-method": "GET", "access-control-request-headers": "(x-a)"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x-\xe9t\xe9"},
    {"access-control-request-method": "GET", "access-control-request-headers": "x-a\x0bx-b"},
])
async def test_a_malformed_preflight_gets_400_and_the_session_goes_on(chat, cross_site_hosts, headers):
    svc = await chat.start()
    app, socketio = application(svc)
    status, _, body = await request(app, "GET", "EIO=4&transport=polling")
    sid = json.loads(decode_payload(body, 4)[0][1:])["sid"]
    for query in ("EIO=4&transport=polling", f"EIO=4&transport=polling&sid={sid}"):
        status, answer, body = await request(app, "OPTIONS", query, {"origin": PAGE, **headers})
        assert (status, json.loads(body)) == (400, {"code": 3, "message": "Bad request: not a CORS preflight"})
        assert "access-control-allow-methods" not in answer and "access-control-allow-headers" not in answer
    assert list(socketio.engine.sessions) == [sid]
    status, _, body = await request(app, "POST", f"EIO=4&transport=polling&sid={sid}", {"origin": PAGE},
                                    body=f'40{NS},{{"user":"bob"}}'.encode())
    assert (status, body) == (200, "ok")


async def test_a_long_header_list_is_granted_as_asked(chat, cross_site_hosts):
    requested = ", ".join(f"x-header-{index}" for index in range(500))
    svc = await chat.start()
    app, _ = application(svc)
    status, answer, _ = await request(app, "OPTIONS", "EIO=3&transport=polling",
                                      {"origin": PAGE, "access-control-request-method": "POST",
                                       "access-control-request-headers": requested})
    assert status == 204 and answer["access-control-allow-headers"] == requested


async def test_options_without_an_origin_is_no_preflight(chat, cross_site_hosts):
    """A program, not a browser: the usual Engine.IO errors, no grant."""
    svc = await chat.start()
    app, _ = application(svc)
    status, answer, body = await request(app, "OPTIONS", "EIO=4&transport=polling", PREFLIGHT)
    assert (status, json.loads(body)) == (400, {"code": 2, "message": "Bad handshake method"})
    assert not [name for name in answer if name.startswith("access-control-")], answer
