"""The HTTP admin API (docs/rest-api.md), in process.

The views use `chatproject.service.api`; each test puts its own started
service there, and WebSocket clients of that service see the live effects.
The Django test client is synchronous: it runs through `sync_to_async`.
"""
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import chatproject.service as service_package
from chatproject.service import ChatServiceError
from presence.models import RoomUser
from tests.conftest import M, R1, U1, U2, U3

MAX_SAFE = 2**53 - 1


class Rest:
    """A synchronous DRF test client, called from async tests."""

    def __init__(self, client):
        self.client = client

    async def call(self, method, path, body=None, **kwargs):
        if body is not None:
            kwargs.setdefault("data", json.dumps(body))
            kwargs.setdefault("content_type", "application/json")
        return await sync_to_async(getattr(self.client, method))(path, **kwargs)

    async def get(self, path, **kwargs):
        return await self.call("get", path, **kwargs)

    async def post(self, path, body=None, **kwargs):
        return await self.call("post", path, body, **kwargs)

    async def patch(self, path, body=None, **kwargs):
        return await self.call("patch", path, body, **kwargs)

    async def delete(self, path, **kwargs):
        return await self.call("delete", path, **kwargs)


def make_user(username, staff=True, active=True):
    user = User.objects.create_user(username, password="pw-" + username, is_staff=staff, is_active=active)
    return user, Token.objects.create(user=user).key


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + key)
    return Rest(client)


@pytest.fixture
async def use_service(monkeypatch):
    """Make the REST views use the given service."""

    def use(service):
        monkeypatch.setattr(service_package, "api", service, raising=False)
        return service

    return use


@pytest.fixture
async def svc(chat, use_service):
    return use_service(await chat.start())


@pytest.fixture
async def admin(svc):
    _, key = await sync_to_async(make_user)("admin")
    return token_client(key)


def error(response, status, code, args=None):
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    if args is not None:
        assert body["args"] == args, body
    return body


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json() if response.content else None


# Authentication and permissions.


async def test_anonymous_is_401_with_www_authenticate(svc):
    response = await Rest(APIClient()).get("/api/rooms/")
    body = error(response, 401, "notAuthenticated")
    assert "args" not in body
    assert response["WWW-Authenticate"].startswith("Token")


async def test_invalid_token_is_401(svc):
    error(await token_client("0" * 40).get("/api/rooms/"), 401, "notAuthenticated")


async def test_inactive_staff_token_is_401(svc):
    _, key = await sync_to_async(make_user)("gone", active=False)
    error(await token_client(key).get("/api/rooms/"), 401, "notAuthenticated")


async def test_non_staff_is_403(svc):
    _, key = await sync_to_async(make_user)("plain", staff=False)
    client = token_client(key)
    error(await client.get("/api/rooms/"), 403, "permissionDenied")
    error(await client.post("/api/rooms/", {"name": R1}), 403, "permissionDenied")
    assert not await svc.has_room(R1)


async def test_staff_session_needs_csrf_for_changes(svc):
    await sync_to_async(make_user)("sess")
    client = APIClient(enforce_csrf_checks=True)
    assert await sync_to_async(client.login)(username="sess", password="pw-sess")
    rest = Rest(client)
    assert ok(await rest.get("/api/rooms/"))["count"] == 0  # safe methods need no token
    body = error(await rest.post("/api/rooms/", {"name": R1}), 403, "permissionDenied")
    assert "CSRF" in body["message"]
    assert not await svc.has_room(R1)
    secret = "a" * 32
    client.cookies["csrftoken"] = secret
    ok(await rest.post("/api/rooms/", {"name": R1}, HTTP_X_CSRFTOKEN=secret), 201)
    assert await svc.has_room(R1)


async def test_token_needs_no_csrf(admin, svc):
    admin.client.handler.enforce_csrf_checks = True
    ok(await admin.post("/api/rooms/", {"name": R1}), 201)


async def test_schema_and_docs_are_staff_only(admin, svc):
    error(await Rest(APIClient()).get("/api/schema/"), 401, "notAuthenticated")
    error(await Rest(APIClient()).get("/api/docs/"), 401, "notAuthenticated")
    schema = ok(await admin.get("/api/schema/"))
    assert schema["openapi"].startswith("3.")
    docs = await admin.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    # Its start-up script is a separate request (no inline script, CSP); it names the schema.
    script = await admin.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript") and b"/api/schema/" in script.content
    # The page works offline: its assets come from this server, not a CDN.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
    assert b"cdn.jsdelivr.net" not in docs.content


