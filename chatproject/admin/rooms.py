"""Rooms in the Django admin.

The admin never writes a room's state itself: creation, every edit and
deletion go through the chat service, so that they take effect live exactly
as from a client or the REST API (a user blacklisted here is thrown out of
the room at once). Edits and deletions are applied after the admin's own
transaction has committed (docs/architecture.md, Live effects from the
admin and REST); the service's operations commit on their own and cannot
run inside the admin's atomic block, whose open transaction they would
otherwise share. Django's success message for such a request is shown only
once they have all succeeded; a failure is reported alone.
"""
import logging
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from chatproject import service
from chatproject.common.errors import ChatServiceError
from chatproject.service.server_api import RoomChangeError
from chatproject.common.names import MAX_SAFE_INTEGER, name_problem
from messaging.models import Message
from presence.models import Membership, RoomUser
from rooms.models import ACCESS_LISTS, Room, RoomListEntry

logger = logging.getLogger("chat")


def count_of(model):
    """A per-room row count as a subquery: two counted relations in one query
    would otherwise join into a cross product."""
    rows = model.objects.filter(room=OuterRef("pk")).order_by().values("room").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def run_steps(request, steps, what):
    """Run the service calls of one admin change in order; report the first failure.

    Stops at the first error: later steps could depend on it. A failing
    `change_room` names its own failed step and those applied before it.
    """
    done = 0
    for description, call in steps:
        try:
            call()
        except ChatServiceError as exc:
            if isinstance(exc, RoomChangeError):
                description, done = exc.step, done + len(exc.applied)
            logger.warning("admin change %s: %s failed: %s", what, description, exc)
            messages.error(
                request,
                f"{what}: {description} failed: {exc}."
                + (f" The {done} change(s) before it were applied." if done else " Nothing was applied."),
            )
            return False
        done += 1
    return True


class SuccessGate:
    """Django's success messages of an admin request whose service steps run
    after its commit. Django writes them before the steps have run: they are
    held until then, and shown only if every step succeeded, so that a failure
    is never shown next to "changed successfully"."""

    def __init__(self):
        self.succeeded = None  # True or False once the steps have run
        self.held = []

    def show(self, write):
        """Write a success message (`write()`) now, later, or never."""
        if self.succeeded is None:
            self.held.append(write)
        elif self.succeeded:
            write()

    def settle(self, succeeded):
        self.succeeded = succeeded
        held, self.held = self.held, []
        if succeeded:
            for write in held:
                write()


class NameListField(forms.CharField):
    """A list of user names, one per line, as a textarea.

    Names keep every character but line breaks (which the name rule forbids
    anyway), so lines are not stripped; empty lines are ignored.
    """

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40, "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, (list, tuple)):
            return list(value)
        text = super().to_python(value) or ""
        lines = (line[:-1] if line.endswith("\r") else line for line in text.split("\n"))
        return list(dict.fromkeys(line for line in lines if line))

    def has_changed(self, initial, data):
        return set(self.to_python(initial or [])) != set(self.to_python(data))


# Form fields and the room state keys (add_room, change_room) they edit.
STATE_KEYS = {
    "enable_access_lists_updates": "enableAccessListsUpdates",
    "enable_userlist_updates": "enableUserlistUpdates",
    "history_max_size": "historyMaxSize",
    "owner": "owner",
    "whitelist_only": "whitelistOnly",
}


