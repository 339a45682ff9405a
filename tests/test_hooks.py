"""Behaviour cases (docs/testing.md): hooks (B110-B138, B216, B217), plus sync hooks,
`api.sync` from plain hooks, and camelCase hook aliases (docs/hooks-and-python-api.md, Hooks)."""
import asyncio
import time
import types

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatproject.service import ChatService, ChatServiceError, Hooks
from tests.client import RpcError
from tests.conftest import M, R1, R2, U1, U2


async def rpc_error(coroutine):
    with pytest.raises(RpcError) as caught:
        await coroutine
    return caught.value


async def eventually(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def ns(**hooks):
    """A module as the hooks object (its functions are the hooks)."""
    module = types.ModuleType("test_hooks_module")
    for name, hook in hooks.items():
        setattr(module, name, hook)
    return module


# Lifecycle hooks.


async def test_b110_on_start_uses_the_api(chat):
    """B110: on start uses the api."""
    async def on_start(server):
        await server.add_room(R1, {"whitelist": [U1], "owner": U2})

    service = await chat.start(hooks=ns(on_start=on_start))
    assert chat.events_named("ready") == [()]
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert U1 in await s1.call("roomGetAccessList", R1, "whitelist")
    assert await s1.call("roomGetOwner", R1) == U2


async def test_b111_on_close_called_once_with_service_and_none(chat):
    """B111: on close called once with service and none."""
    calls = []

    async def on_close(server, error):
        calls.append((server, error))

    service = await chat.start(hooks=ns(on_close=on_close))
    assert await service.close() is None
    assert len(calls) == 1
    assert calls[0][0] is service and calls[0][1] is None


# Before / after hooks of commands.


def b112_hooks(kind, seen):
    """Hooks for B112-B114; `kind` is "async", "sync" or "mixed"."""

    def check(info, after):
        seen.append(
            {
                "server": info.server,
                "user_name": info.user_name,
                "id": info.id,
                "args": list(info.args),
                "results": info.results,
                "error": info.error,
                "after": after,
            }
        )

    async def before_async(info):
        check(info, False)
        return None

    async def after_async(info):
        check(info, True)
        return "data"

    def before_sync(info):
        check(info, False)
        # From a plain hook the service is reached through `server.sync`.
        seen.append({"has_room": info.server.sync.has_room(R1)})
        return None

    def after_sync(info):
        check(info, True)
        seen.append({"has_room": info.server.sync.has_room(R1)})
        return "data"

    if kind == "async":
        return ns(room_create_before=before_async, room_create_after=after_async)
    if kind == "sync":
        return ns(room_create_before=before_sync, room_create_after=after_sync)

    class Mixed:  # a class instance: an async method and a plain method
        async def room_create_before(self, info):
            return await before_async(info)

        def room_create_after(self, info):
            check(info, True)
            return "data"

    return Mixed()


async def run_b112(chat, kind):
    seen = []
    service = await chat.start(options={"enableRoomsManagement": True}, hooks=b112_hooks(kind, seen))
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, True) == "data"
    calls = [entry for entry in seen if "after" in entry]
    assert [entry["after"] for entry in calls] == [False, True]
    for entry in calls:
        assert entry["server"] is service
        assert entry["user_name"] == U1
        assert entry["id"] == s1.socket_id
        assert entry["args"] == [R1, True]
    assert calls[0]["results"] is None and calls[0]["error"] is None
    assert isinstance(calls[1]["results"], list) and calls[1]["error"] is None
    return seen, service


async def test_b112_before_and_after_hooks_see_exec_info(chat):
    """B112: before and after hooks see exec info."""
    await run_b112(chat, "mixed")


async def test_b113_async_hooks(chat):
    """B113: async hooks."""
    await run_b112(chat, "async")


async def test_b114_plain_sync_hooks(chat):
    """B114: plain sync hooks."""
    seen, service = await run_b112(chat, "sync")
    # api.sync worked from the plain hooks: before the creation, then after it.
    assert [entry["has_room"] for entry in seen if "has_room" in entry] == [False, True]
    assert await service.has_room(R1)


async def test_b115_surplus_arguments_are_rest_args(chat):
    """B115: surplus arguments are rest args."""
    seen = []

    async def list_own_sockets_after(info):
        seen.append((list(info.args), list(info.rest_args)))

    service = await chat.start(hooks=ns(list_own_sockets_after=list_own_sockets_after))
    s1 = await chat.client(service, U1)
    assert await s1.call("listOwnSockets", True) == {s1.socket_id: []}
    assert seen == [([], [True])]


