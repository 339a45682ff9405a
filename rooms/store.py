"""Room state in the database. Sync functions, each one short transaction;
`RoomStore` is their async face, one object per service so that tests can
make one operation fail (docs/testing.md, Fault injection)."""
from django.db import IntegrityError, transaction

from chatproject.service.asyncstore import AsyncStore
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import is_valid_name
from messaging.models import Message
from presence.models import RoomUser, UserSeen

from .models import ACCESS_LISTS, Room, RoomListEntry
from .permissions import has_room_access



def get_room(name):
    room = Room.objects.filter(name=name, deleting=False).first() if is_valid_name(name) else None
    if room is None:
        raise ChatServiceError("noRoom", name)
    return room


def get_room_by_id(room_id):
    """The room row, also while it is being deleted; None once it is gone."""
    return Room.objects.filter(pk=room_id).first()


def room_exists(name):
    return is_valid_name(name) and Room.objects.filter(name=name, deleting=False).exists()


def create_room(name, *, owner, whitelist_only, history_max_size, enable_access_lists_updates,
                enable_userlist_updates, whitelist=(), blacklist=(), adminlist=()):
    try:
        with transaction.atomic():
            room = Room.objects.create(
                name=name,
                owner=owner,
                whitelist_only=whitelist_only,
                history_max_size=history_max_size,
                enable_access_lists_updates=enable_access_lists_updates,
                enable_userlist_updates=enable_userlist_updates,
            )
            entries = [
                RoomListEntry(room=room, list_name=list_name, user_name=user_name)
                for list_name, names in (("whitelist", whitelist), ("blacklist", blacklist), ("adminlist", adminlist))
                for user_name in dict.fromkeys(names)
            ]
            RoomListEntry.objects.bulk_create(entries)
    except IntegrityError:
        raise ChatServiceError("roomExists", name) from None
    return room


def lists_of(room_id, user_name):
    """The access lists (not the userlist) that name `user_name`."""
    if user_name is None:
        return set()
    return set(RoomListEntry.objects.filter(room_id=room_id, user_name=user_name).values_list("list_name", flat=True))


def get_list(room, list_name):
    if list_name == "userlist":
        return list(RoomUser.objects.filter(room_id=room.id).values_list("user_name", flat=True))
    return list(RoomListEntry.objects.filter(room_id=room.id, list_name=list_name).values_list("user_name", flat=True))


def has_in_list(room, list_name, user_name):
    if list_name == "userlist":
        return RoomUser.objects.filter(room_id=room.id, user_name=user_name).exists()
    return RoomListEntry.objects.filter(room_id=room.id, list_name=list_name, user_name=user_name).exists()


def add_to_list(room, list_name, names, limit):
    wanted = set(names)
    with transaction.atomic():
        present = set(
            RoomListEntry.objects.filter(room_id=room.id, list_name=list_name, user_name__in=wanted).values_list(
                "user_name", flat=True
            )
        )
        missing = wanted - present
        if missing:
            size = RoomListEntry.objects.filter(room_id=room.id, list_name=list_name).count()
            if size + len(missing) > limit:
                raise ChatServiceError("listLimitExceeded", list_name)
            RoomListEntry.objects.bulk_create(
                [RoomListEntry(room_id=room.id, list_name=list_name, user_name=n) for n in missing],
                ignore_conflicts=True,
            )


def remove_from_list(room, list_name, names):
    RoomListEntry.objects.filter(room_id=room.id, list_name=list_name, user_name__in=set(names)).delete()


def check_access(room_id, user_name):
    """The room access rule for one user, read fresh from the database."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        return False
    return has_room_access(room, user_name, lists_of(room_id, user_name))


def update_room(room_id, **fields):
    Room.objects.filter(pk=room_id).update(**fields)


def set_history_max_size(room_id, size):
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        room.history_max_size = size
        room.save(update_fields=["history_max_size"])
        Message.objects.filter(room_id=room_id, message_id__lte=room.last_message_id - size).delete()


def mark_deleting(name):
    """Hide the room from every command; only the name stays taken (docs/protocol.md, roomDelete)."""
    if not Room.objects.filter(name=name, deleting=False).update(deleting=True):
        raise ChatServiceError("noRoom", name)
    return Room.objects.get(name=name)


def delete_room(room_id):
    Room.objects.filter(pk=room_id).delete()


def seen(room_id, user_name):
    if not is_valid_name(user_name):
        return None
    row = UserSeen.objects.filter(room_id=room_id, user_name=user_name).values_list("timestamp", flat=True).first()
    return row


def userlist(room_id):
    return list(RoomUser.objects.filter(room_id=room_id).values_list("user_name", flat=True))


class RoomStore(AsyncStore):
    """Async access to room state."""

    operations = (
        get_room, get_room_by_id, room_exists, create_room, lists_of, get_list, has_in_list, add_to_list, remove_from_list,
        update_room, set_history_max_size, mark_deleting, delete_room, seen, userlist, check_access,
    )