class RoomForm(forms.ModelForm):
    """Room state plus its three access lists.

    On the change page each field carries its value as first shown, so that
    saving applies only what the operator edited: names added to a list from
    a chat client meanwhile are not removed by an unrelated edit here.
    """

    name = forms.CharField(strip=False, widget=forms.TextInput(attrs={"size": 40}))
    owner = forms.CharField(
        required=False, strip=False, empty_value=None, widget=forms.TextInput(attrs={"size": 40}),
        help_text="Has every admin right. Leave empty for no owner. Changing it removes nobody.",
    )
    history_max_size = forms.IntegerField(
        min_value=0, max_value=MAX_SAFE_INTEGER, label="History max size",
        help_text="Number of stored messages; lowering it deletes the oldest at once.",
    )
    whitelist = NameListField(help_text="Users allowed in whitelist-only mode. One name per line.")
    blacklist = NameListField(help_text="Users refused; the blacklist beats the whitelist. One name per line.")
    adminlist = NameListField(help_text="Room administrators (always have access). One name per line.")

    class Meta:
        model = Room
        fields = [
            "name", "owner", "whitelist_only", "history_max_size",
            "enable_access_lists_updates", "enable_userlist_updates",
        ]
        labels = {
            "whitelist_only": "Whitelist only",
            "enable_access_lists_updates": "Send access list updates",
            "enable_userlist_updates": "Send userlist updates",
        }
        help_texts = {
            "whitelist_only": "Only whitelisted users and admins may join; others are removed on save.",
            "enable_access_lists_updates": "Notify the room of list and mode changes.",
            "enable_userlist_updates": "Notify the room of users joining and leaving.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            entries = RoomListEntry.objects.filter(room=self.instance).order_by("user_name")
            current = {list_name: [] for list_name in ACCESS_LISTS}
            for list_name, user_name in entries.values_list("list_name", "user_name"):
                current[list_name].append(user_name)
            for list_name, names in current.items():
                self.initial.setdefault(list_name, names)
            for field in self.fields.values():
                field.show_hidden_initial = True

    def shown_value(self, name):
        """The value the operator started from (the hidden initial), else the stored one."""
        field = self.fields[name]
        key = self.add_initial_prefix(name)
        if self.is_bound and key in self.data:
            try:
                return field.to_python(field.hidden_widget().value_from_datadict(self.data, self.files, key))
            except forms.ValidationError:
                pass
        return self.get_initial_for_field(field, name)

    def clean_name(self):
        name = self.cleaned_data["name"]
        reason = name_problem(name)
        if reason:
            raise forms.ValidationError(f"Invalid room name {name!r}: {reason}.")
        return name

    def clean_owner(self):
        owner = self.cleaned_data.get("owner")
        if owner is not None and owner != self.initial.get("owner"):
            reason = name_problem(owner)
            if reason:
                raise forms.ValidationError(f"Invalid user name {owner!r}: {reason}.")
        return owner

    def _clean_list(self, list_name):
        names = self.cleaned_data[list_name]
        previous = set(self.initial.get(list_name) or ())
        errors = []
        for name in names:
            if name in previous:
                continue  # kept as it was: names added elsewhere are not re-judged here
            reason = name_problem(name)
            if reason:
                errors.append(f"{name!r} is not a valid user name ({reason}).")
        limit = service.api.options.room_list_size_limit
        if len(names) > limit:
            errors.append(f"At most {limit} names are allowed, got {len(names)}.")
        if errors:
            raise forms.ValidationError(errors)
        return names

    def clean_whitelist(self):
        return self._clean_list("whitelist")

    def clean_blacklist(self):
        return self._clean_list("blacklist")

    def clean_adminlist(self):
        return self._clean_list("adminlist")

    def room_state(self):
        """The add_room state (docs/hooks-and-python-api.md, Operations) of a new room."""
        data = self.cleaned_data
        return {key: data[field] for field, key in STATE_KEYS.items()} | {name: data[name] for name in ACCESS_LISTS}

    def room_changes(self):
        """The `change_room` changes that turn what the operator saw into what they saved."""
        data = self.cleaned_data
        changes = {
            key: data[field] for field, key in STATE_KEYS.items()
            if field in data and data[field] != self.shown_value(field)
        }
        for list_name in ACCESS_LISTS:
            before, after = self.shown_value(list_name), data[list_name]
            added, removed = [n for n in after if n not in set(before)], [n for n in before if n not in set(after)]
            if added:
                changes.setdefault("addToLists", {})[list_name] = added
            if removed:
                changes.setdefault("removeFromLists", {})[list_name] = removed
        return changes


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = RoomForm
    list_display = ("name", "owner", "mode", "member_count", "history_size", "last_message_id")
    list_filter = ("whitelist_only",)
    search_fields = ("name", "owner")
    list_per_page = 100
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "owner", "whitelist_only", "history_max_size")}),
        ("Notifications", {"fields": ("enable_access_lists_updates", "enable_userlist_updates")}),
        ("Access lists", {"fields": ("whitelist", "blacklist", "adminlist")}),
        ("Presence and history (read-only)", {"fields": ("userlist", "online_sockets", "history", "last_message_id")}),
    )
    add_fieldsets = fieldsets[:3]

    # The list.

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            member_count=count_of(RoomUser), history_size=count_of(Message)
        )

    @admin.display(description="Mode", ordering="whitelist_only")
    def mode(self, room):
        if room.deleting:
            return "being deleted"
        return "whitelist only" if room.whitelist_only else "open"

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, room):
        return room.member_count

    @admin.display(description="History size", ordering="history_size")
    def history_size(self, room):
        return room.history_size

    # The change page's read-only parts.

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("name", "userlist", "online_sockets", "history", "last_message_id")

    def get_changeform_initial_data(self, request):
        options = service.api.options
        return {
            "history_max_size": options.history_max_size,
            "enable_access_lists_updates": options.enable_access_lists_updates,
            "enable_userlist_updates": options.enable_userlist_updates,
            **super().get_changeform_initial_data(request),
        }

    @admin.display(description="Userlist")
    def userlist(self, room):
        names = RoomUser.objects.filter(room=room).order_by("user_name").values_list("user_name", flat=True)
        return format_html_join(", ", "{}", ((name,) for name in names)) or "(nobody)"

    @admin.display(description="Online sockets")
    def online_sockets(self, room):
        rows = (
            Membership.objects.filter(room=room)
            .order_by("user_name", "connection_id")
            .values_list("user_name", "connection_id", "connection__instance_uid")
        )
        items = format_html_join(
            "", "<li>{} — socket {} on instance {}</li>", rows
        )
        return format_html("<ul>{}</ul>", items) if items else "(none)"

    @admin.display(description="Message history")
    def history(self, room):
        url = reverse("admin:messaging_message_changelist") + "?" + urlencode({"room": room.pk})
        size = Message.objects.filter(room=room).count()
        return format_html('<a href="{}">{} stored message(s), newest first</a>', url, size)

    # Saving through the service.

    def run_after_commit(self, request, steps, what):
        """Run `run_steps` once the admin's transaction has committed (at once
        outside one, as for a bulk action); the request's success messages
        wait for its outcome."""
        gate = request.room_success_gate = SuccessGate()
        transaction.on_commit(lambda: gate.settle(run_steps(request, steps, what)))

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        write = partial(super().message_user, request, message, level, *args, **kwargs)
        gate = getattr(request, "room_success_gate", None)
        if gate is not None and level == messages.SUCCESS:
            gate.show(write)
        else:
            write()

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None and request.method == "POST":
            # addRoom is the only write of an addition; it commits on its own,
            # outside any admin transaction.
            try:
                return self._changeform_view(request, object_id, form_url, extra_context)
            except ChatServiceError as exc:
                messages.error(request, f"The room was not created: {exc}.")
                return HttpResponseRedirect(request.get_full_path())
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        name = obj.name
        if not change:
            service.api.sync.add_room(name, form.room_state())
            obj.pk = Room.objects.values_list("pk", flat=True).get(name=name)
            return
        changes = form.room_changes()
        if changes:
            steps = [("changing the room", partial(service.api.sync.change_room, name, changes))]
            self.run_after_commit(request, steps, f"Room {name!r}")

    def save_related(self, request, form, formsets, change):
        """The lists are saved by save_model's service calls; nothing else is related."""

    # Deletion through the service (roomDelete: joined users are removed first).

    def get_deleted_objects(self, objs, request):
        """A summary instead of every related row: a room may hold a long history."""
        rooms = list(objs)
        ids = [room.pk for room in rooms]
        model_count = {
            Room._meta.verbose_name_plural: len(rooms),
            "stored messages": Message.objects.filter(room_id__in=ids).count(),
            "access list entries": RoomListEntry.objects.filter(room_id__in=ids).count(),
            "users in the room (removed with roomAccessRemoved)": RoomUser.objects.filter(room_id__in=ids).count(),
        }
        perms_needed = set() if self.has_delete_permission(request) else {Room._meta.verbose_name}
        return [str(room) for room in rooms], model_count, perms_needed, []

    def delete_model(self, request, obj):
        steps = [("deleting the room", partial(service.api.sync.delete_room, obj.name))]
        self.run_after_commit(request, steps, f"Room {obj.name!r}")

    def delete_queryset(self, request, queryset):
        names = list(queryset.values_list("name", flat=True))
        steps = [(f"deleting room {name!r}", partial(service.api.sync.delete_room, name)) for name in names]
        self.run_after_commit(request, steps, "Bulk deletion")
