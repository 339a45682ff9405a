"""Content-Security-Policy on every HTML page (docs/operations.md)."""
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("chat_db")


def directives(response):
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_strict_scripts(response):
    policy = directives(response)
    assert policy["script-src"] == ["'self'"], policy
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["default-src"]
    return policy


def logged_in(name="carol", staff=False):
    client = Client()
    client.force_login(User.objects.create_user(name, password="pw-unused-123", is_staff=staff))
    return client


def test_every_html_page_sends_a_strict_policy():
    anonymous = Client()
    pages = {
        "login": anonymous.get("/accounts/login/"),
        "signup": anonymous.get("/accounts/signup/"),
        "chat": logged_in().get("/"),
        "logged out": logged_in("dave").post("/accounts/logout/"),
        "admin login": anonymous.get("/admin/login/"),
        "admin index": logged_in("erin", staff=True).get("/admin/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert response["Content-Type"].startswith("text/html"), name
        policy = assert_strict_scripts(response)
        assert policy["style-src"] == ["'self'"], name
        assert policy["frame-ancestors"] == ["'none'"], name


def test_the_chat_page_may_open_its_own_websocket():
    policy = directives(logged_in().get("/", HTTP_HOST="localhost:8000"))
    assert policy["connect-src"] == ["'self'", "ws://localhost:8000", "wss://localhost:8000"]


def test_the_api_docs_page_keeps_strict_scripts_with_its_inline_styles():
    response = logged_in("admin", staff=True).get("/api/docs/")
    assert response.status_code == 200
    policy = assert_strict_scripts(response)
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    body = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "the docs page has an inline script"
    assert re.search(r'<script src="[^"]*\?script=', body)


def test_non_html_responses_carry_no_policy():
    assert "Content-Security-Policy" not in Client().get("/healthz")
    assert "Content-Security-Policy" not in logged_in().get("/chat/rooms/")


def test_templates_have_no_inline_script_or_event_handlers():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text)
        handlers = re.findall(r"<[^>]*\son[a-z]+\s*=", text, re.IGNORECASE)
        urls = re.findall(r"javascript:", text, re.IGNORECASE)
        assert not (inline or handlers or urls), (template, inline, handlers, urls)
