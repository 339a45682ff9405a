"""Admin API views (docs/rest-api.md).

Everything goes through the service API (`api.sync.*`): changes, so that
their live effects happen (notifications, removal of users who lose
access), and reads (the service's queries). The service is looked up on
each call (`chatproject.service.api`), so that tests can put their own in
its place.
"""
import re
from urllib.parse import unquote

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject import service
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import MAX_SAFE_INTEGER
from chatproject.service.jsonrpc import FrameError, parse_json
from messaging.models import DIRECT_LISTS
from rooms.models import ACCESS_LISTS, ROOM_LISTS

from . import serializers as s
from .errors import bad_argument, exception_handler

_DIGITS = re.compile(r"[0-9]{1,16}")



# Transport: JSON in and out, strictly parsed, errors in one shape.


class StrictJSONParser(JSONParser):
    """JSON read by the WebSocket endpoint's rules (docs/protocol.md, Framing):
    no NaN or Infinity, no lone surrogates, bounded depth and digits."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            return parse_json(stream.read().decode(encoding))
        except (UnicodeDecodeError, LookupError, FrameError):
            raise exceptions.ParseError() from None


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """Always answer JSON, whatever `Accept` says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ChatPagination(PageNumberPagination):
    page_size = 100

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "1")
        if not _DIGITS.fullmatch(raw) or int(raw) < 1:
            raise bad_argument(self.page_query_param, raw)
        return int(raw)


class AdminView(APIView):
    """Staff only; path names decoded into `self.names` once authenticated."""

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    metadata_class = None  # OPTIONS is not part of the API: 405

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.content_type and int(request.META.get("CONTENT_LENGTH") or 0) > 0:
            raise exceptions.UnsupportedMediaType("")  # a body we would otherwise ignore
        self.names = {}
        for key, segment in kwargs.items():
            name = unquote(segment, errors="strict")
            if "\x00" in name:
                raise bad_argument(key, name)
            self.names[key] = name

    def page(self, count, items):
        """A paginated answer of items the service reads page by page."""
        paginator = ChatPagination()
        return paginator.get_paginated_response(paginator.paginate_queryset(ServicePage(count, items), self.request, view=self))

    def create(self, serializer_class, list_names, list_limit, add, detail):
        """POST of a room or user: validate, add through the service, answer its detail form."""
        state = self.body(serializer_class)
        check_list_sizes(state, list_names, list_limit)
        name = state.pop("name")
        add(name, state)
        return Response(detail(name), status=201)

    def body(self, serializer_class):
        """The validated body: the first bad field raises badArgument."""
        data = self.request.data
        if type(data) is not dict:
            raise bad_argument("body", data)
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def check_list_sizes(state, list_names, limit):
    """listLimitExceeded before the service call (distinct names, as the service counts)."""
    for list_name in list_names:
        if len(set(state.get(list_name) or ())) > limit:
            raise ChatServiceError("listLimitExceeded", list_name)


# Read helpers.


def access_list(room, list_name):
    return service.api.sync.exec_user_command({"bypassPermissions": True}, "roomGetAccessList", room, list_name)


class ServicePage:
    """A sequence of items the service reads page by page, for DRF's paginator."""

    def __init__(self, count, items):
        self._count, self._items = count, items

    def __len__(self):
        return self._count()

    def count(self):
        return len(self)

    def __getitem__(self, window):
        return self._items(window.start or 0, window.stop - (window.start or 0))


# Schema helpers.

ERRORS = {status: s.Error for status in (400, 401, 403, 404, 500, 503)}


def responses(**extra):
    """Documented answers: the given successes plus every error status."""
    answers = dict(ERRORS)
    answers.update({int(key[1:]): value for key, value in extra.items()})
    return answers


def path_params(*names):
    return [
        OpenApiParameter(
            name, {"type": "string", "minLength": 1, "pattern": s.NO_NUL}, OpenApiParameter.PATH,
            description="percent-encoded, one path segment",
        )
        for name in names
    ]


BODY_ERRORS = {409: s.Error, 415: s.Error}
PAGE = OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}, OpenApiParameter.QUERY)


# Rooms.


class RoomsView(AdminView):
    """Rooms, paginated by name; POST is addRoom."""

    @extend_schema(operation_id="rooms_list", parameters=[PAGE], responses=responses(_200=s.PaginatedRooms))
    def get(self, request):
        return self.page(service.api.sync.count_rooms, service.api.sync.room_items)

    @extend_schema(
        operation_id="rooms_create", request=s.RoomCreateRequest,
        responses={**responses(_201=s.RoomDetail), **BODY_ERRORS},
    )
    def post(self, request):
        api = service.api
        return self.create(s.RoomCreateRequest, ACCESS_LISTS, api.options.room_list_size_limit, api.sync.add_room, api.sync.room_detail)


