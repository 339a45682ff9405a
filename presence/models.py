"""Who is connected where, which rooms their sockets joined, and locks.

Rows carry the instance id so that a dead instance's sockets can be found
and recovered (docs/hooks-and-python-api.md, Recovery).
"""
from django.db import models

from rooms.models import Room


class Instance(models.Model):
    uid = models.CharField(max_length=64, primary_key=True)
    heartbeat = models.BigIntegerField()
    # Set atomically by the one live instance that recovers this dead one.
    recovering_by = models.CharField(max_length=64, null=True, blank=True)


class Connection(models.Model):
    """One logged-in socket: the socket registry of its instance and its user's record."""

    socket_id = models.CharField(max_length=64, primary_key=True)
    user_name = models.TextField(db_index=True)
    instance_uid = models.CharField(max_length=64, db_index=True)
    connected_at = models.BigIntegerField()


class Membership(models.Model):
    """A socket joined to a room (user_name is copied for the per-user counts)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="memberships")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user_name = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "room"], name="membership_unique")]
        indexes = [models.Index(fields=["room", "user_name"], name="membership_room_user")]


class RoomUser(models.Model):
    """A room's userlist entry: the user has at least one socket joined."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="userlist")
    user_name = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user_name"], name="room_user_unique")]


class UserSeen(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="seen")
    user_name = models.TextField()
    timestamp = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user_name"], name="user_seen_unique")]


class RoomLock(models.Model):
    """Lease of the (user, room) lock (docs/hooks-and-python-api.md, Locks)."""

    user_name = models.TextField()
    room_name = models.TextField()
    token = models.CharField(max_length=64)
    expires_at = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_name", "room_name"], name="room_lock_unique")]