async def test_b116_before_hook_rewrites_arguments(chat):
    """B116: before hook rewrites arguments."""
    async def room_get_whitelist_mode_before(info):
        info.args = [R2]

    service = await chat.start(
        options={"enableRoomsManagement": True},
        hooks=ns(room_get_whitelist_mode_before=room_get_whitelist_mode_before),
    )
    s1 = await chat.client(service, U1)
    await s1.call("roomCreate", R2, False)
    await s1.call("roomCreate", R1, True)
    assert await s1.call("roomGetWhitelistMode", R1) is False


async def test_b117_after_hook_returns_a_richer_value(chat):
    """B117: after hook returns a richer value."""
    async def list_own_sockets_after(info):
        return {"sockets": info.results[0], "more": True}

    service = await chat.start(hooks=ns(list_own_sockets_after=list_own_sockets_after))
    s1 = await chat.client(service, U1)
    assert await s1.call("listOwnSockets") == {"sockets": {s1.socket_id: []}, "more": True}


# Connection hooks.


async def test_b118_on_disconnect_at_close(chat):
    """B118: on disconnect at close."""
    seen = []

    async def on_disconnect(server, data):
        seen.append(data)

    service = await chat.start(hooks=ns(on_disconnect=on_disconnect))
    s1 = await chat.client(service, U1)
    await service.close()
    assert len(seen) == 1
    data = seen[0]
    assert data["id"] == s1.socket_id and isinstance(data["id"], str)
    assert data["nconnected"] == 0 and type(data["nconnected"]) is int
    assert isinstance(data["rooms_removed"], list)
    assert isinstance(data["joined_sockets"], list)


