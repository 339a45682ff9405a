"""The admin API of server-side calls (exec), recovery and instances
(docs/rest-api.md).
"""
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from chatproject import service

from . import serializers as s
from .base import BODY_ERRORS, AdminView, path_params, responses

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