async def test_schema_is_valid_openapi_and_lists_every_operation(admin, svc):
    from openapi_spec_validator import validate

    schema = ok(await admin.get("/api/schema/"))
    validate(schema)
    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("GET", "/api/rooms/"), ("POST", "/api/rooms/"),
        ("GET", "/api/rooms/{room}/"), ("PATCH", "/api/rooms/{room}/"), ("DELETE", "/api/rooms/{room}/"),
        ("GET", "/api/rooms/{room}/lists/{list}/"), ("POST", "/api/rooms/{room}/lists/{list}/"),
        ("POST", "/api/rooms/{room}/lists/{list}/remove/"),
        ("GET", "/api/rooms/{room}/access/{user}/"), ("GET", "/api/rooms/{room}/history/"),
        ("POST", "/api/rooms/{room}/messages/"),
        ("GET", "/api/users/"), ("POST", "/api/users/"),
        ("GET", "/api/users/{user}/"), ("DELETE", "/api/users/{user}/"),
        ("POST", "/api/users/{user}/disconnect/"), ("GET", "/api/users/{user}/direct-access/{sender}/"),
        ("POST", "/api/exec/"),
        ("POST", "/api/recovery/instances/{instance}/"), ("POST", "/api/recovery/rooms/{room}/"),
        ("POST", "/api/recovery/users/{user}/"), ("GET", "/api/instances/"),
    }
    room = schema["components"]["schemas"]["RoomDetail"]
    assert set(room["properties"]) == {
        "name", "owner", "whitelistOnly", "historyMaxSize", "historySize", "lastMessageId",
        "enableAccessListsUpdates", "enableUserlistUpdates", "userCount",
        "whitelist", "blacklist", "adminlist", "userlist",
    }
    create = schema["paths"]["/api/rooms/"]["post"]
    assert "201" in create["responses"] and "requestBody" in create


# Transport-level errors.


async def test_unknown_paths_are_404_for_everyone(admin, svc):
    for path in ("/api/", "/api/nothing/", "/api/rooms/r/unknown/", "/api/rooms", "/api/users/u/x/y/"):
        error(await admin.get(path), 404, "notFound")
        error(await Rest(APIClient()).get(path), 404, "notFound")


async def test_method_not_allowed(admin, svc):
    response = await admin.call("put", "/api/rooms/", {})
    error(response, 405, "methodNotAllowed")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]
    error(await admin.delete("/api/exec/"), 405, "methodNotAllowed")
    error(await admin.get("/api/rooms/r/lists/whitelist/remove/"), 405, "methodNotAllowed")
    error(await admin.call("options", "/api/rooms/"), 405, "methodNotAllowed")


async def test_unsupported_media_type(admin, svc):
    error(await admin.post("/api/rooms/", data="name=r", content_type="application/x-www-form-urlencoded"),
          415, "unsupportedMediaType")
    # A body without Content-Type would be ignored by DRF: refused instead.
    untyped = await sync_to_async(admin.client.generic)("POST", "/api/rooms/", b'{"name": "r"}', CONTENT_TYPE="")
    error(untyped, 415, "unsupportedMediaType")
    assert not await svc.has_room("r")


@pytest.mark.parametrize(
    "text", ['{"name": ', "[1,", '{"name": NaN}', '{"name": "\\ud800"}', "[" * 100 + "]" * 100, "1" * 5000]
)
async def test_unparseable_body_is_bad_argument(admin, svc, text):
    error(await admin.post("/api/rooms/", data=text, content_type="application/json"), 400, "badArgument",
          ["body", None])


async def test_non_object_body(admin, svc):
    error(await admin.post("/api/rooms/", [R1]), 400, "badArgument", ["body", [R1]])
    error(await admin.post("/api/rooms/", data="null", content_type="application/json"), 400, "badArgument",
          ["body", None])
    error(await admin.post("/api/users/", "x"), 400, "badArgument", ["body", "x"])


async def test_invalid_utf8_body(admin, svc):
    error(await admin.post("/api/rooms/", data=b'{"name": "\xff"}', content_type="application/json"),
          400, "badArgument", ["body", None])


# Rooms.


async def test_room_create_with_full_state_and_read(admin, svc):
    state = {
        "name": R1, "owner": U1, "whitelistOnly": True, "whitelist": [U2], "blacklist": [U3],
        "adminlist": ["boss"], "historyMaxSize": 7, "enableAccessListsUpdates": True, "enableUserlistUpdates": True,
    }
    created = ok(await admin.post("/api/rooms/", state), 201)
    expected = {
        **state, "historySize": 0, "lastMessageId": 0, "userCount": 0, "userlist": [],
    }
    assert created == expected
    assert ok(await admin.get(f"/api/rooms/{R1}/")) == expected
    assert await svc.room_has_in_list(R1, "whitelist", U2)