class RoomView(AdminView):
    """One room: its detail form; PATCH changes settings in a fixed order; DELETE is deleteRoom."""

    @extend_schema(operation_id="rooms_read", parameters=path_params("room"), responses=responses(_200=s.RoomDetail))
    def get(self, request, room):
        return Response(service.api.sync.room_detail(self.names["room"]))

    @extend_schema(
        operation_id="rooms_update", parameters=path_params("room"), request=s.RoomPatchRequest,
        responses={**responses(_200=s.RoomDetail), 415: s.Error},
    )
    def patch(self, request, room):
        changes = self.body(s.RoomPatchRequest)
        name = self.names["room"]
        api = service.api.sync
        if "owner" in changes:
            api.change_room_owner(name, changes["owner"])
        if "historyMaxSize" in changes:
            api.change_room_history_max_size(name, changes["historyMaxSize"])
        if "enableAccessListsUpdates" in changes:
            api.change_access_lists_updates(name, changes["enableAccessListsUpdates"])
        if "enableUserlistUpdates" in changes:
            api.change_userlist_updates(name, changes["enableUserlistUpdates"])
        if "whitelistOnly" in changes:
            api.exec_user_command(True, "roomSetWhitelistMode", name, changes["whitelistOnly"])
        return Response(service.api.sync.room_detail(name))

    @extend_schema(operation_id="rooms_delete", parameters=path_params("room"), responses=responses(_204=None))
    def delete(self, request, room):
        service.api.sync.delete_room(self.names["room"])
        return Response(status=204)


LIST_PARAMS = path_params("room") + [
    OpenApiParameter("list", {"type": "string", "enum": list(ROOM_LISTS)}, OpenApiParameter.PATH)
]


class RoomListView(AdminView):
    """A room's access list or userlist, read and added to as roomGetAccessList / roomAddToList with bypassed permissions."""

    @extend_schema(operation_id="rooms_lists_read", parameters=LIST_PARAMS, responses=responses(_200=s.UserNames))
    def get(self, request, room, list):
        return Response({"userNames": access_list(self.names["room"], self.names["list"])})

    @extend_schema(
        operation_id="rooms_lists_add", parameters=LIST_PARAMS, request=s.UserNames,
        responses={**responses(_200=s.UserNames), 415: s.Error},
    )
    def post(self, request, room, list):
        return self.change("roomAddToList")

    def change(self, command):
        names = self.body(s.UserNames)["userNames"]
        room, list_name = self.names["room"], self.names["list"]
        if list_name in ACCESS_LISTS:
            check_list_sizes({list_name: names}, [list_name], service.api.options.room_list_size_limit)
        service.api.sync.exec_user_command({"bypassPermissions": True}, command, room, list_name, names)
        return Response({"userNames": access_list(room, list_name)})


class RoomListRemoveView(RoomListView):
    """roomRemoveFromList with bypassed permissions."""

    http_method_names = ["post"]

    @extend_schema(
        operation_id="rooms_lists_remove", parameters=LIST_PARAMS, request=s.UserNames,
        responses={**responses(_200=s.UserNames), 415: s.Error},
    )
    def post(self, request, room, list):
        return self.change("roomRemoveFromList")


class RoomAccessView(AdminView):
    """hasRoomAccess and roomHasInList for one user; the user need not exist."""

    @extend_schema(operation_id="rooms_access", parameters=path_params("room", "user"), responses=responses(_200=s.RoomAccess))
    def get(self, request, room, user):
        room, user = self.names["room"], self.names["user"]
        api = service.api.sync
        if not api.has_room(room):  # noRoom, where hasRoomAccess would answer false
            raise ChatServiceError("noRoom", room)
        lists = {list_name: api.room_has_in_list(room, list_name, user) for list_name in ROOM_LISTS}
        return Response({"access": api.has_room_access(room, user), "lists": lists})


def _query_int(request, name, minimum, default):
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not minimum <= int(raw) <= MAX_SAFE_INTEGER:
        raise bad_argument(name, raw)
    return int(raw)


