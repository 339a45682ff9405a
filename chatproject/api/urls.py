"""Routes of the admin API. Each `<str:...>` is one percent-encoded path
segment (see middleware.py); anything else under /api/ is 404 notFound."""
from django.urls import path, re_path

from . import schema, views

urlpatterns = [
    path("rooms/", views.RoomsView.as_view()),
    path("rooms/<str:room>/", views.RoomView.as_view()),
    path("rooms/<str:room>/lists/<str:list>/", views.RoomListView.as_view()),
    path("rooms/<str:room>/lists/<str:list>/remove/", views.RoomListRemoveView.as_view()),
    path("rooms/<str:room>/access/<str:user>/", views.RoomAccessView.as_view()),
    path("rooms/<str:room>/history/", views.RoomHistoryView.as_view()),
    path("rooms/<str:room>/messages/", views.RoomMessagesView.as_view()),
    path("users/", views.UsersView.as_view()),
    path("users/<str:user>/", views.UserView.as_view()),
    path("users/<str:user>/disconnect/", views.UserDisconnectView.as_view()),
    path("users/<str:user>/direct-access/<str:sender>/", views.DirectAccessView.as_view()),
    path("exec/", views.ExecView.as_view()),
    path("recovery/instances/<str:instance>/", views.RecoverInstanceView.as_view()),
    path("recovery/rooms/<str:room>/", views.RecoverRoomView.as_view()),
    path("recovery/users/<str:user>/", views.RecoverUserView.as_view()),
    path("instances/", views.InstancesView.as_view()),
    path("schema/", schema.SchemaView.as_view(), name="api-schema"),
    path("docs/", schema.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", views.NotFoundView.as_view()),
]