async def test_room_create_defaults_come_from_options(chat, use_service):
    service = use_service(
        await chat.start({"historyMaxSize": 3, "enableAccessListsUpdates": True, "enableUserlistUpdates": False})
    )
    _, key = await sync_to_async(make_user)("admin")
    created = ok(await token_client(key).post("/api/rooms/", {"name": R1}), 201)
    assert created["owner"] is None and created["whitelistOnly"] is False
    assert created["historyMaxSize"] == 3 and created["enableAccessListsUpdates"] is True
    assert created["enableUserlistUpdates"] is False
    assert await service.has_room(R1)


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", 5), ("name", None), ("owner", 5), ("owner", ["x"]), ("whitelistOnly", 1), ("whitelistOnly", "true"),
        ("whitelist", "bob"), ("whitelist", ["a", 1]), ("blacklist", None), ("adminlist", {"a": 1}),
        ("historyMaxSize", -1), ("historyMaxSize", 1.5), ("historyMaxSize", True), ("historyMaxSize", "5"),
        ("historyMaxSize", MAX_SAFE + 1), ("enableAccessListsUpdates", 0), ("enableUserlistUpdates", "no"),
        ("unknownField", 1), ("whitelist", ["nul\x00"]), ("owner", "a\x00b"),
    ],
)
async def test_room_create_bad_argument(admin, svc, field, value):
    body = {"name": R1, field: value}
    error(await admin.post("/api/rooms/", body), 400, "badArgument", [field, value])
    assert not await svc.has_room(R1)


async def test_room_create_errors(admin, svc):
    error(await admin.post("/api/rooms/", {}), 400, "badArgument", ["name", None])
    error(await admin.post("/api/rooms/", {"name": "a:b"}), 400, "invalidName", ["a:b"])
    error(await admin.post("/api/rooms/", {"name": ""}), 400, "invalidName", [""])
    ok(await admin.post("/api/rooms/", {"name": R1}), 201)
    error(await admin.post("/api/rooms/", {"name": R1}), 409, "roomExists", [R1])


async def test_room_list_limits(chat, use_service):
    service = use_service(await chat.start({"roomListSizeLimit": 2}))
    _, key = await sync_to_async(make_user)("admin")
    admin = token_client(key)
    for list_name in ("whitelist", "blacklist", "adminlist"):
        error(await admin.post("/api/rooms/", {"name": R1, list_name: ["a", "b", "c"]}), 400, "listLimitExceeded",
              [list_name])
    assert not await service.has_room(R1)
    # Distinct names count, as the service counts them.
    ok(await admin.post("/api/rooms/", {"name": R1, "whitelist": ["a", "b", "a"]}), 201)
    error(await admin.post(f"/api/rooms/{R1}/lists/blacklist/", {"userNames": ["x", "y", "z"]}), 400,
          "listLimitExceeded", ["blacklist"])
    # The service checks the list after the addition.
    error(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {"userNames": ["c"]}), 400,
          "listLimitExceeded", ["whitelist"])
    assert sorted(ok(await admin.get(f"/api/rooms/{R1}/lists/whitelist/"))["userNames"]) == ["a", "b"]


async def test_room_pagination(admin, svc):
    names = [f"room{i:03d}" for i in range(101)]
    for name in names:
        await svc.add_room(name)
    first = ok(await admin.get("/api/rooms/"))
    assert first["count"] == 101 and first["previous"] is None
    assert [room["name"] for room in first["results"]] == names[:100]
    assert first["next"].endswith("/api/rooms/?page=2")
    assert set(first["results"][0]) == {
        "name", "owner", "whitelistOnly", "historyMaxSize", "historySize", "lastMessageId",
        "enableAccessListsUpdates", "enableUserlistUpdates", "userCount",
    }
    second = ok(await admin.get("/api/rooms/", data={"page": 2}))
    assert [room["name"] for room in second["results"]] == names[100:] and second["next"] is None
    assert second["previous"] is not None
    error(await admin.get("/api/rooms/", data={"page": 3}), 404, "notFound")
    for bad in ("0", "abc", "-1", "1.5"):
        error(await admin.get("/api/rooms/", data={"page": bad}), 400, "badArgument", ["page", bad])


async def test_empty_room_list_and_page_past_end(admin, svc):
    assert ok(await admin.get("/api/rooms/")) == {"count": 0, "next": None, "previous": None, "results": []}
    error(await admin.get("/api/rooms/?page=2"), 404, "notFound")


async def test_room_item_counts(admin, chat, svc):
    await svc.add_room(R1)
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    await client.call("roomMessage", R1, M)
    await client.call("roomMessage", R1, M)
    (item,) = ok(await admin.get("/api/rooms/"))["results"]
    assert item["userCount"] == 1 and item["historySize"] == 2 and item["lastMessageId"] == 2
    detail = ok(await admin.get(f"/api/rooms/{R1}/"))
    assert detail["userlist"] == [U1] and detail["userCount"] == 1 and detail["historySize"] == 2


async def test_room_detail_missing_is_404(admin, svc):
    error(await admin.get("/api/rooms/nope/"), 404, "noRoom", ["nope"])
    error(await admin.patch("/api/rooms/nope/", {}), 404, "noRoom", ["nope"])
    error(await admin.patch("/api/rooms/nope/", {"owner": "x"}), 404, "noRoom", ["nope"])
    error(await admin.delete("/api/rooms/nope/"), 404, "noRoom", ["nope"])


