from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

from chatproject import health, views
from chatproject.metrics_endpoint import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("chatproject.api.urls")),
    path("", views.chat_page, name="chat"),
    path("chat/rooms/", views.rooms_json, name="chat-rooms"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
]
# Static files (the chat page's script and CSS) are served by Django only with DEBUG=true.
urlpatterns += staticfiles_urlpatterns()
