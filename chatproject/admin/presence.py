"""Connected sockets and server instances in the Django admin, read-only.

These rows are the service's live bookkeeping: editing them by hand would
desynchronise the store from the sockets, so the admin only shows them. To
close a user's sockets use the "Disconnect all sockets" action on users.
"""
import time

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from presence.models import Connection, Instance

from .users import ReadOnlyAdmin, timestamp_text


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ("socket_id", "user_link", "instance_uid", "connected", "rooms")
    search_fields = ("user_name", "socket_id", "instance_uid")
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-connected_at",)
    fields = ("socket_id", "user_link", "instance_uid", "connected", "rooms")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("memberships__room")

    @admin.display(description="User", ordering="user_name")
    def user_link(self, connection):
        url = reverse("admin:messaging_chatuser_changelist") + "?" + urlencode({"q": connection.user_name})
        return format_html('<a href="{}">{}</a>', url, connection.user_name)

    @admin.display(description="Connected", ordering="connected_at")
    def connected(self, connection):
        return timestamp_text(connection.connected_at)

    @admin.display(description="Joined rooms")
    def rooms(self, connection):
        return ", ".join(sorted(m.room.name for m in connection.memberships.all())) or "-"


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    """Server processes and their heartbeats; a stale one is recovered by a live one."""

    list_display = ("uid", "last_heartbeat", "heartbeat_age", "socket_count", "recovering_by")
    ordering = ("uid",)
    fields = ("uid", "last_heartbeat", "heartbeat_age", "socket_count", "recovering_by")
    readonly_fields = fields

    def get_queryset(self, request):
        # Connection has no foreign key to Instance: count per uid in a subquery.
        sockets = (
            Connection.objects.filter(instance_uid=OuterRef("uid")).order_by()
            .values("instance_uid").annotate(n=Count("*")).values("n")
        )
        return super().get_queryset(request).annotate(
            sockets=Coalesce(Subquery(sockets, output_field=IntegerField()), Value(0))
        )

    @admin.display(description="Last heartbeat", ordering="heartbeat")
    def last_heartbeat(self, instance):
        return timestamp_text(instance.heartbeat)

    @admin.display(description="Heartbeat age")
    def heartbeat_age(self, instance):
        return f"{max(time.time() * 1000 - instance.heartbeat, 0) / 1000:.1f} s"

    @admin.display(description="Sockets", ordering="sockets")
    def socket_count(self, instance):
        return instance.sockets