async def test_b119_on_join_before_the_reply(chat):
    """B119: on join before the reply."""
    seen = []

    async def on_join(server, data):
        seen.append(data)

    service = await chat.start(hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert seen == [{"id": s1.socket_id, "room_name": R1, "njoined": 1}]


async def test_b120_lock_time_exceeded(chat):
    """B120: lock time exceeded."""
    calls = []

    async def on_join(server, data):
        calls.append(data)
        if len(calls) == 1:
            await asyncio.sleep(1)

    service = await chat.start(options={"lockTTL": 500}, hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await eventually(lambda: chat.events_named("lockTimeExceeded"))
    events = chat.events_named("lockTimeExceeded")
    assert len(events) == 1
    lock_id, info = events[0]
    assert isinstance(lock_id, str) and lock_id
    assert info == {"user_name": U1, "room_name": R1}


async def test_b121_on_leave_before_the_reply(chat):
    """B121: on leave before the reply."""
    seen = []

    async def on_leave(server, data):
        seen.append(data)

    service = await chat.start(hooks=ns(on_leave=on_leave))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    assert await s1.call("roomLeave", R1) == 0
    assert seen == [{"id": s1.socket_id, "room_name": R1, "njoined": 0}]


async def test_b122_on_leave_at_disconnect_before_echo(chat):
    """B122: on leave at disconnect before echo."""
    seen = []

    async def on_leave(server, data):
        seen.append(data)

    service = await chat.start(hooks=ns(on_leave=on_leave))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    await s2.call("roomJoin", R1)
    sid1 = s1.socket_id
    await s1.close()
    assert await s2.notification("socketDisconnectEcho") == [sid1, 1]
    assert seen == [{"id": sid1, "room_name": R1, "njoined": 1}]


async def test_b123_on_leave_at_removal_before_access_removed(chat):
    """B123: on leave at removal before access removed."""
    seen = []

    async def on_leave(server, data):
        seen.append(data)

    service = await chat.start(hooks=ns(on_leave=on_leave))
    await service.add_room(R1, {"owner": U2})
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    await s1.call("roomJoin", R1)
    await s2.call("roomAddToList", R1, "blacklist", [U1])
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert seen == [{"id": s1.socket_id, "room_name": R1, "njoined": 0}]


async def test_b124_before_result_skips_command_and_after(chat):
    """B124: before result skips command and after."""
    after_calls = []

    async def list_own_sockets_before(info):
        return "asdf"

    async def list_own_sockets_after(info):
        after_calls.append(info)

    service = await chat.start(
        hooks=ns(list_own_sockets_before=list_own_sockets_before, list_own_sockets_after=list_own_sockets_after)
    )
    s1 = await chat.client(service, U1)
    reply = await s1.request("listOwnSockets")
    assert "error" not in reply and reply["result"] == "asdf"
    assert after_calls == []


# Message checkers.


async def test_b125_direct_messages_checker(chat):
    """B125: direct messages checker."""
    async def direct_messages_checker(message):
        return None

    service = await chat.start(
        options={"enableDirectMessages": True}, hooks=ns(direct_messages_checker=direct_messages_checker)
    )
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    html = "<b>HTML message.</b>"
    await s1.call("directMessage", U2, {"htmlMessage": html})
    (message,) = await s2.notification("directMessage")
    assert message["htmlMessage"] == html
    assert message["author"] == U1
    assert isinstance(message["timestamp"], int) and not isinstance(message["timestamp"], bool)


async def test_b126_room_messages_checker(chat):
    """B126: room messages checker."""
    async def room_messages_checker(message):
        return None

    service = await chat.start(hooks=ns(room_messages_checker=room_messages_checker))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    html = "<b>HTML message.</b>"
    assert await s1.call("roomMessage", R1, {"htmlMessage": html}) == 1
    room, message = await s1.notification("roomMessage")
    assert room == R1
    assert set(message) == {"htmlMessage", "author", "timestamp", "id"}
    assert message["htmlMessage"] == html and message["author"] == U1 and message["id"] == 1
    assert isinstance(message["timestamp"], int)


async def test_b127_nested_content_kept_verbatim(chat):
    """B127: nested content kept verbatim."""
    async def room_messages_checker(message):
        return None

    service = await chat.start(hooks=ns(room_messages_checker=room_messages_checker))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    data = {"bytes": [5, 0, 255], "nested": {"type": "Buffer", "n": None}}
    assert await s1.call("roomMessage", R1, {"data": data}) == 1
    _, message = await s1.notification("roomMessage")
    assert message["data"] == data
    history = await s1.call("roomRecentHistory", R1)
    assert history[0] == message


async def test_b128_checker_errors(chat):
    """B128: checker errors."""
    calls = []

    def room_messages_checker(message):  # a plain function
        calls.append(message)
        if "bad" in message:
            raise ValueError("bad key")
        if "htmlMessage" not in message:
            raise ChatServiceError("badFormat")

    service = await chat.start(hooks=ns(room_messages_checker=room_messages_checker))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    error = await rpc_error(s1.call("roomMessage", R1, {"x": 1}))
    assert error.code == "badFormat"
    bad = {"htmlMessage": "a", "bad": 1}
    error = await rpc_error(s1.call("roomMessage", R1, bad))
    assert (error.code, error.args_) == ("badArgument", [1, bad])
    calls.clear()
    error = await rpc_error(s1.call("roomMessage", R1, "str"))
    assert (error.code, error.args_) == ("badArgument", [1, "str"])
    assert calls == []


async def test_b129_no_checker_default_format_and_checkers_are_independent(chat, svc):
    """B129: no checker default format and checkers are independent."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    error = await rpc_error(s1.call("roomMessage", R1, {"htmlMessage": "x"}))
    assert (error.code, error.args_) == ("badArgument", [1, {"htmlMessage": "x"}])

    async def room_messages_checker(message):
        return None

    checked = await chat.start(
        options={"enableDirectMessages": True}, hooks=ns(room_messages_checker=room_messages_checker)
    )
    t1 = await chat.client(checked, U1)
    await chat.client(checked, U2)
    error = await rpc_error(t1.call("directMessage", U2, {"htmlMessage": "x"}))
    assert (error.code, error.args_) == ("badArgument", [1, {"htmlMessage": "x"}])
    # The room checker does relax roomMessage on that service.
    await t1.call("roomJoin", R1)
    assert await t1.call("roomMessage", R1, {"htmlMessage": "x"}) == 1


async def test_b130_server_overwrites_author_id_timestamp(chat):
    """B130: server overwrites author id timestamp."""
    async def room_messages_checker(message):
        return None

    service = await chat.start(hooks=ns(room_messages_checker=room_messages_checker))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    assert await s1.call("roomMessage", R1, {"html": "x", "author": "mallory", "id": 99, "timestamp": 1}) == 1
    _, message = await s1.notification("roomMessage")
    assert message["author"] == U1 and message["id"] == 1
    assert message["timestamp"] != 1 and isinstance(message["timestamp"], int)
    assert message["html"] == "x"


# on_join refusing, before/after hook outcomes.


async def test_b131_on_join_refusal_rolls_back(chat):
    """B131: on join refusal rolls back."""
    async def on_join(server, data):
        if data["id"] in refused_sockets:
            raise ChatServiceError("joinRefused")

    refused_sockets = set()
    service = await chat.start(options={"enableUserlistUpdates": True}, hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s2 = await chat.client(service, U2)
    await s2.call("roomJoin", R1)
    s1 = await chat.client(service, U1)
    refused_sockets.add(s1.socket_id)  # user1's socket only
    error = await rpc_error(s1.call("roomJoin", R1))
    assert error.code == "joinRefused"
    await s2.no_notification("roomUserJoined")
    assert await s2.call("roomGetAccessList", R1, "userlist") == [U2]
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}
    assert await s2.call("roomMessage", R1, M) == 1
    await s2.notification("roomMessage")
    await s1.no_notification("roomMessage")


async def test_b132_before_error_skips_after(chat):
    """B132: before error skips after."""
    after_calls = []

    async def room_join_before(info):
        raise ChatServiceError("nope")

    async def room_join_after(info):
        after_calls.append(info)

    service = await chat.start(hooks=ns(room_join_before=room_join_before, room_join_after=room_join_after))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    error = await rpc_error(s1.call("roomJoin", R1))
    assert error.code == "nope"
    assert after_calls == []
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}


async def test_b133_after_hook_value_replaces_an_error(chat):
    """B133: after hook value replaces an error."""
    seen = []

    async def room_join_after(info):
        seen.append((info.error, info.results))
        return 42

    service = await chat.start(hooks=ns(room_join_after=room_join_after))
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", "nope") == 42
    (error, results), = seen
    assert isinstance(error, ChatServiceError) and error.code == "noRoom"
    assert results is None


async def test_b134_after_hook_none_keeps_the_error(chat):
    """B134: after hook none keeps the error."""
    seen = []

    async def room_join_after(info):
        seen.append(info.error)
        return None

    service = await chat.start(hooks=ns(room_join_after=room_join_after))
    s1 = await chat.client(service, U1)
    error = await rpc_error(s1.call("roomJoin", "nope"))
    assert (error.code, error.args_) == ("noRoom", ["nope"])
    assert len(seen) == 1


async def test_b135_unexpected_hook_exception_is_internal_error(chat):
    """B135: unexpected hook exception is internal error."""
    async def list_own_sockets_before(info):
        raise KeyError("secret detail")

    service = await chat.start(hooks=ns(list_own_sockets_before=list_own_sockets_before))
    s1 = await chat.client(service, U1)
    error = await rpc_error(s1.call("listOwnSockets"))
    assert error.code == "internalError"
    assert error.rpc_code == -32603
    assert "secret detail" not in str(error.error)


async def test_b136_data_travels_from_before_to_after(chat):
    """B136: data travels from before to after."""
    recorded = []

    async def room_message_before(info):
        info.data["t"] = 1

    async def room_message_after(info):
        recorded.append(dict(info.data))

    service = await chat.start(hooks=ns(room_message_before=room_message_before, room_message_after=room_message_after))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    assert await s1.call("roomMessage", R1, M) == 1
    assert recorded == [{"t": 1}]


async def test_b137_before_hook_sets_bypass_permissions(chat):
    """B137: before hook sets bypass permissions."""
    async def room_message_before(info):
        info.bypass_permissions = True

    service = await chat.start(hooks=ns(room_message_before=room_message_before))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomMessage", R1, M) == 1


async def test_b137_without_the_hook_not_joined_is_refused(chat, svc):
    """Control for B137: the same message without the hook is refused."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    error = await rpc_error(s1.call("roomMessage", R1, M))
    assert error.code == "notJoined"


async def test_b138_after_hook_sees_processed_message(chat):
    """B138: after hook sees processed message."""
    recorded = []

    async def room_message_after(info):
        recorded.append(info.args[1])

    service = await chat.start(hooks=ns(room_message_after=room_message_after))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    assert await s1.call("roomMessage", R1, M) == 1
    (message,) = recorded
    assert message["author"] == U1
    assert type(message["timestamp"]) is int
    assert message["id"] == 1
    assert message["textMessage"] == M["textMessage"]


# Decisions.


async def test_b216_hooks_base_class_switches_nothing_on(chat):
    """B216: hooks base class switches nothing on."""
    ran = []

    class MyHooks(Hooks):
        async def list_own_sockets_after(self, info):
            ran.append(True)
            return None

    service = await chat.start(hooks=MyHooks())
    s1 = await chat.client(service, U1)  # logged in by the default on_connect
    assert s1.login["params"][0] == U1
    await service.add_room(R1)
    await s1.call("roomJoin", R1)
    error = await rpc_error(s1.call("roomMessage", R1, {"htmlMessage": "x"}))
    assert (error.code, error.args_) == ("badArgument", [1, {"htmlMessage": "x"}])
    assert await s1.call("listOwnSockets") == {s1.socket_id: [R1]}
    assert ran == [True]


async def test_b217_on_join_nested_exec_does_not_deadlock(chat):
    """B217: on join nested exec does not deadlock."""
    calls = []
    results = []

    async def on_join(server, data):
        calls.append(data)
        results.append(await server.exec_user_command({"user_name": U1, "id": data["id"]}, "roomJoin", data["room_name"]))

    service = await chat.start(hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    started = time.monotonic()
    assert await s1.call("roomJoin", R1, timeout=1) == 1
    assert time.monotonic() - started < 1
    assert results == [1]
    assert len(calls) == 1


# Plain synchronous hooks reaching the service through api.sync; aliases.


async def test_plain_sync_on_join_uses_api_sync(chat):
    seen = []

    def on_join(server, data):
        seen.append(
            (
                server.sync.has_room(data["room_name"]),
                server.sync.has_room("missing"),
                server.sync.room_has_in_list(data["room_name"], "userlist", U1),
            )
        )

    service = await chat.start(hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert seen == [(True, False, True)]


async def test_plain_sync_on_join_nested_exec_through_api_sync(chat):
    results = []

    def on_join(server, data):
        results.append(server.sync.exec_user_command({"user_name": U1, "id": data["id"]}, "listOwnSockets"))

    service = await chat.start(hooks=ns(on_join=on_join))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1, timeout=3) == 1
    assert results == [{s1.socket_id: [R1]}]


async def test_camel_case_hook_aliases_are_honoured(chat):
    joined = []

    class CamelHooks:
        async def roomMessageBefore(self, info):  # noqa: N802
            if info.args[1].get("textMessage") == "refuse":
                raise ChatServiceError("refused")

        async def listOwnSocketsAfter(self, info):  # noqa: N802
            return {"wrapped": info.results[0]}

        def onJoin(self, server, data):  # noqa: N802
            joined.append(data["njoined"])

        async def roomMessagesChecker(self, message):  # noqa: N802
            return None

    service = await chat.start(hooks=CamelHooks())
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert joined == [1]
    error = await rpc_error(s1.call("roomMessage", R1, {"textMessage": "refuse"}))
    assert error.code == "refused"
    assert await s1.call("roomMessage", R1, {"htmlMessage": "relaxed"}) == 1
    assert await s1.call("listOwnSockets") == {"wrapped": {s1.socket_id: [R1]}}


async def test_both_snake_and_camel_names_is_a_startup_error(chat):
    class Both:
        async def room_message_before(self, info):
            return None

        async def roomMessageBefore(self, info):  # noqa: N802
            return None

    with pytest.raises(ImproperlyConfigured):
        ChatService(hooks=Both(), layer=chat.layer)
    with pytest.raises(ImproperlyConfigured):
        ChatService(hooks=ns(on_join=lambda s, d: None, onJoin=lambda s, d: None), layer=chat.layer)


async def test_b138_direct_message_after_hook_sees_processed_message(chat):
    """B138: direct message after hook sees processed message."""
    recorded = []

    async def direct_message_after(info):
        recorded.append(info.args[1])

    service = await chat.start(options={"enableDirectMessages": True}, hooks=ns(direct_message_after=direct_message_after))
    s1 = await chat.client(service, U1)
    await chat.client(service, U2)
    result = await s1.call("directMessage", U2, {"textMessage": "hi"})
    (message,) = recorded
    assert message == result
    assert message["author"] == U1 and type(message["timestamp"]) is int and "id" not in message
