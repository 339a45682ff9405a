"""Log format (LOG_FORMAT, docs/operations.md) and access-log redaction."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chatproject.service as service_package
from chatproject.log_format import JsonFormatter, redact
from chatproject.serve import RedactedAccessLog

ROOT = Path(__file__).resolve().parents[1]


def record(message="hello %s", args=("world",), exc_info=None, name="chat", level=logging.WARNING):
    return logging.LogRecord(name, level, __file__, 1, message, args, exc_info)


def test_json_lines_have_time_level_logger_and_message(monkeypatch):
    monkeypatch.delattr(service_package, "api", raising=False)
    line = JsonFormatter().format(record())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry.pop("time").endswith("Z")
    assert entry == {"level": "WARNING", "logger": "chat", "message": "hello world"}


def test_json_lines_carry_the_instance_id_of_an_existing_service(monkeypatch, chat_db):
    from chatproject.service import ChatService

    svc = ChatService()
    svc.instance_uid = "inst-42"  # what start() assigns
    monkeypatch.setattr(service_package, "api", svc, raising=False)
    assert json.loads(JsonFormatter().format(record()))["instance"] == "inst-42"


def test_the_formatter_never_creates_the_service(monkeypatch):
    monkeypatch.delattr(service_package, "api", raising=False)
    assert "instance" not in json.loads(JsonFormatter().format(record()))
    assert "api" not in vars(service_package)


def test_exceptions_are_one_field_of_the_same_line(monkeypatch):
    monkeypatch.delattr(service_package, "api", raising=False)
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        line = JsonFormatter().format(record("failed", (), sys.exc_info(), level=logging.ERROR))
    assert line.count("\n") == 0
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert entry["exception"].startswith("Traceback") and "ValueError: broken\nacross lines" in entry["exception"]


@pytest.mark.parametrize("text, expected", [
    ("/ws/chat/?token=abc123", "/ws/chat/?token=[redacted]"),
    ("/ws/chat/?user=alice&token=abc&x=1", "/ws/chat/?user=alice&token=[redacted]&x=1"),
    ("GET /api/?access_token=a%20b&TOKEN=c", "GET /api/?access_token=[redacted]&TOKEN=[redacted]"),
    ("/x?sessionid=s1;csrftoken=t2", "/x?sessionid=[redacted];csrftoken=[redacted]"),
    ("/x?api_key=k#frag", "/x?api_key=[redacted]#frag"),
    ('"GET /healthz?token=abc" 200', '"GET /healthz?token=[redacted]" 200'),
    ("/ws/chat/?user=tokenless", "/ws/chat/?user=tokenless"),
    ("/accounts/token/", "/accounts/token/"),
])
def test_redact_replaces_credential_values_only(text, expected):
    assert redact(text) == expected


def test_daphne_access_entries_go_to_the_logger_redacted(caplog):
    access = RedactedAccessLog()
    with caplog.at_level(logging.INFO, logger="daphne.access"):
        logging.getLogger("daphne").addHandler(caplog.handler)
        try:
            access("http", "complete", {"path": "/healthz?token=s3cret", "status": 200, "method": "GET",
                                        "client": "127.0.0.1:5000", "time_taken": 0.01, "size": 16})
            access("websocket", "connecting", {"path": "/ws/chat/?token=s3cret", "client": "127.0.0.1:5001"})
        finally:
            logging.getLogger("daphne").removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "daphne.access"]
    assert lines == ['127.0.0.1:5000 "GET /healthz?token=[redacted]" 200 16',
                     '127.0.0.1:5001 "WSCONNECTING /ws/chat/?token=[redacted]" - -']


@pytest.mark.parametrize("logger_name", ["chat", "django.request", "daphne.server"])
def test_log_format_json_applies_to_the_chat_django_and_daphne_loggers(logger_name):
    code = (
        "import django, logging; django.setup();"
        f"logging.getLogger({logger_name!r}).warning('disk %s', 'full')"
    )
    env = {key: value for key, value in os.environ.items() if key != "LOG_FORMAT"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**env, "DJANGO_SETTINGS_MODULE": "chatproject.settings", "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["logger"] == logger_name and entry["level"] == "WARNING" and entry["message"] == "disk full"
