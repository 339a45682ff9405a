"""The admin API against a real daphne: names from the raw path (%2F and
friends), live effects across HTTP and WebSocket, and a schemathesis run.

Django's test client cannot send `%2F`, so these requests go through
the harness's ``rest``, which sends the path exactly as written.
"""
import asyncio
import functools
import os
import subprocess
import sys
from urllib.parse import quote

import pytest

from .harness import rest, staff_token, ws_client

pytestmark = pytest.mark.e2e

NAMES = ["a/b", "/lead", "trail/", "with space", "100%", "50%2F", "what?", "hash#tag", "naïve ☃ 名前", "a+b", "..x", "%"]


def seg(name):
    return quote(name, safe="")


@pytest.fixture
def api(daphne_server):
    """REST calls as the staff user: ``api(method, path, body=None)``."""
    return functools.partial(rest, daphne_server, staff_token(daphne_server))


def test_room_names_round_trip_through_raw_paths(api):
    for name in NAMES:
        status, body = api("POST", "/api/rooms/", {"name": name})
        assert status == 201, (name, body)
        status, body = api("GET", f"/api/rooms/{seg(name)}/")
        assert (status, body["name"]) == (200, name)
        status, body = api("POST", f"/api/rooms/{seg(name)}/lists/whitelist/", {"userNames": [name, "x/y"]})
        assert status == 200 and sorted(body["userNames"]) == sorted([name, "x/y"])
        status, body = api("GET", f"/api/rooms/{seg(name)}/access/{seg('x/y')}/")
        assert status == 200 and body["lists"]["whitelist"] is True, (name, body)
        status, body = api("POST", f"/api/rooms/{seg(name)}/messages/", {"message": {"textMessage": name}})
        assert (status, body) == (201, {"id": 1})
        status, body = api("GET", f"/api/rooms/{seg(name)}/history/?after=0&limit=5")
        assert status == 200 and body[0]["textMessage"] == name
    status, body = api("GET", "/api/rooms/")
    assert sorted(room["name"] for room in body["results"]) == sorted(NAMES)
    for name in NAMES:
        assert api("DELETE", f"/api/rooms/{seg(name)}/") == (204, None)
    assert api("GET", "/api/rooms/")[1]["count"] == 0


def test_slash_is_not_a_separator_inside_a_name(api):
    assert api("POST", "/api/rooms/", {"name": "a"})[0] == 201
    assert api("POST", "/api/rooms/", {"name": "a/lists/whitelist"})[0] == 201
    # Literal slashes separate segments: the list of room "a".
    assert api("GET", "/api/rooms/a/lists/whitelist/") == (200, {"userNames": []})
    # Encoded ones do not: room "a/lists/whitelist" itself.
    status, body = api("GET", "/api/rooms/a%2Flists%2Fwhitelist/")
    assert status == 200 and body["name"] == "a/lists/whitelist"
    status, body = api("GET", "/api/rooms/a%2fb/")  # lower-case escapes too
    assert (status, body["code"], body["args"]) == (404, "noRoom", ["a/b"])


def test_plus_stays_plus_and_percent_is_decoded_once(api):
    assert api("POST", "/api/rooms/", {"name": "a+b"})[0] == 201
    assert api("GET", "/api/rooms/a+b/")[1]["name"] == "a+b"
    status, body = api("GET", "/api/rooms/a%20b/")
    assert (status, body["code"], body["args"]) == (404, "noRoom", ["a b"])
    assert api("POST", "/api/rooms/", {"name": "%41"})[0] == 201
    assert api("GET", "/api/rooms/%2541/")[1]["name"] == "%41"
    status, body = api("GET", "/api/rooms/%41/")  # decoded once: room "A"
    assert (status, body["args"]) == (404, ["A"])


