"""The Django admin of rooms, users, history and presence.

The admin's views are synchronous and call the service through `api.sync`;
here they run in a worker thread (as under daphne) while the test's own loop
serves the service and the WebSocket clients, so live effects of an admin
edit are observed on real sockets.
"""
import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import chatproject.service as chat_service
from chatproject.common.errors import ChatServiceError
from messaging.models import ChatUser
from rooms.models import Room
from tests.conftest import M, R1, R2, U1, U2, U3


async def in_thread(function, *args, **kwargs):
    """Run blocking admin code off the loop, closing its thread's connections after."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(call, thread_sensitive=False)()


@pytest.fixture
async def admin(svc, monkeypatch):
    """A Django test client logged in as a superuser; the admin uses the test's service."""
    monkeypatch.setattr(chat_service, "api", svc, raising=False)
    user = await sync_to_async(User.objects.create_superuser)("boss", "boss@example.com", "secret-password")
    client = Client()
    await in_thread(client.force_login, user)
    return client


async def room_pk(name):
    return await Room.objects.filter(name=name).values_list("pk", flat=True).aget()


def change_url(pk):
    return reverse("admin:rooms_room_change", args=[pk])


def form_data(form, **changes):
    """What a browser posts for `form` as rendered, with `changes` typed in.

    Each field also posts its value as first shown (the hidden initial).
    """
    data = {}
    for name, field in form.fields.items():
        shown = form[name].value()
        value = changes.get(name, shown)
        data[form.add_initial_prefix(name)] = "" if shown is None else str(shown)
        if isinstance(value, bool) or name in ("whitelist_only",) or name.startswith("enable_"):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = "\r\n".join(value)
        else:
            data[name] = "" if value is None else str(value)
    return data


def post_change(client, pk, **changes):
    """Open the room's change page and save it with `changes`."""
    page = client.get(change_url(pk))
    assert page.status_code == 200
    return client.post(change_url(pk), form_data(page.context["adminform"].form, **changes))


async def joined_client(chat, svc, user, room):
    client = await chat.client(svc, user)
    await client.call("roomJoin", room)
    return client


def page_messages(response):
    return [str(message) for message in response.context["messages"]] if response.context else []


# The room list.


