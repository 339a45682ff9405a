"""The admin API of users: list, create, read, delete, disconnect, direct
access (docs/rest-api.md, Users).
"""
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from chatproject import service
from messaging.models import DIRECT_LISTS

from . import serializers as s
from .base import BODY_ERRORS, PAGE, AdminView, path_params, responses

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
