"""Users, direct-messaging lists and room history in the database.

`MessagingStore` is the service's way in, one object per service; each
method is one short transaction in Django's database thread.
`post_message` is the hot path of the whole service: one query for the room
and the poster's presence, one transaction for the id and the row.
"""
import json

from channels.db import database_sync_to_async
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from chatproject.common.errors import ChatServiceError
from chatproject.common.names import is_valid_name
from presence.models import Connection, RoomUser
from presence.store import add_socket
from rooms.models import Room, RoomListEntry
from rooms.permissions import is_admin

from .models import ChatUser, DirectListEntry, Message
from .permissions import has_direct_access

NEXT_ID_SQL = (
    f"UPDATE {Room._meta.db_table} SET last_message_id = last_message_id + 1"
    f" WHERE name = %s AND NOT deleting AND (%s OR EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u"
    f" WHERE u.room_id = {Room._meta.db_table}.id AND u.user_name = %s))"
    " RETURNING id, last_message_id, history_max_size"
)
ROOM_EXISTS_SQL = f"SELECT 1 FROM {Room._meta.db_table} WHERE name = %s AND NOT deleting"
STORE_SQL = f"INSERT INTO {Message._meta.db_table} (room_id, message_id, text) VALUES (%s, %s, %s)"
TRIM_SQL = f"DELETE FROM {Message._meta.db_table} WHERE room_id = %s AND message_id <= %s"
ENSURE_USER_SQL = (
    f"INSERT INTO {ChatUser._meta.db_table} (name, whitelist_only) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
)
ROOM_AND_READER_SQL = (
    f"SELECT r.id, r.owner, r.last_message_id,"
    f" EXISTS (SELECT 1 FROM {RoomListEntry._meta.db_table} e"
    f" WHERE e.room_id = r.id AND e.user_name = %s AND e.list_name = 'adminlist'),"
    f" EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u WHERE u.room_id = r.id AND u.user_name = %s)"
    f" FROM {Room._meta.db_table} r WHERE r.name = %s AND NOT r.deleting"
)
OLDEST_SQL = f"SELECT MIN(message_id) FROM {Message._meta.db_table} WHERE room_id = %s"
PAGE_SQL = (
    f"SELECT text FROM {Message._meta.db_table}"
    " WHERE room_id = %s AND message_id >= %s AND message_id <= %s ORDER BY message_id DESC"
)


def get_user(name):
    user = ChatUser.objects.filter(name=name).first() if is_valid_name(name) else None
    if user is None:
        raise ChatServiceError("noUser", name)
    return user


def direct_lists_of(user, name):
    return set(DirectListEntry.objects.filter(user=user, name=name).values_list("list_name", flat=True))


def post_message(room_name, user_name, message, bypass_permissions, now):
    """Check, number and store one room message; returns the processed message.

    Plain SQL on purpose: this is the hot path, and the ORM's query building
    cost more than the database work. Three statements whatever the history
    size: the id counter's update, which also checks the room and the poster's
    presence, the insert and the trim; a refused message looks up why.
    A plain function (the store method runs it in the database thread) so
    that its statements can be counted.
    """
    if not is_valid_name(room_name):
        raise ChatServiceError("noRoom", room_name)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NEXT_ID_SQL, [room_name, bool(bypass_permissions), user_name])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(ROOM_EXISTS_SQL, [room_name])
            raise ChatServiceError("notJoined" if cursor.fetchone() else "noRoom", room_name)
        room_id, message["id"], max_size = row
        message["timestamp"] = now
        if max_size > 0:
            cursor.execute(STORE_SQL, [room_id, message["id"], json.dumps(message, separators=(",", ":"))])
            if message["id"] > max_size:
                cursor.execute(TRIM_SQL, [room_id, message["id"] - max_size])
    return message


def parse_stored(texts):
    """Stored message texts as messages: one parse of the joined array costs a
    quarter of a parse per message (a page of 100: 52 against 207 µs)."""
    return json.loads("[" + ",".join(texts) + "]")


def history_page(room_name, user_name, after_id, limit, bypass_permissions):
    """roomHistoryGet (docs/protocol.md, History): up to `limit` messages after
    `after_id`, newest first, for a reader of the room (noRoom, notJoined).

    One hop and three plain statements, like `post_message`: the room with the
    caller's adminlist entry and presence, the oldest stored id, the page.
    """
    row = None
    if is_valid_name(room_name):
        with connection.cursor() as cursor:
            cursor.execute(ROOM_AND_READER_SQL, [user_name, user_name, room_name])
            row = cursor.fetchone()
    if row is None:
        raise ChatServiceError("noRoom", room_name)
    room_id, owner, last_message_id, in_adminlist, present = row
    if not bypass_permissions:
        admin = is_admin(Room(owner=owner), user_name, {"adminlist"} if in_adminlist else set())
        if not (admin or (user_name is not None and present)):
            raise ChatServiceError("notJoined", room_name)
    if limit <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(OLDEST_SQL, [room_id])
        (oldest,) = cursor.fetchone()
        if oldest is None:
            return []
        first = max(after_id + 1, oldest)
        final = min(first + limit - 1, last_message_id)
        if first > final:
            return []
        cursor.execute(PAGE_SQL, [room_id, first, final])
        return parse_stored(text for (text,) in cursor.fetchall())


