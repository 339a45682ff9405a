"""Rooms and their access lists in the database.

`RoomStore` is the service's way in: each method is one short transaction
run in Django's database thread. One store object per service, so that a
test can make one operation of one service fail (docs/testing.md, Fault
injection). This app knows nothing of presence or history: the userlist
lives in `presence`, messages in `messaging`.
"""
from django.db import IntegrityError, transaction

from chatproject.common.errors import ChatServiceError
from chatproject.common.hops import database_hop
from chatproject.common.names import is_valid_name

from .models import Room, RoomListEntry
from .permissions import has_room_access


def lists_naming(room_id, user_name):
    """The access lists (not the userlist) that name `user_name`."""
    if user_name is None:
        return set()
    return set(RoomListEntry.objects.filter(room_id=room_id, user_name=user_name).values_list("list_name", flat=True))


class RoomStore:
    @database_hop
    def get_room(self, name):
        room = Room.objects.filter(name=name, deleting=False).first() if is_valid_name(name) else None
        if room is None:
            raise ChatServiceError("noRoom", name)
        return room

    @database_hop
    def get_room_by_id(self, room_id):
        """The room row, also while it is being deleted; None once it is gone."""
        return Room.objects.filter(pk=room_id).first()

    @database_hop
    def room_exists(self, name):
        return is_valid_name(name) and Room.objects.filter(name=name, deleting=False).exists()

    @database_hop
    def create_room(self, name, *, owner, whitelist_only, history_max_size, enable_access_lists_updates,
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

    @database_hop
    def lists_of(self, room_id, user_name):
        """The access lists (not the userlist) that name `user_name`."""
        return lists_naming(room_id, user_name)

    @database_hop
    def get_list(self, room, list_name):
        """An access list's names (the userlist is presence's)."""
        return list(
            RoomListEntry.objects.filter(room_id=room.id, list_name=list_name).values_list("user_name", flat=True)
        )

    @database_hop
    def has_in_list(self, room, list_name, user_name):
        return RoomListEntry.objects.filter(room_id=room.id, list_name=list_name, user_name=user_name).exists()

    @database_hop
    def add_to_list(self, room, list_name, names, limit):
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

    @database_hop
    def remove_from_list(self, room, list_name, names):
        RoomListEntry.objects.filter(room_id=room.id, list_name=list_name, user_name__in=set(names)).delete()

    @database_hop
    def check_access(self, room_id, user_name):
        """The room access rule for one user, read fresh from the database."""
        room = Room.objects.filter(pk=room_id).first()
        if room is None:
            return False
        return has_room_access(room, user_name, lists_naming(room_id, user_name))

    @database_hop
    def update_room(self, room_id, **fields):
        Room.objects.filter(pk=room_id).update(**fields)

    @database_hop
    def mark_deleting(self, name):
        """Hide the room from every command; only the name stays taken (docs/protocol.md, roomDelete)."""
        if not Room.objects.filter(name=name, deleting=False).update(deleting=True):
            raise ChatServiceError("noRoom", name)
        return Room.objects.get(name=name)

    @database_hop
    def delete_room(self, room_id):
        Room.objects.filter(pk=room_id).delete()

    @database_hop
    def count_rooms(self):
        return Room.objects.filter(deleting=False).count()

    @database_hop
    def rooms_by_name(self, offset, limit):
        return list(Room.objects.filter(deleting=False).order_by("name")[offset:offset + limit])

    @database_hop
    def rooms_open_to(self, user_name):
        """The rooms `user_name` may join, by name: their name, owner and mode."""
        listed = {}
        for room_id, list_name in RoomListEntry.objects.filter(user_name=user_name).values_list("room_id", "list_name"):
            listed.setdefault(room_id, set()).add(list_name)
        return [
            {"name": room.name, "owner": room.owner, "whitelistOnly": room.whitelist_only}
            for room in Room.objects.filter(deleting=False).order_by("name")
            if has_room_access(room, user_name, listed.get(room.id, set()))
        ]