class RoomHistoryView(AdminView):
    """History, newest first: roomHistoryGet with `after`, else the newest `limit` messages."""

    @extend_schema(
        operation_id="rooms_history",
        parameters=path_params("room") + [
            OpenApiParameter("after", {"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER}, OpenApiParameter.QUERY),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                description="at most historyMaxGetMessages, its default",
            ),
        ],
        responses=responses(_200=s.HISTORY),
    )
    def get(self, request, room):
        most = service.api.options.history_max_get_messages
        after = _query_int(request, "after", 0, None)
        limit = _query_int(request, "limit", 1, most)
        if limit > most:
            raise bad_argument("limit", request.query_params["limit"])
        room = self.names["room"]
        if after is None:
            return Response(service.api.sync.recent_history(room, limit))
        if limit == 0:  # historyMaxGetMessages 0 turns history reads off
            if not service.api.sync.has_room(room):
                raise ChatServiceError("noRoom", room)
            return Response([])
        return Response(service.api.sync.exec_user_command(True, "roomHistoryGet", room, after, limit))


class RoomMessagesView(AdminView):
    """roomMessage with bypassed permissions, on behalf of `author` (or nobody)."""

    @extend_schema(
        operation_id="rooms_messages_post", parameters=path_params("room"), request=s.MessagePostRequest,
        responses={**responses(_201=s.MessageId), 415: s.Error},
    )
    def post(self, request, room):
        body = self.body(s.MessagePostRequest)
        room, message = self.names["room"], body["message"]
        if not service.api.sync.has_room(room):  # the room of the path answers first
            raise ChatServiceError("noRoom", room)
        context = {"userName": body.get("author"), "bypassPermissions": True}
        try:
            message_id = service.api.sync.exec_user_command(context, "roomMessage", room, message)
        except ChatServiceError as error:
            if error.code == "badArgument" and error.args == (1, message):
                raise bad_argument("message", message) from None
            raise
        return Response({"id": message_id}, status=201)


# Users.


class UsersView(AdminView):
    """Chat users, paginated by name; POST is addUser."""

    @extend_schema(operation_id="users_list", parameters=[PAGE], responses=responses(_200=s.PaginatedUsers))
    def get(self, request):
        return self.page(service.api.sync.count_users, service.api.sync.user_items)

    @extend_schema(
        operation_id="users_create", request=s.UserCreateRequest,
        responses={**responses(_201=s.UserDetail), **BODY_ERRORS},
    )
    def post(self, request):
        api = service.api
        return self.create(s.UserCreateRequest, DIRECT_LISTS, api.options.direct_list_size_limit, api.sync.add_user, api.sync.user_detail)


class UserView(AdminView):
    """One user: the detail form; DELETE is deleteUser (409 while online)."""

    @extend_schema(operation_id="users_read", parameters=path_params("user"), responses=responses(_200=s.UserDetail))
    def get(self, request, user):
        return Response(service.api.sync.user_detail(self.names["user"]))

    @extend_schema(
        operation_id="users_delete", parameters=path_params("user"), responses={**responses(_204=None), 409: s.Error}
    )
    def delete(self, request, user):
        service.api.sync.delete_user(self.names["user"])
        return Response(status=204)


class UserDisconnectView(AdminView):
    """disconnectUserSockets: closes the user's sockets everywhere, without waiting."""

    @extend_schema(
        operation_id="users_disconnect", parameters=path_params("user"), request=s.NoBody,
        responses={**responses(_202=s.Accepted), 415: s.Error},
    )
    def post(self, request, user):
        self.body(s.NoBody)
        service.api.sync.disconnect_user_sockets(self.names["user"])
        return Response({}, status=202)


class DirectAccessView(AdminView):
    """hasDirectAccess and userHasInList: may `sender` message `user`?"""

    @extend_schema(
        operation_id="users_direct_access", parameters=path_params("user", "sender"), responses=responses(_200=s.DirectAccess)
    )
    def get(self, request, user, sender):
        user, sender = self.names["user"], self.names["sender"]
        api = service.api.sync
        lists = {list_name: api.user_has_in_list(user, list_name, sender) for list_name in DIRECT_LISTS}
        return Response({"access": api.has_direct_access(user, sender), "lists": lists})


# Server-side calls and recovery.


class ExecView(AdminView):
    """execUserCommand with a context of userName, id, bypassPermissions, bypassHooks."""

    @extend_schema(
        operation_id="exec", request=s.ExecRequest,
        responses={**responses(_200=s.ExecResult), **BODY_ERRORS},
        description="execUserCommand; the command's error answers with the status of its code (custom codes: 400).",
    )
    def post(self, request):
        body = self.body(s.ExecRequest)
        context = {key: body.get(key) for key in ("userName", "id", "bypassPermissions", "bypassHooks")}
        return Response({"result": service.api.sync.exec_user_command(context, body["command"], *body["args"])})


class RecoveryView(AdminView):
    """POST with no body: one RecoveryAPI call on the path's name."""

    operation = None

    def recover(self):
        self.body(s.NoBody)
        (name,) = self.names.values()
        getattr(service.api.sync, self.operation)(name)
        return Response(status=204)


def recovery_view(operation, param):
    @extend_schema(
        operation_id=f"recovery_{operation}", parameters=path_params(param), request=s.NoBody,
        responses={**responses(_204=None), 415: s.Error},
    )
    def post(self, request, **kwargs):
        return self.recover()

    return type(f"Recovery_{operation}", (RecoveryView,), {"operation": operation, "post": post})


RecoverInstanceView = recovery_view("instance_recovery", "instance")
RecoverRoomView = recovery_view("room_state_sync", "room")
RecoverUserView = recovery_view("user_state_sync", "user")


class InstancesView(AdminView):
    """Service instances with heartbeat, liveness and socket count."""

    @extend_schema(operation_id="instances_list", responses=responses(_200=s.InstanceItem(many=True)))
    def get(self, request):
        return Response(service.api.sync.instances())


class NotFoundView(AdminView):
    """Any other path under /api/: 404 for everyone, before authentication."""

    authentication_classes = []
    permission_classes = []
    schema = None

    def initial(self, request, *args, **kwargs):
        raise exceptions.NotFound()
