"""GET /healthz, /readyz and /metrics (docs/operations.md), in process."""
import asyncio
import ipaddress
import logging
import math

import pytest
from django.db import OperationalError
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

import chatproject.service as service_package
from chatproject import health, metrics
from tests.conftest import M, R1, U1, U2, eventually


@pytest.fixture
def use_service(monkeypatch):
    """Make the views read the given service as `chatproject.service.api`."""

    def use(svc):
        monkeypatch.setattr(service_package, "api", svc, raising=False)
        return svc

    return use


# Liveness.


@pytest.mark.usefixtures("chat_db")
def test_healthz_is_ok_without_session_or_database(django_assert_num_queries):
    client = Client()
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response and not response.cookies
    assert "Cookie" not in response.get("Vary", "")


@pytest.mark.usefixtures("chat_db")
def test_healthz_and_readyz_need_no_login_or_csrf_but_only_get():
    client = Client(enforce_csrf_checks=True)
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
    assert client.post("/metrics").status_code == 405


# Readiness.


async def readyz():
    response = await AsyncClient().get("/readyz")
    assert "Set-Cookie" not in response
    return response.status_code, response.json()


async def test_readyz_is_ready_with_a_started_service(chat, use_service):
    use_service(await chat.start())
    assert await readyz() == (200, {"status": "ready", "checks": {
        "database": "ok", "channel_layer": "ok", "service": "ok", "heartbeat": "ok"}})


async def test_readyz_is_unavailable_before_the_service_starts(chat, use_service):
    use_service(chat.service())
    status, body = await readyz()
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["service"] == "not running" and body["checks"]["heartbeat"] == "none yet"
    assert body["checks"]["database"] == "ok"


async def test_readyz_is_unavailable_after_the_service_closed(chat, use_service):
    svc = use_service(await chat.start())
    await svc.close()
    status, body = await readyz()
    assert status == 503 and body["checks"]["service"] == "not running"


async def test_readyz_reports_a_stale_heartbeat(chat, use_service):
    # One heartbeat at start, the next one only in ten minutes: it goes stale.
    svc = use_service(await chat.start({"heartbeatRate": 600_000, "heartbeatTimeout": 300, "autoRecovery": False}))

    async def stale():
        return (await readyz())[0] == 503

    await eventually(stale, timeout=30)
    status, body = await readyz()
    assert body["status"] == "unavailable"
    assert body["checks"]["heartbeat"].startswith("last ") and "over 0.3s" in body["checks"]["heartbeat"]
    assert body["checks"]["service"] == "ok" and body["checks"]["database"] == "ok"
    assert svc.heartbeat_age() >= 0.3


async def test_readyz_reports_an_unreachable_channel_layer(chat, use_service):
    svc = use_service(await chat.start())
    svc.hub.available = False  # what the heartbeat's layer probe records when Redis is down
    status, body = await readyz()
    assert status == 503 and body["checks"]["channel_layer"] == "unreachable"


async def test_readyz_reports_a_database_error(chat, use_service, monkeypatch):
    use_service(await chat.start())

    async def broken():
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "_select_one", broken)
    status, body = await readyz()
    assert status == 503 and body["checks"]["database"] == "error: OperationalError"
    assert body["checks"]["service"] == "ok"


async def test_readyz_bounds_a_database_that_does_not_answer(chat, use_service, monkeypatch):
    use_service(await chat.start())

    async def hangs():
        await asyncio.Event().wait()

    monkeypatch.setattr(health, "_select_one", hangs)
    monkeypatch.setattr(health, "DATABASE_TIMEOUT", 0.2)
    status, body = await readyz()
    assert status == 503 and body["checks"]["database"] == "no answer within 0.2s"


# Metrics: access.


def scrape(client=None, **headers):
    return (client or Client()).get("/metrics", **headers)


def families(response):
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def sample(response, name, labels=None):
    for family in families(response).values():
        for found in family.samples:
            if found.name == name and found.labels == (labels or {}):
                return found.value
    return None


@pytest.mark.usefixtures("chat_db")
def test_metrics_are_open_to_the_local_networks_by_default():
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "Set-Cookie" not in response
    names = families(response)
    for name in ("chat_connections", "chat_logins", "chat_commands", "chat_command_duration_seconds",
                 "chat_notifications_delivered", "chat_connections_closed", "chat_rate_limited",
                 "chat_channel_layer_up", "chat_heartbeat_age_seconds", "chat_event_loop_lag_seconds",
                 "chat_instances_recovered"):
        assert name in names, sorted(names)
    assert scrape(Client(REMOTE_ADDR="::1")).status_code == 200
    assert scrape(Client(REMOTE_ADDR="::ffff:127.0.0.1")).status_code == 200


@pytest.mark.usefixtures("chat_db")
def test_metrics_refuse_other_networks_with_403():
    response = scrape(Client(REMOTE_ADDR="10.9.8.7"))
    assert response.status_code == 403 and b"chat_" not in response.content


@pytest.mark.usefixtures("chat_db")
def test_metrics_allow_list_admits_its_networks(settings):
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.9.0.0/16"), ipaddress.ip_network("2001:db8::/32")]
    assert scrape(Client(REMOTE_ADDR="10.9.8.7")).status_code == 200
    assert scrape(Client(REMOTE_ADDR="2001:db8::5")).status_code == 200
    assert scrape(Client(REMOTE_ADDR="10.10.0.1")).status_code == 403
    assert scrape(Client(REMOTE_ADDR="127.0.0.1")).status_code == 403
    assert scrape(Client(REMOTE_ADDR="not-an-address")).status_code == 403