async def test_room_list_shows_columns_and_searches(chat, svc, admin):
    await svc.add_room(R1, {"owner": "alice", "whitelistOnly": True})
    await svc.add_room(R2, {"owner": "bob"})
    s1 = await joined_client(chat, svc, U1, R2)
    await joined_client(chat, svc, U2, R2)
    for _ in range(3):
        await s1.call("roomMessage", R2, M)
    await svc.change_room_history_max_size(R2, 2)

    response = await in_thread(admin.get, reverse("admin:rooms_room_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    for header in ("Owner", "Mode", "Members", "History size", "Last message id"):
        assert f">{header}<" in html
    rows = {room.name: room for room in response.context["cl"].result_list}
    assert set(rows) == {R1, R2}
    assert (rows[R1].owner, rows[R1].member_count, rows[R1].history_size, rows[R1].last_message_id) == ("alice", 0, 0, 0)
    assert (rows[R2].owner, rows[R2].member_count, rows[R2].history_size, rows[R2].last_message_id) == ("bob", 2, 2, 3)
    assert "whitelist only" in html and ">open<" in html

    by_owner = await in_thread(admin.get, reverse("admin:rooms_room_changelist"), {"q": "alice"})
    assert [room.name for room in by_owner.context["cl"].result_list] == [R1]
    by_name = await in_thread(admin.get, reverse("admin:rooms_room_changelist"), {"q": R2})
    assert [room.name for room in by_name.context["cl"].result_list] == [R2]


async def test_list_pages_query_count_does_not_grow_with_rows(chat, svc, admin):
    pages = [
        reverse("admin:rooms_room_changelist"),
        reverse("admin:messaging_chatuser_changelist"),
        reverse("admin:messaging_message_changelist"),
        reverse("admin:presence_connection_changelist"),
        reverse("admin:presence_instance_changelist"),
    ]

    def count_queries():
        counts = []
        for url in pages:
            with CaptureQueriesContext(connection) as queries:
                assert admin.get(url).status_code == 200
            counts.append(len(queries))
        return counts

    await svc.add_room("a")
    await joined_client(chat, svc, "first", "a")
    few = await in_thread(count_queries)
    for index in range(6):
        await svc.add_room(f"room {index}", {"owner": f"owner {index}"})
        client = await joined_client(chat, svc, f"user {index}", f"room {index}")
        await client.call("roomMessage", f"room {index}", M)
        await svc.add_user(f"offline {index}", {"whitelist": ["x", "y"], "blacklist": ["z"]})
    assert await in_thread(count_queries) == few


# The change form.


async def test_change_form_edits_every_field(chat, svc, admin):
    await svc.add_room(R1, {"owner": "alice", "whitelist": ["w1"], "blacklist": ["b1"], "adminlist": ["a1"]})
    s1 = await joined_client(chat, svc, U1, R1)
    for _ in range(5):
        await s1.call("roomMessage", R1, M)
    pk = await room_pk(R1)

    response = await in_thread(
        post_change, admin, pk,
        owner="carol", whitelist_only=True, history_max_size=2,
        enable_access_lists_updates=True, enable_userlist_updates=True,
        whitelist=["w1", "w2", U1, "with space/é"], blacklist=[], adminlist=["a1", "a2"],
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    room = await Room.objects.aget(pk=pk)
    assert (room.owner, room.whitelist_only, room.history_max_size) == ("carol", True, 2)
    assert room.enable_access_lists_updates and room.enable_userlist_updates
    read = {"bypass_permissions": True}
    assert sorted(await svc.exec_user_command(read, "roomGetAccessList", R1, "whitelist")) == sorted(["w1", "w2", U1, "with space/é"])
    assert await svc.exec_user_command(read, "roomGetAccessList", R1, "blacklist") == []
    assert sorted(await svc.exec_user_command(read, "roomGetAccessList", R1, "adminlist")) == ["a1", "a2"]
    history = await svc.exec_user_command(read, "roomRecentHistory", R1)
    assert [message["id"] for message in history] == [5, 4]
    # Whitelisted before the mode went on, so U1 stayed.
    assert await svc.room_has_in_list(R1, "userlist", U1)
    await s1.no_notification("roomAccessRemoved", wait=0.3)

    # Clearing the owner gives an owner-less room.
    assert (await in_thread(post_change, admin, pk, owner="")).status_code == 302
    assert (await Room.objects.aget(pk=pk)).owner is None


async def test_change_form_applies_only_the_operators_edit(chat, svc, admin):
    """A name added from a chat client while the page was open is kept."""
    await svc.add_room(R1, {"blacklist": ["b1"]})
    pk = await room_pk(R1)

    def edit_with_concurrent_change():
        page = admin.get(change_url(pk))
        form = page.context["adminform"].form
        svc.sync.exec_user_command(True, "roomAddToList", R1, "blacklist", ["meanwhile"])
        return admin.post(change_url(pk), form_data(form, blacklist=["b1", "b2"], owner="dave"))

    assert (await in_thread(edit_with_concurrent_change)).status_code == 302
    blacklist = await svc.exec_user_command(True, "roomGetAccessList", R1, "blacklist")
    assert sorted(blacklist) == ["b1", "b2", "meanwhile"]
    assert (await Room.objects.aget(pk=pk)).owner == "dave"


async def test_change_form_refuses_bad_input_with_clear_errors(chat, svc, admin):
    await svc.add_room(R1, {"owner": "alice"})
    pk = await room_pk(R1)
    response = await in_thread(
        post_change, admin, pk, blacklist=["fine", "bad:name"], owner="x{y}", history_max_size=-1,
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["blacklist"] == ["'bad:name' is not a valid user name (contains ':')."]
    assert errors["owner"] == ["Invalid user name 'x{y}': contains '{', '}'."]
    assert "history_max_size" in errors
    assert await svc.exec_user_command(True, "roomGetAccessList", R1, "blacklist") == []
    assert (await Room.objects.aget(pk=pk)).owner == "alice"


async def test_change_page_shows_userlist_and_sockets_read_only(chat, svc, admin):
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1, R1)
    await chat.client(svc, U2)  # online but not joined
    response = await in_thread(admin.get, change_url(await room_pk(R1)))
    html = response.content.decode()
    assert "Userlist" in html and "Online sockets" in html
    assert s1.socket_id in html
    form = response.context["adminform"].form
    assert "userlist" not in form.fields and "name" not in form.fields
    assert reverse("admin:messaging_message_changelist") + f"?room={await room_pk(R1)}" in html


# Live effects of admin edits.


async def test_blacklisting_in_admin_removes_the_joined_user_at_once(chat, svc, admin):
    await svc.add_room(R1, {"enableUserlistUpdates": True})
    s1 = await joined_client(chat, svc, U1, R1)
    s1_idle = await chat.client(svc, U1)  # never joined: still told
    s2 = await joined_client(chat, svc, U2, R1)

    response = await in_thread(post_change, admin, await room_pk(R1), blacklist=[U1])
    assert response.status_code == 302

    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await s1_idle.notification("roomAccessRemoved") == [R1]
    assert await s2.notification("roomUserLeft") == [R1, U1]
    assert await svc.exec_user_command(True, "roomGetAccessList", R1, "userlist") == [U2]
    await s2.no_notification("roomAccessRemoved", wait=0.3)
    # Removed in the store too: U1 can no longer post.
    with pytest.raises(Exception, match="Not joined"):
        await s1.call("roomMessage", R1, M)


async def test_whitelist_only_in_admin_removes_users_not_whitelisted(chat, svc, admin):
    await svc.add_room(R1, {"owner": U3, "whitelist": [U1]})
    s1 = await joined_client(chat, svc, U1, R1)
    s2 = await joined_client(chat, svc, U2, R1)
    s3 = await joined_client(chat, svc, U3, R1)  # the owner keeps access

    response = await in_thread(post_change, admin, await room_pk(R1), whitelist_only=True)
    assert response.status_code == 302

    assert await s2.notification("roomAccessRemoved") == [R1]
    assert sorted(await svc.exec_user_command(True, "roomGetAccessList", R1, "userlist")) == [U1, U3]
    await s1.no_notification("roomAccessRemoved", wait=0.2)
    await s3.no_notification("roomAccessRemoved", wait=0.1)


async def test_admin_edit_notifies_only_after_it_is_applied(chat, svc, admin):
    """With access list updates on, the room hears the admin's list change."""
    await svc.add_room(R1, {"enableAccessListsUpdates": True})
    s1 = await joined_client(chat, svc, U1, R1)
    assert (await in_thread(post_change, admin, await room_pk(R1), whitelist=[U2])).status_code == 302
    assert await s1.notification("roomAccessListAdded") == [R1, "whitelist", [U2]]


# Adding and deleting rooms.


async def test_add_room_goes_through_the_service(chat, svc, admin):
    url = reverse("admin:rooms_room_add")
    page = await in_thread(admin.get, url)
    form = page.context["adminform"].form
    assert form.initial["history_max_size"] == svc.options.history_max_size
    data = {
        "name": "new room/ü", "owner": "alice", "whitelist_only": "on", "history_max_size": "7",
        "whitelist": "alice\r\nbob\r\n", "blacklist": "", "adminlist": "carol",
    }
    response = await in_thread(admin.post, url, data)
    assert response.status_code == 302
    assert await svc.has_room("new room/ü")
    assert await svc.room_has_in_list("new room/ü", "whitelist", "bob")
    assert await svc.room_has_in_list("new room/ü", "adminlist", "carol")
    room = await Room.objects.aget(name="new room/ü")
    assert (room.owner, room.whitelist_only, room.history_max_size) == ("alice", True, 7)

    bad = await in_thread(admin.post, url, {**data, "name": "a:b"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["name"] == ["Invalid room name 'a:b': contains ':'."]
    taken = await in_thread(admin.post, url, data)
    assert taken.status_code == 200 and "name" in taken.context["adminform"].form.errors


async def test_deleting_a_room_in_admin_throws_joined_users_out(chat, svc, admin):
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1, R1)
    for _ in range(3):
        await s1.call("roomMessage", R1, M)
    pk = await room_pk(R1)
    url = reverse("admin:rooms_room_delete", args=[pk])

    confirm = await in_thread(admin.get, url)
    assert confirm.status_code == 200
    assert dict(confirm.context["model_count"])["stored messages"] == 3

    response = await in_thread(admin.post, url, {"post": "yes"})
    assert response.status_code == 302
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert not await svc.has_room(R1)
    assert not await Room.objects.filter(pk=pk).aexists()


async def test_bulk_delete_in_admin_throws_joined_users_out(chat, svc, admin):
    await svc.add_room(R1)
    await svc.add_room(R2)
    await svc.add_room("kept")
    s1 = await joined_client(chat, svc, U1, R1)
    s2 = await joined_client(chat, svc, U2, R2)
    s3 = await joined_client(chat, svc, U3, "kept")
    selected = [str(await room_pk(R1)), str(await room_pk(R2))]
    url = reverse("admin:rooms_room_changelist")

    confirm = await in_thread(admin.post, url, {"action": "delete_selected", "_selected_action": selected})
    assert confirm.status_code == 200 and dict(confirm.context["model_count"])["rooms"] == 2
    response = await in_thread(admin.post, url, {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
    assert response.status_code == 302

    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await s2.notification("roomAccessRemoved") == [R2]
    assert not await svc.has_room(R1) and not await svc.has_room(R2)
    assert await svc.has_room("kept")
    await s3.no_notification("roomAccessRemoved", wait=0.2)


async def test_service_error_after_commit_is_reported(chat, svc, admin):
    """A room deleted by a client between page load and save: the admin says so."""
    await svc.add_room(R1)
    pk = await room_pk(R1)

    def edit_after_deletion():
        page = admin.get(change_url(pk))
        form = page.context["adminform"].form
        Room.objects.filter(pk=pk).update(deleting=True)  # roomDelete in progress elsewhere
        return admin.post(change_url(pk), form_data(form, blacklist=[U1]), follow=True)

    response = await in_thread(edit_after_deletion)
    assert page_messages(response) == ["Room 'room1': changing the room failed: No such room room1. Nothing was applied."]


async def test_a_step_failing_mid_edit_is_named_with_what_was_applied(chat, svc, admin, monkeypatch):
    """The edit is one change_room call; the page names the failed step and
    counts the steps applied before it, which stay applied."""
    await svc.add_room(R1, {"owner": "alice"})
    pk = await room_pk(R1)

    async def full(*args):
        raise ChatServiceError("listLimitExceeded", "blacklist")

    monkeypatch.setattr(svc.rooms, "add_to_list", full)
    response = await in_thread(
        lambda: admin.post(change_url(pk), form_data(admin.get(change_url(pk)).context["adminform"].form,
                                                     owner="bob", blacklist=["b2"]), follow=True))
    assert page_messages(response) == ["Room 'room1': adding to the blacklist ['b2'] failed: Exceeded blacklist size limit. "
                                       "The 1 change(s) before it were applied."]
    assert (await Room.objects.aget(pk=pk)).owner == "bob"


async def test_success_is_reported_only_when_every_service_step_succeeded(chat, svc, admin):
    """Django's "changed / deleted successfully" is written before the service
    steps run after the commit: it shows when they succeed, and a failed one
    is reported alone, single or bulk deletion alike."""
    for name in (R1, R2, "kept"):
        await svc.add_room(name)
    pk, pk2 = await room_pk(R1), await room_pk(R2)
    edited = await in_thread(lambda: admin.post(
        change_url(pk), form_data(admin.get(change_url(pk)).context["adminform"].form, owner="bob"), follow=True))
    assert [re.sub(r"<[^>]*>", "", text) for text in page_messages(edited)] == ["The room “room1” was changed successfully."]

    def delete_while_deleted_elsewhere(url, data, room):
        assert admin.post(url, data).status_code == 200  # the confirmation page
        Room.objects.filter(name=room).update(deleting=True)  # roomDelete in progress elsewhere
        return admin.post(url, {**data, "post": "yes"}, follow=True)

    deleted = await in_thread(delete_while_deleted_elsewhere, reverse("admin:rooms_room_delete", args=[pk]), {}, R1)
    assert page_messages(deleted) == ["Room 'room1': deleting the room failed: No such room room1. Nothing was applied."]

    await Room.objects.filter(pk=pk).aupdate(deleting=False)
    selected = {"action": "delete_selected", "_selected_action": [str(pk), str(pk2)]}
    bulk = await in_thread(delete_while_deleted_elsewhere, reverse("admin:rooms_room_changelist"), selected, R2)
    assert page_messages(bulk) == ["Bulk deletion: deleting room 'room2' failed: No such room room2. "
                                   "The 1 change(s) before it were applied."]
    assert not await svc.has_room(R1) and await svc.has_room("kept")


# Users.


async def test_user_list_and_disconnect_action(chat, svc, admin):
    await svc.add_user(U3, {"whitelistOnly": True, "whitelist": ["friend"], "blacklist": ["foe"]})
    s1 = await chat.client(svc, U1)
    s1b = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    url = reverse("admin:messaging_chatuser_changelist")

    response = await in_thread(admin.get, url)
    rows = {user.name: user for user in response.context["cl"].result_list}
    assert rows[U1].is_online and rows[U2].is_online and not rows[U3].is_online
    html = response.content.decode()
    assert "friend" in html and "foe" in html and "whitelist only" in html

    pk = await ChatUser.objects.filter(name=U1).values_list("pk", flat=True).aget()
    response = await in_thread(admin.post, url, {"action": "disconnect_all_sockets", "_selected_action": [str(pk)]})
    assert response.status_code == 302
    assert await s1.wait_closed() == 1000
    assert await s1b.wait_closed() == 1000
    await s2.no_notification("anything", wait=0.3)
    assert s2.close_code is None


async def test_users_are_read_only(chat, svc, admin):
    await chat.client(svc, U1)
    pk = await ChatUser.objects.filter(name=U1).values_list("pk", flat=True).aget()
    assert (await in_thread(admin.get, reverse("admin:messaging_chatuser_add"))).status_code == 403
    assert (await in_thread(admin.post, reverse("admin:messaging_chatuser_delete", args=[pk]), {"post": "yes"})).status_code == 403
    page = await in_thread(admin.get, reverse("admin:messaging_chatuser_change", args=[pk]))
    assert page.status_code == 200 and "Sockets" in page.content.decode()
    assert await ChatUser.objects.filter(pk=pk).aexists()


# History.


async def test_message_history_is_newest_first_and_read_only(chat, svc, admin):
    await svc.add_room(R1)
    await svc.add_room(R2)
    s1 = await joined_client(chat, svc, U1, R1)
    await s1.call("roomJoin", R2)
    for index in range(3):
        await s1.call("roomMessage", R1, {"textMessage": f"hello {index}"})
    await s1.call("roomMessage", R2, M)
    url = reverse("admin:messaging_message_changelist")

    response = await in_thread(admin.get, url, {"room": str(await room_pk(R1))})
    assert response.status_code == 200
    listed = response.context["cl"].result_list
    assert [message.message_id for message in listed] == [3, 2, 1]
    html = response.content.decode()
    assert html.index("hello 2") < html.index("hello 1") < html.index("hello 0")
    assert "delete_selected" not in html

    message = listed[0]
    assert (await in_thread(admin.get, reverse("admin:messaging_message_add"))).status_code == 403
    detail = await in_thread(admin.get, reverse("admin:messaging_message_change", args=[message.pk]))
    assert detail.status_code == 200 and "hello 2" in detail.content.decode()
    assert not re.search(r'name="_save"', detail.content.decode())
    changed = await in_thread(admin.post, reverse("admin:messaging_message_change", args=[message.pk]), {"data": "{}"})
    assert changed.status_code == 403
    deleted = await in_thread(admin.post, reverse("admin:messaging_message_delete", args=[message.pk]), {"post": "yes"})
    assert deleted.status_code == 403
    assert await svc.exec_user_command(True, "roomRecentHistory", R1) != []


async def test_presence_pages_render(chat, svc, admin):
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1, R1)
    sockets = await in_thread(admin.get, reverse("admin:presence_connection_changelist"))
    assert sockets.status_code == 200 and s1.socket_id in sockets.content.decode()
    instances = await in_thread(admin.get, reverse("admin:presence_instance_changelist"))
    assert instances.status_code == 200 and svc.instance_uid in instances.content.decode()
    assert (await in_thread(admin.get, reverse("admin:presence_connection_add"))).status_code == 403