async def test_room_patch_applies_every_field(admin, svc, chat):
    await svc.add_room(R1)
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    for _ in range(3):
        await client.call("roomMessage", R1, M)
    changed = ok(await admin.patch(f"/api/rooms/{R1}/", {
        "owner": U2, "historyMaxSize": 1, "enableAccessListsUpdates": True, "enableUserlistUpdates": True,
        "whitelistOnly": False,
    }))
    assert changed["owner"] == U2 and changed["historyMaxSize"] == 1 and changed["historySize"] == 1
    assert changed["enableAccessListsUpdates"] is True and changed["enableUserlistUpdates"] is True
    assert ok(await admin.patch(f"/api/rooms/{R1}/", {"owner": None}))["owner"] is None
    assert ok(await admin.patch(f"/api/rooms/{R1}/", {})) == ok(await admin.get(f"/api/rooms/{R1}/"))


@pytest.mark.parametrize(
    "field,value",
    [("whitelistOnly", "yes"), ("historyMaxSize", -5), ("enableUserlistUpdates", None), ("name", "x"),
     ("owner", 3)],
)
async def test_room_patch_validates_all_first(admin, svc, field, value):
    await svc.add_room(R1, {"owner": U1})
    before = ok(await admin.get(f"/api/rooms/{R1}/"))
    body = {"owner": U2, "historyMaxSize": 3, "enableAccessListsUpdates": True, field: value}
    error(await admin.patch(f"/api/rooms/{R1}/", body), 400, "badArgument", [field, value])
    assert ok(await admin.get(f"/api/rooms/{R1}/")) == before


async def test_room_patch_owner_before_whitelist_mode(admin, svc, chat):
    """Applied in order: the new owner keeps access when the room closes."""
    await svc.add_room(R1)
    owner, other = await chat.client(svc, U1), await chat.client(svc, U2)
    await owner.call("roomJoin", R1)
    await other.call("roomJoin", R1)
    changed = ok(await admin.patch(f"/api/rooms/{R1}/", {"whitelistOnly": True, "owner": U1}))
    assert changed["whitelistOnly"] is True and changed["userlist"] == [U1]
    assert await other.notification("roomAccessRemoved") == [R1]
    await owner.no_notification("roomAccessRemoved", 0.3)


async def test_room_patch_whitelist_mode_sends_mode_changed(admin, svc, chat):
    await svc.add_room(R1, {"enableAccessListsUpdates": True, "whitelist": [U1]})
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    ok(await admin.patch(f"/api/rooms/{R1}/", {"whitelistOnly": True}))
    assert await client.notification("roomModeChanged") == [R1, True]


async def test_room_delete_throws_everyone_out(admin, svc, chat):
    await svc.add_room(R1, {"owner": U1})
    clients = [await chat.client(svc, user) for user in (U1, U2)]
    for client in clients:
        await client.call("roomJoin", R1)
    assert (await admin.delete(f"/api/rooms/{R1}/")).status_code == 204
    for client in clients:
        assert await client.notification("roomAccessRemoved") == [R1]
    assert not await svc.has_room(R1)
    error(await admin.get(f"/api/rooms/{R1}/"), 404, "noRoom")


# Room lists.


async def test_room_lists_read_add_remove(admin, svc):
    await svc.add_room(R1, {"adminlist": ["boss"]})
    for list_name in ("whitelist", "blacklist", "userlist"):
        assert ok(await admin.get(f"/api/rooms/{R1}/lists/{list_name}/")) == {"userNames": []}
    assert ok(await admin.get(f"/api/rooms/{R1}/lists/adminlist/")) == {"userNames": ["boss"]}
    added = ok(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {"userNames": [U1, U2, U1]}))
    assert sorted(added["userNames"]) == [U1, U2]
    removed = ok(await admin.post(f"/api/rooms/{R1}/lists/whitelist/remove/", {"userNames": [U1, "absent"]}))
    assert removed == {"userNames": [U2]}
    assert ok(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {"userNames": []})) == {"userNames": [U2]}


async def test_room_list_errors(admin, svc):
    await svc.add_room(R1)
    error(await admin.get(f"/api/rooms/{R1}/lists/bogus/"), 400, "noList", ["bogus"])
    error(await admin.post(f"/api/rooms/{R1}/lists/bogus/", {"userNames": [U1]}), 400, "noList", ["bogus"])
    error(await admin.post(f"/api/rooms/{R1}/lists/bogus/remove/", {"userNames": [U1]}), 400, "noList", ["bogus"])
    error(await admin.post(f"/api/rooms/{R1}/lists/userlist/", {"userNames": [U1]}), 403, "notAllowed")
    error(await admin.post(f"/api/rooms/{R1}/lists/userlist/remove/", {"userNames": [U1]}), 403, "notAllowed")
    error(await admin.get("/api/rooms/nope/lists/whitelist/"), 404, "noRoom", ["nope"])
    error(await admin.post("/api/rooms/nope/lists/whitelist/", {"userNames": [U1]}), 404, "noRoom", ["nope"])
    error(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {}), 400, "badArgument", ["userNames", None])
    error(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {"userNames": "bob"}), 400, "badArgument",
          ["userNames", "bob"])
    error(await admin.post(f"/api/rooms/{R1}/lists/whitelist/", {"userNames": [U1], "x": 1}), 400,
          "badArgument", ["x", 1])
    assert ok(await admin.get(f"/api/rooms/{R1}/lists/whitelist/")) == {"userNames": []}


