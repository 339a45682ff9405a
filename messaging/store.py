"""Users, direct-messaging lists and room history in the database.

`post_message` is the hot path of the whole service: one query for the room
and the poster's presence, one transaction for the id and the row.
"""
import json

from django.db import IntegrityError, connection, transaction

from chatproject.service.asyncstore import AsyncStore
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import is_valid_name
from presence.models import Connection, RoomUser
from rooms.models import Room

from .models import ChatUser, DirectListEntry, Message


def add_user(name, whitelist=(), blacklist=(), whitelist_only=False):
    try:
        with transaction.atomic():
            user = ChatUser.objects.create(name=name, whitelist_only=whitelist_only)
            DirectListEntry.objects.bulk_create(
                [DirectListEntry(user=user, list_name="whitelist", name=n) for n in dict.fromkeys(whitelist)]
                + [DirectListEntry(user=user, list_name="blacklist", name=n) for n in dict.fromkeys(blacklist)]
            )
    except IntegrityError:
        raise ChatServiceError("userExists", name) from None



def get_user(name):
    user = ChatUser.objects.filter(name=name).first() if is_valid_name(name) else None
    if user is None:
        raise ChatServiceError("noUser", name)
    return user


def has_user(name):
    return is_valid_name(name) and ChatUser.objects.filter(name=name).exists()


def delete_user(name):
    with transaction.atomic():
        user = get_user(name)
        if Connection.objects.filter(user_name=name).exists():
            raise ChatServiceError("userOnline", name)
        user.delete()


def direct_lists_of(user, name):
    return set(DirectListEntry.objects.filter(user=user, name=name).values_list("list_name", flat=True))


def direct_get(user_name, list_name):
    return list(
        DirectListEntry.objects.filter(user__name=user_name, list_name=list_name).values_list("name", flat=True)
    )


def direct_add(user_name, list_name, names, limit):
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


def direct_remove(user_name, list_name, names):
    DirectListEntry.objects.filter(user__name=user_name, list_name=list_name, name__in=set(names)).delete()


def set_direct_mode(user_name, mode):
    ChatUser.objects.filter(name=user_name).update(whitelist_only=mode)


def get_direct_mode(user_name):
    return get_user(user_name).whitelist_only


def has_direct_access(recipient, sender):
    """The direct access rule (docs/protocol.md, Permissions); False for an unknown recipient."""
    user = ChatUser.objects.filter(name=recipient).first()
    if user is None or sender == recipient:
        return False
    lists = direct_lists_of(user, sender) if sender is not None else set()
    if "blacklist" in lists:
        return False
    if user.whitelist_only:
        return "whitelist" in lists
    return True


ROOM_AND_PRESENCE_SQL = (
    f"SELECT r.id, EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u WHERE u.room_id = r.id AND u.user_name = %s)"
    f" FROM {Room._meta.db_table} r WHERE r.name = %s AND NOT r.deleting"
)
NEXT_ID_SQL = (
    f"UPDATE {Room._meta.db_table} SET last_message_id = last_message_id + 1 WHERE id = %s"
    " RETURNING last_message_id, history_max_size"
)
STORE_SQL = f"INSERT INTO {Message._meta.db_table} (room_id, message_id, text) VALUES (%s, %s, %s)"
TRIM_SQL = f"DELETE FROM {Message._meta.db_table} WHERE room_id = %s AND message_id <= %s"


def post_message(room_name, user_name, message, bypass_permissions, now):
    """Check, number and store one room message; returns the processed message.

    Plain SQL on purpose: this is the hot path, and the ORM's query building
    cost more than the database work. Four statements whatever the history size.
    """
    row = None
    if is_valid_name(room_name):
        with connection.cursor() as cursor:
            cursor.execute(ROOM_AND_PRESENCE_SQL, [user_name, room_name])
            row = cursor.fetchone()
    if row is None:
        raise ChatServiceError("noRoom", room_name)
    room_id, present = row
    if not bypass_permissions and (user_name is None or not present):
        raise ChatServiceError("notJoined", room_name)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NEXT_ID_SQL, [room_id])
        message["id"], max_size = cursor.fetchone()
        message["timestamp"] = now
        if max_size > 0:
            cursor.execute(STORE_SQL, [room_id, message["id"], json.dumps(message, separators=(",", ":"))])
            if message["id"] > max_size:
                cursor.execute(TRIM_SQL, [room_id, message["id"] - max_size])
    return message


def history_info(room):
    size = Message.objects.filter(room_id=room.id).count()
    return {
        "historySize": size,
        "historyMaxSize": room.history_max_size,
        "lastMessageId": room.last_message_id,
    }


def recent_history(room, count):
    if count <= 0:
        return []
    texts = Message.objects.filter(room_id=room.id).order_by("-message_id").values_list("text", flat=True)[:count]
    return [json.loads(text) for text in texts]


def history_after(room, after_id, limit):
    """docs/protocol.md, History: up to `limit` messages after `after_id`, newest first."""
    if limit <= 0:
        return []
    stored = Message.objects.filter(room_id=room.id)
    oldest = stored.order_by("message_id").values_list("message_id", flat=True).first()
    if oldest is None:
        return []
    first = max(after_id + 1, oldest)
    final = min(first + limit - 1, room.last_message_id)
    if first > final:
        return []
    texts = stored.filter(message_id__gte=first, message_id__lte=final).order_by("-message_id").values_list("text", flat=True)
    return [json.loads(text) for text in texts]


class MessagingStore(AsyncStore):
    """Async access to users, direct lists and history."""

    operations = (
        add_user, get_user, has_user, delete_user, direct_get, direct_add, direct_remove,
        set_direct_mode, get_direct_mode, has_direct_access, post_message, history_info, recent_history,
        history_after,
    )
