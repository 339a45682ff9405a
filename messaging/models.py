"""Chat users with their direct-messaging lists, and room message history."""
import json

from django.db import models

from rooms.models import Room

DIRECT_LISTS = ("whitelist", "blacklist")


class ChatUser(models.Model):
    """The service's own user record, keyed by name; not linked to auth.User."""

    name = models.TextField(unique=True)
    whitelist_only = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class DirectListEntry(models.Model):
    user = models.ForeignKey(ChatUser, on_delete=models.CASCADE, related_name="direct_entries")
    list_name = models.CharField(max_length=16, choices=[(n, n) for n in DIRECT_LISTS])
    name = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "list_name", "name"], name="direct_list_entry_unique")
        ]
        verbose_name_plural = "direct list entries"


class Message(models.Model):
    """A stored room message: the processed message (with id and timestamp),
    kept as the JSON text it was delivered as, serialised once on the hot path.

    Text rather than a JSON column also keeps what PostgreSQL's jsonb cannot
    hold (a "\\u0000" inside a string), so every message a client may send is stored.
    """

    # No index of its own: the unique (room, message_id) index serves every
    # lookup by room, and each index costs every message's insert and trim.
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages", db_index=False)
    message_id = models.BigIntegerField()
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "message_id"], name="message_room_id_unique")]
        ordering = ["-message_id"]

    @property
    def data(self):
        return json.loads(self.text)