class MessagingStore:
    """Users, their direct-messaging lists, and room history."""

    @database_sync_to_async
    def add_user(self, name, whitelist=(), blacklist=(), whitelist_only=False):
        try:
            with transaction.atomic():
                user = ChatUser.objects.create(name=name, whitelist_only=whitelist_only)
                DirectListEntry.objects.bulk_create(
                    [DirectListEntry(user=user, list_name="whitelist", name=n) for n in dict.fromkeys(whitelist)]
                    + [DirectListEntry(user=user, list_name="blacklist", name=n) for n in dict.fromkeys(blacklist)]
                )
        except IntegrityError:
            raise ChatServiceError("userExists", name) from None

    @database_sync_to_async
    def get_user(self, name):
        return get_user(name)

    @database_sync_to_async
    def add_login(self, user_name, socket_id, instance_uid, now):
        """A login's records in one database hop and transaction: the user's,
        created at its first login by one plain statement (get_or_create took
        two to four), and the socket's. Returns nconnected."""
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(ENSURE_USER_SQL, [user_name, False])
            return add_socket(user_name, socket_id, instance_uid, now)

    @database_sync_to_async
    def has_user(self, name):
        return is_valid_name(name) and ChatUser.objects.filter(name=name).exists()

    @database_sync_to_async
    def delete_user(self, name):
        with transaction.atomic():
            user = get_user(name)
            if Connection.objects.filter(user_name=name).exists():
                raise ChatServiceError("userOnline", name)
            user.delete()

    @database_sync_to_async
    def direct_get(self, user_name, list_name):
        return list(
            DirectListEntry.objects.filter(user__name=user_name, list_name=list_name).values_list("name", flat=True)
        )

    @database_sync_to_async
    def direct_add(self, user_name, list_name, names, limit):
        wanted = set(names)
        with transaction.atomic():
            user = get_user(user_name)
            present = set(
                DirectListEntry.objects.filter(user=user, list_name=list_name, name__in=wanted).values_list("name", flat=True)
            )
            missing = wanted - present
            if missing:
                size = DirectListEntry.objects.filter(user=user, list_name=list_name).count()
                if size + len(missing) > limit:
                    raise ChatServiceError("listLimitExceeded", list_name)
                DirectListEntry.objects.bulk_create(
                    [DirectListEntry(user=user, list_name=list_name, name=n) for n in missing], ignore_conflicts=True
                )

    @database_sync_to_async
    def direct_remove(self, user_name, list_name, names):
        DirectListEntry.objects.filter(user__name=user_name, list_name=list_name, name__in=set(names)).delete()

    @database_sync_to_async
    def set_direct_mode(self, user_name, mode):
        ChatUser.objects.filter(name=user_name).update(whitelist_only=mode)

    @database_sync_to_async
    def get_direct_mode(self, user_name):
        return get_user(user_name).whitelist_only

    @database_sync_to_async
    def has_direct_access(self, recipient, sender):
        """The direct access rule for `sender`; False for an unknown recipient."""
        user = ChatUser.objects.filter(name=recipient).first()
        if user is None:
            return False
        lists = direct_lists_of(user, sender) if sender is not None else set()
        return has_direct_access(user, sender, lists)

    @database_sync_to_async
    def post_message(self, room_name, user_name, message, bypass_permissions, now):
        return post_message(room_name, user_name, message, bypass_permissions, now)

    @database_sync_to_async
    def set_history_max_size(self, room_id, size):
        """Change a room's history size, dropping what no longer fits."""
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            room.history_max_size = size
            room.save(update_fields=["history_max_size"])
            Message.objects.filter(room_id=room_id, message_id__lte=room.last_message_id - size).delete()

    @database_sync_to_async
    def history_sizes(self, room_ids):
        """{room id: stored message count} of the rooms with any."""
        rows = Message.objects.filter(room_id__in=room_ids).values("room_id").annotate(n=Count("id"))
        return {row["room_id"]: row["n"] for row in rows}

    @database_sync_to_async
    def count_users(self):
        return ChatUser.objects.count()

    @database_sync_to_async
    def users_by_name(self, offset, limit):
        return list(ChatUser.objects.order_by("name")[offset:offset + limit])

    @database_sync_to_async
    def history_info(self, room):
        size = Message.objects.filter(room_id=room.id).count()
        return {
            "historySize": size,
            "historyMaxSize": room.history_max_size,
            "lastMessageId": room.last_message_id,
        }

    @database_sync_to_async
    def recent_history(self, room, count):
        if count <= 0:
            return []
        texts = Message.objects.filter(room_id=room.id).order_by("-message_id").values_list("text", flat=True)[:count]
        return parse_stored(texts)

    @database_sync_to_async
    def history_page(self, room_name, user_name, after_id, limit, bypass_permissions):
        return history_page(room_name, user_name, after_id, limit, bypass_permissions)
