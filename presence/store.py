"""Presence in the database: sockets, room memberships, userlists, seen
timestamps, instance heartbeats and lock leases.

The operations named in commands.md section 12.12 (`attach_socket`,
`detach_socket`, ...) are methods of `PresenceStore`, one object per
service, so that a test can make exactly one of them fail.
"""
from django.db import IntegrityError, transaction
from django.db.models import Q

from chatproject.service.asyncstore import AsyncStore
from chatproject.common.names import is_valid_name
from messaging.models import ChatUser

from .models import Connection, Instance, Membership, RoomLock, RoomUser, UserSeen


def add_socket(user_name, socket_id, instance_uid, now):
    """Record a logged-in socket (creating the user record); returns nconnected."""
    with transaction.atomic():
        ChatUser.objects.get_or_create(name=user_name)
        Connection.objects.create(socket_id=socket_id, user_name=user_name, instance_uid=instance_uid, connected_at=now)
        return Connection.objects.filter(user_name=user_name).count()


def remove_socket_records(socket_id):
    """Delete a socket and its memberships; returns the user's remaining socket count."""
    with transaction.atomic():
        row = Connection.objects.filter(socket_id=socket_id).values_list("user_name", flat=True).first()
        Connection.objects.filter(socket_id=socket_id).delete()
        if row is None:
            return 0
        return Connection.objects.filter(user_name=row).count()


def socket_connected(socket_id, user_name):
    return Connection.objects.filter(socket_id=socket_id, user_name=user_name).exists()


def socket_rooms(socket_id):
    """(room id, room name) of every room the socket is joined to."""
    return list(Membership.objects.filter(connection_id=socket_id).values_list("room_id", "room__name"))


def joined_count(room_id, user_name):
    return Membership.objects.filter(room_id=room_id, user_name=user_name).count()


def attach_socket(room_id, user_name, socket_id):
    """Returns (njoined, newly attached)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                Membership.objects.create(connection_id=socket_id, room_id=room_id, user_name=user_name)
            new = True
        except IntegrityError:
            new = False
        return joined_count(room_id, user_name), new


def detach_socket(room_id, user_name, socket_id):
    """Returns (njoined afterwards, was attached)."""
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(connection_id=socket_id, room_id=room_id).delete()
        return joined_count(room_id, user_name), bool(deleted)


def detach_user_from_room(room_id, user_name):
    """Detach every socket of the user from the room; returns their ids."""
    with transaction.atomic():
        rows = Membership.objects.filter(room_id=room_id, user_name=user_name)
        socket_ids = list(rows.values_list("connection_id", flat=True))
        rows.delete()
        return socket_ids


def userlist_add(room_id, user_name, now):
    """Enter the userlist; returns True when the user was not present before."""
    with transaction.atomic():
        _, created = RoomUser.objects.get_or_create(room_id=room_id, user_name=user_name)
        if created:
            UserSeen.objects.update_or_create(room_id=room_id, user_name=user_name, defaults={"timestamp": now})
        return created


def userlist_remove(room_id, user_name, now):
    """Leave the userlist; returns True when the user was present."""
    with transaction.atomic():
        deleted, _ = RoomUser.objects.filter(room_id=room_id, user_name=user_name).delete()
        if deleted:
            UserSeen.objects.update_or_create(room_id=room_id, user_name=user_name, defaults={"timestamp": now})
        return bool(deleted)


def in_userlist(room_id, user_name):
    return is_valid_name(user_name) and RoomUser.objects.filter(room_id=room_id, user_name=user_name).exists()


def user_sockets(user_name):
    """{socket id: [room names]} over every instance."""
    sockets = {sid: [] for sid in Connection.objects.filter(user_name=user_name).values_list("socket_id", flat=True)}
    for sid, room_name in Membership.objects.filter(user_name=user_name).values_list("connection_id", "room__name"):
        if sid in sockets:
            sockets[sid].append(room_name)
    return sockets


def user_socket_rows(user_name):
    """(socket id, instance uid) of the user's recorded sockets."""
    return list(Connection.objects.filter(user_name=user_name).values_list("socket_id", "instance_uid"))


def socket_instance(socket_id):
    return Connection.objects.filter(socket_id=socket_id).values_list("instance_uid", flat=True).first()


def is_online(user_name):
    return Connection.objects.filter(user_name=user_name).exists()


def rooms_of_user_sockets(user_name):
    """(room id, room name) of every room any socket of the user is joined to."""
    return list(Membership.objects.filter(user_name=user_name).values_list("room_id", "room__name").distinct())


# Instances.


def write_heartbeat(instance_uid, now):
    """Register the instance, or set its heartbeat."""
    Instance.objects.update_or_create(uid=instance_uid, defaults={"heartbeat": now})


def touch_heartbeat(instance_uid, now):
    """Renew a live instance's heartbeat. False when other instances declared it
    dead: its record is gone, or claimed by the one recovering it."""
    return bool(Instance.objects.filter(uid=instance_uid, recovering_by__isnull=True).update(heartbeat=now))


def get_heartbeat(instance_uid):
    return Instance.objects.filter(uid=instance_uid).values_list("heartbeat", flat=True).first()


def instance_sockets(instance_uid):
    return dict(Connection.objects.filter(instance_uid=instance_uid).values_list("socket_id", "user_name"))


def delete_instance(instance_uid):
    Instance.objects.filter(uid=instance_uid).delete()


def list_instances():
    return list(Instance.objects.order_by("uid").values_list("uid", "heartbeat"))


def claim_dead_instances(claimer_uid, deadline):
    """Atomically claim instances whose heartbeat is older than `deadline`.

    A claim whose claimer has died since (no heartbeat newer than `deadline`)
    can be taken over, or that recovery would never be finished."""
    live = Instance.objects.filter(heartbeat__gte=deadline).values("uid")
    claimed = []
    for uid in Instance.objects.filter(heartbeat__lt=deadline).exclude(uid=claimer_uid).values_list("uid", flat=True):
        taken = (
            Instance.objects.filter(uid=uid, heartbeat__lt=deadline)
            .filter(Q(recovering_by__isnull=True) | Q(recovering_by=claimer_uid) | ~Q(recovering_by__in=live))
            .update(recovering_by=claimer_uid)
        )
        if taken:
            claimed.append(uid)
    return claimed


# Lock leases (commands.md section 10.4).


def acquire_lock(user_name, room_name, token, now, ttl):
    try:
        with transaction.atomic():
            RoomLock.objects.create(user_name=user_name, room_name=room_name, token=token, expires_at=now + ttl)
        return True
    except IntegrityError:
        pass
    with transaction.atomic():
        return bool(
            RoomLock.objects.filter(user_name=user_name, room_name=room_name, expires_at__lte=now).update(
                token=token, expires_at=now + ttl
            )
        )


def release_lock(user_name, room_name, token):
    RoomLock.objects.filter(user_name=user_name, room_name=room_name, token=token).delete()


class PresenceStore(AsyncStore):
    """Async access to presence state."""

    operations = (
        add_socket, remove_socket_records, socket_connected, socket_rooms, attach_socket, detach_socket,
        detach_user_from_room, userlist_add, userlist_remove, in_userlist, user_sockets, user_socket_rows,
        socket_instance, is_online, rooms_of_user_sockets, joined_count, write_heartbeat, touch_heartbeat, get_heartbeat,
        instance_sockets, delete_instance, list_instances, claim_dead_instances, acquire_lock, release_lock,
    )
