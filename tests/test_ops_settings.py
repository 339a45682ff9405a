"""Security and operations settings from the environment (docs/configuration.md,
docs/operations.md): `check --deploy` is clean with the production variables, bad values
stop start-up naming the variable, and the TLS settings behave behind a proxy."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "x7Qm2vLp9rTz4wBn8cYd6fHj1sKa5uGe0" * 2,
    "ALLOWED_HOSTS": "chat.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
}


def run_python(args, env):
    """Run the project's Python with only `env` on top of a clean environment."""
    base = {key: value for key, value in os.environ.items()
            if key not in PRODUCTION_ENV and not key.startswith(("CHAT_", "METRICS", "LOG_FORMAT", "SECURE_", "CSRF_"))}
    base["DJANGO_SETTINGS_MODULE"] = "chatproject.settings"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_production_variables():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_reports_issues_without_them():
    """The clean check above is not vacuous: development defaults fail it."""
    env = {"DEBUG": "false", "SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"], "ALLOWED_HOSTS": "chat.example.com"}
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output, output


@pytest.mark.parametrize("name, value", [
    ("SECURE_COOKIES", "yes"),
    ("SECURE_SSL_REDIRECT", "1"),
    ("SECURE_HSTS_PRELOAD", "on"),
    ("SECURE_HSTS_SECONDS", "a year"),
    ("SECURE_HSTS_SECONDS", "-1"),
    ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ("CSRF_TRUSTED_ORIGINS", "chat.example.com"),
    ("METRICS", "maybe"),
    ("METRICS_ALLOW", "10.0.0.0/33"),
    ("METRICS_ALLOW", "10.0.0.1/8"),
    ("LOG_FORMAT", "xml"),
    ("DATABASE_URL", "not a url"),
    ("DATABASE_URL", "mysql://root@127.0.0.1:3306/test"),
])
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    result = run_python(["-c", "import django; django.setup()"], {name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr, result.stderr


def test_values_are_parsed_into_django_settings():
    env = {
        **PRODUCTION_ENV,
        "METRICS": "OFF",
        "METRICS_ALLOW": "10.1.0.0/16, 2001:db8::1",
        "METRICS_TOKEN": "scrape-token",
        "LOG_FORMAT": "JSON",
        "CSRF_TRUSTED_ORIGINS": "https://chat.example.com,https://*.example.org",
    }
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD,"
        "s.METRICS, [str(n) for n in s.METRICS_ALLOW], s.METRICS_TOKEN,"
        "s.LOGGING['handlers']['console']['formatter']]))"
    )
    result = run_python(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["HTTP_X_FORWARDED_PROTO", "https"], ["https://chat.example.com", "https://*.example.org"], True, True,
        True, 31536000, True, True,
        False, ["10.1.0.0/16", "2001:db8::1/128"], "scrape-token",
        "json",
    ]


def test_defaults_are_development_friendly():
    from django.conf import settings

    assert settings.SESSION_COOKIE_SECURE is False and settings.SECURE_SSL_REDIRECT is False
    assert settings.SECURE_HSTS_SECONDS == 0 and settings.SECURE_HSTS_PRELOAD is False
    assert settings.SECURE_PROXY_SSL_HEADER is None and settings.CSRF_TRUSTED_ORIGINS == []
    assert settings.METRICS is True and settings.METRICS_TOKEN is None
    assert [str(n) for n in settings.METRICS_ALLOW] == ["127.0.0.1/32", "::1/128"]


@pytest.fixture
def behind_tls_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True


@pytest.mark.usefixtures("chat_db", "behind_tls_proxy")
def test_ssl_redirect_spares_health_and_metrics():
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code != 301
    assert client.get("/metrics").status_code == 200
    page = client.get("/accounts/login/")
    assert page.status_code == 301 and page["Location"] == "https://testserver/accounts/login/"


@pytest.mark.usefixtures("chat_db", "behind_tls_proxy")
def test_https_through_the_proxy_gets_hsts_and_no_redirect():
    page = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
