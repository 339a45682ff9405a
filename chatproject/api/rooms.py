"""The admin API of rooms: list, create, read, change, delete; access lists,
access checks, history and posted messages (docs/rest-api.md, Rooms).
"""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from chatproject import service
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import MAX_SAFE_INTEGER
from rooms.models import ACCESS_LISTS, ROOM_LISTS

from . import serializers as s
from .base import BODY_ERRORS, DIGITS, PAGE, AdminView, access_list, check_list_sizes, path_params, responses
from .errors import bad_argument

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
    """One room: its detail form; PATCH is change_room; DELETE is deleteRoom."""

    @extend_schema(operation_id="rooms_read", parameters=path_params("room"), responses=responses(_200=s.RoomDetail))
    def get(self, request, room):
        return Response(service.api.sync.room_detail(self.names["room"]))

    @extend_schema(
        operation_id="rooms_update", parameters=path_params("room"), request=s.RoomPatchRequest,
        responses={**responses(_200=s.RoomDetail), 415: s.Error},
    )
    def patch(self, request, room):
        name = self.names["room"]
        service.api.sync.change_room(name, self.body(s.RoomPatchRequest))
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
    if not DIGITS.fullmatch(raw) or not minimum <= int(raw) <= MAX_SAFE_INTEGER:
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