async def test_blacklisting_a_joined_user_removes_them_live(admin, svc, chat):
    await svc.add_room(R1, {"enableUserlistUpdates": True})
    victim, witness = await chat.client(svc, U1), await chat.client(svc, U2)
    await victim.call("roomJoin", R1)
    await witness.call("roomJoin", R1)
    body = ok(await admin.post(f"/api/rooms/{R1}/lists/blacklist/", {"userNames": [U1]}))
    assert body == {"userNames": [U1]}
    assert await victim.notification("roomAccessRemoved") == [R1]
    assert await witness.notification("roomUserLeft") == [R1, U1]
    assert ok(await admin.get(f"/api/rooms/{R1}/lists/userlist/")) == {"userNames": [U2]}


async def test_removing_from_whitelist_removes_live(admin, svc, chat):
    await svc.add_room(R1, {"whitelistOnly": True, "whitelist": [U1]})
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    ok(await admin.post(f"/api/rooms/{R1}/lists/whitelist/remove/", {"userNames": [U1]}))
    assert await client.notification("roomAccessRemoved") == [R1]


# Access.


async def test_room_access(admin, svc, chat):
    await svc.add_room(R1, {"owner": "own", "blacklist": [U2], "adminlist": [U3]})
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    lists = {"whitelist": False, "blacklist": False, "adminlist": False, "userlist": True}
    assert ok(await admin.get(f"/api/rooms/{R1}/access/{U1}/")) == {"access": True, "lists": lists}
    assert ok(await admin.get(f"/api/rooms/{R1}/access/{U2}/")) == {
        "access": False, "lists": {"whitelist": False, "blacklist": True, "adminlist": False, "userlist": False}}
    assert ok(await admin.get(f"/api/rooms/{R1}/access/{U3}/"))["lists"]["adminlist"] is True
    # The user need not exist.
    assert ok(await admin.get(f"/api/rooms/{R1}/access/nobody/"))["access"] is True
    error(await admin.get("/api/rooms/nope/access/nobody/"), 404, "noRoom", ["nope"])


# History and messages.


async def post_messages(svc, count):
    for i in range(count):
        await svc.exec_user_command(True, "roomMessage", R1, {"textMessage": str(i + 1)})


async def test_history_default_limit_after(chat, use_service):
    service = use_service(await chat.start({"historyMaxGetMessages": 3}))
    _, key = await sync_to_async(make_user)("admin")
    admin = token_client(key)
    await service.add_room(R1)
    assert ok(await admin.get(f"/api/rooms/{R1}/history/")) == []
    await post_messages(service, 5)
    ids = lambda answer: [message["id"] for message in answer]  # noqa: E731
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/"))) == [5, 4, 3]
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/?limit=1"))) == [5]
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/?after=0"))) == [3, 2, 1]
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/?after=1&limit=2"))) == [3, 2]
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/?after=5"))) == []
    assert ids(ok(await admin.get(f"/api/rooms/{R1}/history/?after={MAX_SAFE}"))) == []
    first = ok(await admin.get(f"/api/rooms/{R1}/history/?after=0&limit=1"))[0]
    assert first["textMessage"] == "1" and isinstance(first["timestamp"], int)
    for name, value in (("after", "-1"), ("after", "x"), ("after", "1.5"), ("after", str(MAX_SAFE + 1)),
                        ("limit", "0"), ("limit", "4"), ("limit", "-1"), ("limit", "a"), ("after", "")):
        error(await admin.get(f"/api/rooms/{R1}/history/?{name}={value}"), 400, "badArgument", [name, value])
    error(await admin.get("/api/rooms/nope/history/"), 404, "noRoom", ["nope"])


async def test_history_with_zero_max_get_messages(chat, use_service):
    service = use_service(await chat.start({"historyMaxGetMessages": 0}))
    _, key = await sync_to_async(make_user)("admin")
    admin = token_client(key)
    await service.add_room(R1)
    await post_messages(service, 2)
    assert ok(await admin.get(f"/api/rooms/{R1}/history/")) == []
    assert ok(await admin.get(f"/api/rooms/{R1}/history/?after=0")) == []
    error(await admin.get(f"/api/rooms/{R1}/history/?limit=1"), 400, "badArgument", ["limit", "1"])


async def test_post_message_reaches_joined_sockets(admin, svc, chat):
    await svc.add_room(R1)
    await svc.add_user("poster")
    clients = [await chat.client(svc, user) for user in (U1, U2)]
    for client in clients:
        await client.call("roomJoin", R1)
    assert await clients[0].call("roomMessage", R1, M) == 1
    for client in clients:
        await client.notification("roomMessage")
    answer = ok(await admin.post(f"/api/rooms/{R1}/messages/", {"author": "poster", "message": {"textMessage": "x"}}),
                201)
    assert answer == {"id": 2}
    for client in clients:
        room, message = await client.notification("roomMessage")
        assert room == R1 and message["id"] == 2 and message["author"] == "poster" and message["textMessage"] == "x"
    history = ok(await admin.get(f"/api/rooms/{R1}/history/?limit=1"))
    assert history == [message]