def test_user_names_with_slashes(api, daphne_server):
    name = "dept/ops ☃"
    status, body = api("POST", "/api/users/", {"name": name, "blacklist": ["x/y"]})
    assert status == 201 and body["name"] == name
    status, body = api("GET", f"/api/users/{seg(name)}/direct-access/{seg('x/y')}/")
    assert (status, body) == (200, {"access": False, "lists": {"whitelist": False, "blacklist": True}})
    assert api("POST", f"/api/users/{seg(name)}/disconnect/") == (202, {})
    assert api("POST", f"/api/recovery/users/{seg(name)}/") == (204, None)
    assert api("DELETE", f"/api/users/{seg(name)}/") == (204, None)
    status, body = api("GET", f"/api/users/{seg(name)}/")
    assert (status, body["code"], body["args"]) == (404, "noUser", [name])


def test_dot_segments_and_bad_utf8(api):
    for path in ("/api/rooms/./", "/api/rooms/../", "/api/rooms/%2E/", "/api/rooms/%2e%2e/"):
        status, body = api("GET", path)
        assert (status, body["code"]) == (404, "notFound"), path
    status, body = api("GET", "/api/rooms/%FF/")
    assert (status, body["code"]) == (400, "badArgument")
    status, body = api("GET", "/api/rooms/%ED%A0%80/")  # an encoded lone surrogate
    assert (status, body["code"]) == (400, "badArgument")


def test_auth_over_http(daphne_server, api):
    status, body = rest(daphne_server, None, "GET", "/api/rooms/")
    assert (status, body["code"]) == (401, "notAuthenticated")
    status, body = rest(daphne_server, "f" * 40, "GET", "/api/rooms/")
    assert (status, body["code"]) == (401, "notAuthenticated")
    assert api("GET", "/api/rooms/")[0] == 200


async def test_live_effects_reach_websockets(daphne_server, api):
    call = lambda *args: asyncio.to_thread(api, *args)  # noqa: E731
    assert (await call("POST", "/api/rooms/", {"name": "live/room"}))[0] == 201
    assert (await call("POST", "/api/users/", {"name": "poster"}))[0] == 201
    async with ws_client(daphne_server, user="alice") as alice, ws_client(daphne_server, user="bob") as bob:
        for client in (alice, bob):
            assert await client.call("roomJoin", "live/room") == 1
        status, body = await call("POST", f"/api/rooms/{seg('live/room')}/messages/",
                                  {"author": "poster", "message": {"textMessage": "hello"}})
        assert (status, body) == (201, {"id": 1})
        for client in (alice, bob):
            room, message = await client.next_notification("roomMessage")
            assert room == "live/room" and message["id"] == 1 and message["author"] == "poster"
        status, body = await call("POST", f"/api/rooms/{seg('live/room')}/lists/blacklist/", {"userNames": ["bob"]})
        assert status == 200
        assert await bob.next_notification("roomAccessRemoved") == ["live/room"]
        status, body = await call("GET", "/api/users/alice/")
        assert status == 200 and list(body["sockets"].values()) == [["live/room"]]
        assert await call("DELETE", f"/api/rooms/{seg('live/room')}/") == (204, None)
        assert await alice.next_notification("roomAccessRemoved") == ["live/room"]
        assert await call("POST", "/api/users/alice/disconnect/") == (202, {})
        assert await alice.wait_closed() == 1000
    status, body = await call("GET", "/api/instances/")
    assert status == 200 and len(body) == 1 and body[0]["alive"] is True


def test_schema_validates_and_schemathesis_finds_nothing(api, daphne_server, tmp_path):
    """Every operation fuzzed with schema-valid and invalid data: no 5xx, no
    undocumented status, no response that breaks the schema."""
    from openapi_spec_validator import validate

    status, schema = api("GET", "/api/schema/")
    assert status == 200
    validate(schema)
    command = [
        os.path.join(os.path.dirname(sys.executable), "st"), "run", f"{daphne_server.http_url}/api/schema/",
        "-H", f"Authorization: Token {staff_token(daphne_server)}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_schema_conformance,negative_data_rejection",
        "--max-examples", "15", "--seed", "1", "--workers", "1", "--phases", "examples,coverage,fuzzing",
        "--generation-allow-x00", "false", "--max-time", "40", "--warnings", "off",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    print(result.stdout[-20000:], result.stderr[-5000:])
    assert result.returncode == 0