@pytest.mark.usefixtures("chat_db")
def test_metrics_token_admits_other_networks(settings):
    settings.METRICS_TOKEN = "s3cret-scrape"
    outside = Client(REMOTE_ADDR="192.0.2.10")
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer s3cret-scrape").status_code == 200
    assert scrape(outside, HTTP_AUTHORIZATION="bearer s3cret-scrape").status_code == 200
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer s3cret-scrapf").status_code == 403
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert scrape(outside, HTTP_AUTHORIZATION="Token s3cret-scrape").status_code == 403
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer s3cret-scrape-and-more").status_code == 403
    assert scrape(outside).status_code == 403


@pytest.mark.usefixtures("chat_db")
def test_no_token_configured_means_bearer_never_admits():
    outside = Client(REMOTE_ADDR="192.0.2.10")
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert scrape(outside, HTTP_AUTHORIZATION="Bearer None").status_code == 403


@pytest.mark.usefixtures("chat_db")
def test_metrics_off_is_404_for_everyone(settings):
    settings.METRICS = False
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert scrape().status_code == 404
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-scrape").status_code == 404


# Metrics: values.


def value(name, labels=None):
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.mark.usefixtures("chat_db")
def test_recording_functions_move_the_scraped_metrics():
    before = scrape()
    metrics.connection_opened("websocket")
    metrics.connection_opened("websocket")
    metrics.connection_closed("websocket", 4008)
    metrics.connection_closed("websocket", None)
    metrics.connection_opened("websocket")
    metrics.login("accepted")
    metrics.login("tooManyConnections")
    metrics.command("roomMessage", "ok", 0.003)
    metrics.command("roomMessage", "ok", 0.2)
    metrics.command("roomJoin", "noRoom", 0.001)
    metrics.delivered()
    metrics.delivered(5)
    metrics.rate_limited()
    metrics.set_loop_lag(0.125)
    metrics.instance_recovered()
    after = scrape()

    def moved(name, labels=None):
        return (sample(after, name, labels) or 0) - (sample(before, name, labels) or 0)

    assert moved("chat_connections", {"transport": "websocket"}) == 1
    assert moved("chat_connections_closed_total", {"code": "4008"}) == 1
    assert moved("chat_connections_closed_total", {"code": "none"}) == 1
    assert moved("chat_logins_total", {"result": "accepted"}) == 1
    assert moved("chat_logins_total", {"result": "tooManyConnections"}) == 1
    assert moved("chat_commands_total", {"command": "roomMessage", "outcome": "ok"}) == 2
    assert moved("chat_commands_total", {"command": "roomJoin", "outcome": "noRoom"}) == 1
    assert moved("chat_command_duration_seconds_count", {"command": "roomMessage"}) == 2
    assert moved("chat_command_duration_seconds_bucket", {"command": "roomMessage", "le": "0.005"}) == 1
    assert moved("chat_command_duration_seconds_bucket", {"command": "roomMessage", "le": "0.25"}) == 2
    assert math.isclose(moved("chat_command_duration_seconds_sum", {"command": "roomMessage"}), 0.203)
    assert moved("chat_notifications_delivered_total") == 6
    assert moved("chat_rate_limited_total") == 1
    assert moved("chat_instances_recovered_total") == 1
    assert sample(after, "chat_event_loop_lag_seconds") == 0.125


@pytest.fixture
def chat_log(caplog):
    """Records of the "chat" logger (it does not propagate to the root)."""
    chat_logger = logging.getLogger("chat")
    chat_logger.addHandler(caplog.handler)
    yield caplog
    chat_logger.removeHandler(caplog.handler)


async def test_each_written_room_message_is_counted_as_delivered(chat, svc):
    await svc.add_room(R1)
    sender, member = await chat.client(svc, U1), await chat.client(svc, U2)
    for client in (sender, member):
        await client.call("roomJoin", R1)
    before = value("chat_notifications_delivered_total")
    await sender.call("roomMessage", R1, M)
    for client in (sender, member):
        await client.notification("roomMessage")
    assert value("chat_notifications_delivered_total") - before == 2


def test_recording_functions_never_raise(chat_log):
    lag = value("chat_event_loop_lag_seconds")
    delivered = value("chat_notifications_delivered_total")
    commands = value("chat_commands_total", {"command": "roomMessage", "outcome": "ok"})
    metrics.delivered(-1)  # counters only go up
    metrics.set_loop_lag("slow")
    metrics.command("roomMessage", "ok", "fast")
    assert value("chat_event_loop_lag_seconds") == lag
    assert value("chat_notifications_delivered_total") == delivered
    assert value("chat_commands_total", {"command": "roomMessage", "outcome": "ok"}) == commands
    failures = [r.getMessage() for r in chat_log.records if r.getMessage().startswith("metrics: ")]
    assert len(failures) == 3 and failures[0].startswith("metrics: delivered(-1,) failed")


async def test_service_gauges_are_read_at_scrape_time(chat, use_service):
    svc = use_service(chat.service())
    before = await AsyncClient().get("/metrics")
    assert sample(before, "chat_heartbeat_age_seconds") is None
    assert not svc.is_running  # scraping never starts the service
    await svc.start()
    started = await AsyncClient().get("/metrics")
    assert sample(started, "chat_channel_layer_up") == 1
    assert 0 <= sample(started, "chat_heartbeat_age_seconds") < svc.options.heartbeat_timeout / 1000
    svc.hub.available = False
    assert sample(await AsyncClient().get("/metrics"), "chat_channel_layer_up") == 0