async def test_post_message_without_author(admin, svc):
    await svc.add_room(R1)
    assert ok(await admin.post(f"/api/rooms/{R1}/messages/", {"message": {"textMessage": "a"}}), 201) == {"id": 1}
    assert ok(await admin.post(f"/api/rooms/{R1}/messages/", {"author": None, "message": {"textMessage": "b"}}),
              201) == {"id": 2}
    history = ok(await admin.get(f"/api/rooms/{R1}/history/"))
    assert [message.get("author") for message in history] == [None, None]
    assert all("author" not in message for message in history)


async def test_post_message_errors(admin, svc):
    await svc.add_room(R1)
    error(await admin.post(f"/api/rooms/{R1}/messages/", {"author": "ghost", "message": M}), 404, "noUser",
          ["ghost"])
    error(await admin.post("/api/rooms/nope/messages/", {"author": "ghost", "message": M}), 404, "noRoom", ["nope"])
    for bad in ({"textMessage": 5}, {}, {"textMessage": "a", "x": 1}):
        error(await admin.post(f"/api/rooms/{R1}/messages/", {"message": bad}), 400, "badArgument", ["message", bad])
    for bad in ("hi", [M], None):
        error(await admin.post(f"/api/rooms/{R1}/messages/", {"message": bad}), 400, "badArgument", ["message", bad])
    error(await admin.post(f"/api/rooms/{R1}/messages/", {"author": 5, "message": M}), 400, "badArgument",
          ["author", 5])
    error(await admin.post(f"/api/rooms/{R1}/messages/", {"message": M, "id": 3}), 400, "badArgument", ["id", 3])
    nul = {"textMessage": "a\x00"}
    error(await admin.post(f"/api/rooms/{R1}/messages/", {"message": nul}), 400, "badArgument", ["message", nul])
    assert (await svc.exec_user_command(True, "roomHistoryInfo", R1))["lastMessageId"] == 0


# Users.


async def test_user_create_and_read(admin, svc):
    created = ok(await admin.post("/api/users/", {"name": U1, "whitelist": [U2], "blacklist": [U3],
                                                  "whitelistOnly": True}), 201)
    expected = {"name": U1, "whitelistOnly": True, "online": False, "whitelist": [U2], "blacklist": [U3],
                "sockets": {}}
    assert created == expected
    assert ok(await admin.get(f"/api/users/{U1}/")) == expected
    assert ok(await admin.post("/api/users/", {"name": U2}), 201)["whitelistOnly"] is False
    error(await admin.post("/api/users/", {"name": U1}), 409, "userExists", [U1])
    error(await admin.post("/api/users/", {"name": "a{b"}), 400, "invalidName", ["a{b"])
    error(await admin.post("/api/users/", {"name": U3, "whitelistOnly": "true"}), 400, "badArgument",
          ["whitelistOnly", "true"])
    error(await admin.post("/api/users/", {"name": U3, "adminlist": []}), 400, "badArgument", ["adminlist", []])
    error(await admin.get("/api/users/ghost/"), 404, "noUser", ["ghost"])
    assert not await svc.has_user(U3)


async def test_user_list_limits(chat, use_service):
    service = use_service(await chat.start({"directListSizeLimit": 1}))
    _, key = await sync_to_async(make_user)("admin")
    admin = token_client(key)
    error(await admin.post("/api/users/", {"name": U1, "blacklist": ["a", "b"]}), 400, "listLimitExceeded",
          ["blacklist"])
    assert not await service.has_user(U1)


async def test_user_detail_sockets_and_pagination(admin, svc, chat):
    await svc.add_room(R1)
    client = await chat.client(svc, U1)
    other = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    detail = ok(await admin.get(f"/api/users/{U1}/"))
    assert detail["online"] is True
    assert detail["sockets"] == {client.socket_id: [R1], other.socket_id: []}
    for i in range(100):
        await svc.add_user(f"u{i:03d}")
    page = ok(await admin.get("/api/users/"))
    assert page["count"] == 101 and len(page["results"]) == 100 and page["next"]
    last = ok(await admin.get("/api/users/?page=2"))
    assert last["results"] == [{"name": U1, "whitelistOnly": False, "online": True}]
    assert page["results"][0] == {"name": "u000", "whitelistOnly": False, "online": False}
    error(await admin.get("/api/users/?page=3"), 404, "notFound")


async def test_user_delete(admin, svc, chat):
    await svc.add_user(U2)
    assert (await admin.delete(f"/api/users/{U2}/")).status_code == 204
    assert not await svc.has_user(U2)
    error(await admin.delete(f"/api/users/{U2}/"), 404, "noUser", [U2])
    await chat.client(svc, U1)
    error(await admin.delete(f"/api/users/{U1}/"), 409, "userOnline", [U1])
    assert await svc.has_user(U1)


