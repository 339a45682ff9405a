"""Chat users and room history in the Django admin.

Both are read-only here: users' direct-messaging settings belong to the
users themselves, and history is written only by `roomMessage`. The one
write is the "Disconnect all sockets" action, which goes through the
service so that the disconnect procedure runs as for a client-side close.
"""
import json
from datetime import datetime, timezone

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from chatproject import service
from messaging.models import ChatUser, Message
from presence.models import Connection, Membership
from rooms.models import Room

NAMES_SHOWN = 20


def timestamp_text(milliseconds):
    """The service stores Unix milliseconds; show them as UTC time."""
    if not isinstance(milliseconds, int) or isinstance(milliseconds, bool):
        return "-"
    try:
        return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    except (OverflowError, OSError, ValueError):
        return str(milliseconds)


def short_names(names):
    names = sorted(names)
    text = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        text += f" … (+{len(names) - NAMES_SHOWN} more)"
    return text or "-"


class ReadOnlyAdmin(admin.ModelAdmin):
    """The service owns these rows; the admin only shows them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChatUser)
class ChatUserAdmin(ReadOnlyAdmin):
    list_display = ("name", "direct_mode", "direct_whitelist", "direct_blacklist", "online")
    list_filter = ("whitelist_only",)
    search_fields = ("name",)
    list_per_page = 100
    show_full_result_count = False
    actions = ("disconnect_all_sockets",)
    fields = ("name", "direct_mode", "direct_whitelist", "direct_blacklist", "sockets")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .annotate(is_online=Exists(Connection.objects.filter(user_name=OuterRef("name"))))
            .prefetch_related("direct_entries")
        )

    def _direct_list(self, user, list_name):
        return [entry.name for entry in user.direct_entries.all() if entry.list_name == list_name]

    @admin.display(description="Direct messages", ordering="whitelist_only")
    def direct_mode(self, user):
        return "whitelist only" if user.whitelist_only else "open"

    @admin.display(description="Whitelist")
    def direct_whitelist(self, user):
        return short_names(self._direct_list(user, "whitelist"))

    @admin.display(description="Blacklist")
    def direct_blacklist(self, user):
        return short_names(self._direct_list(user, "blacklist"))

    @admin.display(description="Online", boolean=True, ordering="is_online")
    def online(self, user):
        return user.is_online

    @admin.display(description="Sockets")
    def sockets(self, user):
        connections = Connection.objects.filter(user_name=user.name).order_by("connected_at", "socket_id")
        rooms = {}
        for socket_id, room_name in Membership.objects.filter(user_name=user.name).values_list("connection_id", "room__name"):
            rooms.setdefault(socket_id, []).append(room_name)
        rows = (
            (c.socket_id, c.instance_uid, timestamp_text(c.connected_at), ", ".join(sorted(rooms.get(c.socket_id, ()))) or "no room")
            for c in connections
        )
        items = format_html_join("", "<li>{} on instance {}, since {}; joined: {}</li>", rows)
        return format_html("<ul>{}</ul>", items) if items else "(offline)"

    def has_disconnect_permission(self, request):
        return request.user.has_perm("messaging.change_chatuser")

    @admin.action(description="Disconnect all sockets", permissions=["disconnect"])
    def disconnect_all_sockets(self, request, queryset):
        """Asks every instance to close the users' connections (close code 1000)."""
        names = list(queryset.values_list("name", flat=True))
        for name in names:
            service.api.sync.disconnect_user_sockets(name)
        self.message_user(request, f"Asked every server to close the sockets of {len(names)} user(s).", messages.SUCCESS)


class RoomFilter(admin.SimpleListFilter):
    """Filter by room id. Offers the chosen room and the first rooms by name:
    listing every room could be long, and the room's page links here."""

    title = "room"
    parameter_name = "room"
    shown = 50

    def lookups(self, request, model_admin):
        rooms = list(Room.objects.order_by("name").values_list("pk", "name")[: self.shown])
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(pk) != chosen for pk, _ in rooms):
            rooms = list(Room.objects.filter(pk=int(chosen)).values_list("pk", "name")) + rooms
        return [(str(pk), name) for pk, name in rooms]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(room_id=int(value))


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Room history, newest first, one page at a time."""

    list_display = ("message_id", "room_link", "author", "sent", "preview")
    list_display_links = ("message_id",)
    list_filter = (RoomFilter,)
    list_select_related = ("room",)
    # (room, message_id) is unique and indexed: a room's page is an index range.
    ordering = ("-room_id", "-message_id")
    list_per_page = 50
    show_full_result_count = False
    fields = ("room_link", "message_id", "author", "sent", "content")
    readonly_fields = fields

    @admin.display(description="Room", ordering="room__name")
    def room_link(self, message):
        url = reverse("admin:messaging_message_changelist") + "?" + urlencode({"room": message.room_id})
        return format_html('<a href="{}">{}</a>', url, message.room.name)

    @admin.display(description="Author")
    def author(self, message):
        author = message.data.get("author") if isinstance(message.data, dict) else None
        return author if author is not None else "(server)"

    @admin.display(description="Sent")
    def sent(self, message):
        return timestamp_text(message.data.get("timestamp") if isinstance(message.data, dict) else None)

    @admin.display(description="Message")
    def preview(self, message):
        data = message.data if isinstance(message.data, dict) else {}
        text = data.get("textMessage")
        if not isinstance(text, str):
            text = json.dumps({k: v for k, v in data.items() if k not in ("id", "timestamp", "author")}, ensure_ascii=False)
        return text if len(text) <= 100 else text[:99] + "…"

    @admin.display(description="Content")
    def content(self, message):
        return format_html("<pre>{}</pre>", json.dumps(message.data, ensure_ascii=False, indent=2))
