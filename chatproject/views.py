"""Page views: the browser chat page, sign-up, and the room list it reads."""
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from chatproject import service


def _options():
    """The service options the page needs, camelCase as on the wire."""
    options = service.api.options
    return {
        "enableRoomsManagement": options.enable_rooms_management,
        "enableDirectMessages": options.enable_direct_messages,
    }


@login_required
@require_GET
def chat_page(request):
    """The chat page; the WebSocket logs in with this Django session."""
    return render(request, "chat/index.html", {"chat_user": request.user.get_username(), "options": _options()})


@require_http_methods(["GET", "POST"])
def signup(request):
    """Create a Django user with UserCreationForm, log it in, open the chat."""
    if request.user.is_authenticated:
        return redirect("chat")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def rooms_json(request):
    """GET /chat/rooms/: the rooms the logged-in user may join, and the options."""
    if request.method != "GET":
        response = JsonResponse({"code": "methodNotAllowed", "message": "Only GET is allowed"}, status=405)
        response["Allow"] = "GET"
        return response
    if not request.user.is_authenticated:
        return JsonResponse({"code": "notAuthenticated", "message": "Log in first"}, status=401)
    name = request.user.get_username()
    return JsonResponse({"user": name, "rooms": service.api.sync.rooms_open_to(name), **_options()})