async def test_user_disconnect(admin, svc, chat):
    clients = [await chat.client(svc, U1), await chat.client(svc, U1)]
    response = await admin.post(f"/api/users/{U1}/disconnect/")
    assert ok(response, 202) == {}
    for client in clients:
        assert await client.wait_closed() == 1000
    assert ok(await admin.post("/api/users/ghost/disconnect/", {}), 202) == {}
    error(await admin.post(f"/api/users/{U1}/disconnect/", {"now": True}), 400, "badArgument", ["now", True])


async def test_direct_access(admin, svc):
    await svc.add_user(U1, {"blacklist": [U2], "whitelist": [U3]})
    assert ok(await admin.get(f"/api/users/{U1}/direct-access/{U2}/")) == {
        "access": False, "lists": {"whitelist": False, "blacklist": True}}
    assert ok(await admin.get(f"/api/users/{U1}/direct-access/{U3}/")) == {
        "access": True, "lists": {"whitelist": True, "blacklist": False}}
    assert ok(await admin.get(f"/api/users/{U1}/direct-access/stranger/"))["access"] is True
    assert ok(await admin.get(f"/api/users/{U1}/direct-access/{U1}/"))["access"] is False
    error(await admin.get(f"/api/users/ghost/direct-access/{U1}/"), 404, "noUser", ["ghost"])


# execUserCommand.


class ExecHooks:
    def room_get_owner_before(self, info):
        if info.args[0] == "custom":
            raise ChatServiceError("myCustomCode", "x")
        if info.args[0] == "crash":
            raise RuntimeError("secret detail")
        if info.args[0] == "slow":
            raise ChatServiceError("timeout")


@pytest.fixture
async def hooked(chat, use_service):
    service = use_service(await chat.start(hooks=ExecHooks()))
    _, key = await sync_to_async(make_user)("admin")
    return service, token_client(key)


async def test_exec_results(hooked, chat):
    service, admin = hooked
    await service.add_room(R1, {"owner": U1})
    await service.add_user(U1)
    assert ok(await admin.post("/api/exec/", {"command": "roomGetOwner", "args": [R1], "bypassPermissions": True})) \
        == {"result": U1}
    assert ok(await admin.post("/api/exec/", {"userName": U1, "command": "roomGetOwner", "args": [R1]})) == \
        {"result": U1}
    assert ok(await admin.post("/api/exec/", {"userName": U1, "command": "directGetWhitelistMode", "args": []})) == \
        {"result": False}
    client = await chat.client(service, U1)
    joined = await admin.post("/api/exec/", {"userName": U1, "id": client.socket_id, "command": "roomJoin",
                                             "args": [R1]})
    assert ok(joined) == {"result": 1}
    assert (await client.notification("roomJoinedEcho"))[0] == R1
    # Surplus arguments are not an error.
    assert ok(await admin.post("/api/exec/", {"userName": U1, "command": "roomGetOwner", "args": [R1, 1, 2]})) == \
        {"result": U1}


async def test_exec_error_statuses(hooked):
    service, admin = hooked
    await service.add_room(R1, {"owner": "own"})
    await service.add_room("custom")
    await service.add_room("crash")
    await service.add_room("slow")
    await service.add_user(U1)
    cases = [
        ({"command": "nope", "args": []}, 400, "noCommand", ["nope"]),
        ({"command": "roomGetOwner", "args": []}, 400, "wrongArgumentsCount", [1, 0]),
        ({"command": "roomGetOwner", "args": [5]}, 400, "badArgument", [0, 5]),
        ({"command": "systemMessage", "args": [1]}, 400, "noLogin", []),
        ({"userName": U1, "command": "roomJoin", "args": [R1]}, 400, "noSocket", ["roomJoin"]),
        ({"userName": U1, "id": "bogus", "command": "roomJoin", "args": [R1]}, 400, "invalidSocket", ["bogus"]),
        ({"userName": U1, "command": "roomGetAccessList", "args": [R1, "nolist"]}, 403, "notJoined", [R1]),
        ({"userName": U1, "command": "roomAddToList", "args": [R1, "whitelist", [U1]]}, 403, "notAllowed", []),
        ({"bypassPermissions": True, "command": "roomGetAccessList", "args": [R1, "nolist"]}, 400, "noList",
         ["nolist"]),
        ({"userName": "ghost", "command": "roomGetOwner", "args": [R1]}, 404, "noUser", ["ghost"]),
        ({"bypassPermissions": True, "command": "roomGetOwner", "args": ["nope"]}, 404, "noRoom", ["nope"]),
        ({"command": "directMessage", "args": [U1, M], "userName": U1}, 403, "notAllowed", []),
        ({"bypassPermissions": True, "command": "roomCreate", "args": [R1, False]}, 409, "roomExists", [R1]),
        ({"bypassPermissions": True, "command": "roomGetOwner", "args": ["custom"]}, 400, "myCustomCode", ["x"]),
        ({"bypassPermissions": True, "command": "roomGetOwner", "args": ["slow"]}, 503, "timeout", []),
    ]
    for body, status, code, args in cases:
        error(await admin.post("/api/exec/", body), status, code, args)
    body = error(await admin.post("/api/exec/", {"bypassPermissions": True, "command": "roomGetOwner",
                                                 "args": ["crash"]}), 500, "internalError")
    assert "secret" not in json.dumps(body)
    # bypassHooks skips the before hook.
    assert ok(await admin.post("/api/exec/", {"bypassPermissions": True, "bypassHooks": True,
                                              "command": "roomGetOwner", "args": ["custom"]})) == {"result": None}


