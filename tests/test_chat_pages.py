"""The chat page views: login requirement, sign-up, and GET /chat/rooms/."""
import pytest
from django.contrib.auth.models import User
from django.test import Client

from rooms.models import Room, RoomListEntry

pytestmark = pytest.mark.usefixtures("chat_db")


def room(name, owner=None, whitelist_only=False, **lists):
    created = Room.objects.create(name=name, owner=owner, whitelist_only=whitelist_only, history_max_size=10)
    for list_name, names in lists.items():
        for user in names:
            RoomListEntry.objects.create(room=created, list_name=list_name, user_name=user)
    return created


def logged_in(name="bob"):
    client = Client()
    client.force_login(User.objects.create_user(name, password="pw-unused-123"))
    return client


def test_chat_page_requires_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    page = logged_in().get("/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="chat-app"' in body and 'type="module"' in body and 'data-user="bob"' in body


def test_rooms_json_needs_a_login_and_get():
    anonymous = Client().get("/chat/rooms/")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": "notAuthenticated", "message": "Log in first"}
    posted = logged_in().post("/chat/rooms/")
    assert posted.status_code == 405 and posted.json()["code"] == "methodNotAllowed"


def test_rooms_json_lists_only_rooms_the_user_may_join():
    room("open")
    room("blacklisted", blacklist=["bob"])
    room("closed", whitelist_only=True)
    room("invited", whitelist_only=True, whitelist=["bob"])
    room("admin-despite-blacklist", whitelist_only=True, adminlist=["bob"], blacklist=["bob"])
    room("owned", owner="bob", whitelist_only=True)
    Room.objects.filter(pk=room("gone").pk).update(deleting=True)
    data = logged_in().get("/chat/rooms/").json()
    assert data == {
        "user": "bob",
        "rooms": [
            {"name": "admin-despite-blacklist", "owner": None, "whitelistOnly": True},
            {"name": "invited", "owner": None, "whitelistOnly": True},
            {"name": "open", "owner": None, "whitelistOnly": False},
            {"name": "owned", "owner": "bob", "whitelistOnly": True},
        ],
        "enableRoomsManagement": False,
        "enableDirectMessages": False,
    }


def test_signup_validates_then_logs_in():
    client = Client()
    form = client.get("/accounts/signup/")
    assert form.status_code == 200 and b'for="id_username"' in form.content
    bad = client.post("/accounts/signup/", {"username": "ann", "password1": "long-enough-1", "password2": "other-2"})
    assert bad.status_code == 400
    assert "didn’t match" in bad.content.decode()
    assert not User.objects.filter(username="ann").exists()
    good = client.post("/accounts/signup/", {"username": "ann", "password1": "long-enough-1", "password2": "long-enough-1"})
    assert good.status_code == 302 and good["Location"] == "/"
    assert client.get("/chat/rooms/").json()["user"] == "ann"
    assert client.get("/accounts/signup/").status_code == 302  # already logged in


def test_login_page_has_labelled_fields():
    body = Client().get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in body and '<label for="id_password">' in body
    assert 'href="/accounts/signup/"' in body
