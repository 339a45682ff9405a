"""Rooms and their access lists (docs/protocol.md, Rooms and Permissions)."""
from django.db import models

ACCESS_LISTS = ("whitelist", "blacklist", "adminlist")
# With the userlist, which is presence: who is in the room now.
ROOM_LISTS = ACCESS_LISTS + ("userlist",)


class Room(models.Model):
    name = models.TextField(unique=True)
    owner = models.TextField(null=True, blank=True)
    whitelist_only = models.BooleanField(default=False)
    history_max_size = models.BigIntegerField()
    enable_access_lists_updates = models.BooleanField(default=False)
    enable_userlist_updates = models.BooleanField(default=False)
    # Ids are allocated from this counter in the transaction that stores the message.
    last_message_id = models.BigIntegerField(default=0)
    # Set while roomDelete removes the members: the room is hidden but its name is taken.
    deleting = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RoomListEntry(models.Model):
    """One name on one of a room's whitelist, blacklist or adminlist."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="list_entries")
    list_name = models.CharField(max_length=16, choices=[(n, n) for n in ACCESS_LISTS])
    user_name = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "list_name", "user_name"], name="room_list_entry_unique")
        ]
        verbose_name_plural = "room list entries"

    def __str__(self):
        return f"{self.list_name}: {self.user_name}"