@pytest.mark.parametrize(
    "body,field,value",
    [
        ({"args": []}, "command", None),
        ({"command": "roomGetOwner"}, "args", None),
        ({"command": 5, "args": []}, "command", 5),
        ({"command": "roomGetOwner", "args": "x"}, "args", "x"),
        ({"command": "roomGetOwner", "args": [], "userName": 3}, "userName", 3),
        ({"command": "roomGetOwner", "args": [], "id": 3}, "id", 3),
        ({"command": "roomGetOwner", "args": [], "bypassPermissions": 1}, "bypassPermissions", 1),
        ({"command": "roomGetOwner", "args": [], "bypassHooks": "yes"}, "bypassHooks", "yes"),
        ({"command": "roomGetOwner", "args": [], "context": {}}, "context", {}),
        ({"command": "roomGetOwner", "args": ["a\x00"]}, "args", ["a\x00"]),
    ],
)
async def test_exec_bad_arguments(admin, svc, body, field, value):
    error(await admin.post("/api/exec/", body), 400, "badArgument", [field, value])


# Recovery and instances.


async def test_recovery_calls(admin, svc, chat):
    await svc.add_room(R1)
    await svc.add_user(U1)
    # A userlist entry without any joined socket is repaired by roomStateSync.
    room_id = (await svc.rooms.get_room(R1)).id
    await sync_to_async(RoomUser.objects.create)(room_id=room_id, user_name=U2)
    assert (await admin.post(f"/api/recovery/rooms/{R1}/")).status_code == 204
    assert ok(await admin.get(f"/api/rooms/{R1}/lists/userlist/")) == {"userNames": []}
    assert (await admin.post(f"/api/recovery/users/{U1}/", {})).status_code == 204
    assert (await admin.post("/api/recovery/instances/unknown-instance/")).status_code == 204
    error(await admin.post("/api/recovery/rooms/nope/"), 404, "noRoom", ["nope"])
    error(await admin.post("/api/recovery/users/ghost/"), 404, "noUser", ["ghost"])
    error(await admin.post(f"/api/recovery/rooms/{R1}/", {"force": 1}), 400, "badArgument", ["force", 1])


async def test_instance_recovery_cleans_a_dead_instance(admin, svc, chat):
    await svc.add_room(R1)
    dead = await chat.start()
    client = await chat.client(dead, U1)
    await client.call("roomJoin", R1)
    dead.stop_heartbeat()
    assert ok(await admin.get(f"/api/rooms/{R1}/"))["userlist"] == [U1]
    assert (await admin.post(f"/api/recovery/instances/{dead.instance_uid}/")).status_code == 204
    assert ok(await admin.get(f"/api/rooms/{R1}/"))["userlist"] == []
    assert ok(await admin.get(f"/api/users/{U1}/"))["sockets"] == {}


async def test_instances(admin, svc, chat):
    await chat.client(svc, U1)
    await chat.client(svc, U2)
    other = await chat.start()
    await other.presence.write_heartbeat(other.instance_uid, 1)  # long ago
    answer = {item["id"]: item for item in ok(await admin.get("/api/instances/"))}
    assert answer[svc.instance_uid]["alive"] is True and answer[svc.instance_uid]["sockets"] == 2
    assert isinstance(answer[svc.instance_uid]["heartbeat"], int)
    assert answer[other.instance_uid] == {"id": other.instance_uid, "heartbeat": 1, "alive": False, "sockets": 0}


# Names in paths (the test client sends decoded paths; %2F needs daphne: tests/e2e).


async def test_names_with_spaces_and_non_ascii(admin, svc):
    for name in ("with space", "naïve ☃", "100%", "a+b"):
        ok(await admin.post("/api/rooms/", {"name": name}), 201)
        from urllib.parse import quote

        assert ok(await admin.get(f"/api/rooms/{quote(name, safe='')}/"))["name"] == name
    error(await admin.get("/api/rooms/a%20b/"), 404, "noRoom", ["a b"])


async def test_nul_in_path_is_bad_argument(admin, svc):
    await svc.add_room(R1)
    error(await admin.get(f"/api/rooms/{R1}/access/a%00b/"), 400, "badArgument", ["user", "a\x00b"])
