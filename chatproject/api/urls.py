"""Routes of the admin API. Each `<str:...>` is one percent-encoded path
segment (see middleware.py); anything else under /api/ is 404 notFound."""
from django.urls import path, re_path

from . import operations, rooms, schema, users

urlpatterns = [
    path("rooms/", rooms.RoomsView.as_view()),
    path("rooms/<str:room>/", rooms.RoomView.as_view()),
    path("rooms/<str:room>/lists/<str:list>/", rooms.RoomListView.as_view()),
    path("rooms/<str:room>/lists/<str:list>/remove/", rooms.RoomListRemoveView.as_view()),
    path("rooms/<str:room>/access/<str:user>/", rooms.RoomAccessView.as_view()),
    path("rooms/<str:room>/history/", rooms.RoomHistoryView.as_view()),
    path("rooms/<str:room>/messages/", rooms.RoomMessagesView.as_view()),
    path("users/", users.UsersView.as_view()),
    path("users/<str:user>/", users.UserView.as_view()),
    path("users/<str:user>/disconnect/", users.UserDisconnectView.as_view()),
    path("users/<str:user>/direct-access/<str:sender>/", users.DirectAccessView.as_view()),
    path("exec/", operations.ExecView.as_view()),
    path("recovery/instances/<str:instance>/", operations.RecoverInstanceView.as_view()),
    path("recovery/rooms/<str:room>/", operations.RecoverRoomView.as_view()),
    path("recovery/users/<str:user>/", operations.RecoverUserView.as_view()),
    path("instances/", operations.InstancesView.as_view()),
    path("schema/", schema.SchemaView.as_view(), name="api-schema"),
    path("docs/", schema.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", operations.NotFoundView.as_view()),
]
