"""The deployment files in deploy/ agree with what the service exposes: the
alert rules and the dashboard only query metrics that exist, the dashboard
shows every family, and the unit and proxy keep the run command's promises."""
import json
import re
from pathlib import Path

import yaml

from chatproject import metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
METRIC_NAME = re.compile(r"\b(?:chat|process)_[a-z_]+\b")


def exposed_names():
    """Every sample name /metrics can carry, whether or not it has a value yet."""
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in ("_total", "_created", "_bucket", "_count", "_sum"))
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_exprs():
    dashboard = json.loads((DEPLOY / "grafana" / "chat-dashboard.json").read_text())
    return dashboard, [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules():
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_are_complete_and_query_existing_metrics():
    names = exposed_names()
    rules = alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
        used = set(METRIC_NAME.findall(rule["expr"]))
        assert used or "up{" in rule["expr"], rule
        assert used <= names, (rule["alert"], used - names)
    covered = {name for rule in rules for name in METRIC_NAME.findall(rule["expr"])}
    for name in ("chat_channel_layer_up", "chat_heartbeat_age_seconds", "chat_event_loop_lag_seconds",
                 "chat_commands_total", "chat_command_duration_seconds_bucket", "chat_connections_closed_total",
                 "chat_instances_recovered_total"):
        assert name in covered, name


def test_dashboard_queries_existing_metrics_and_shows_every_family():
    dashboard, exprs = dashboard_exprs()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    names = exposed_names()
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used <= names, used - names
    for family in ("chat_connections", "chat_logins_total", "chat_commands_total",
                   "chat_command_duration_seconds_bucket", "chat_notifications_delivered_total",
                   "chat_connections_closed_total", "chat_rate_limited_total", "chat_channel_layer_up",
                   "chat_heartbeat_age_seconds", "chat_event_loop_lag_seconds", "chat_instances_recovered_total"):
        assert family in used, family
    assert any('code="4008"' in expr for expr in exprs)
    assert any(expr.startswith("histogram_quantile(0.99") for expr in exprs)
    assert any(expr.startswith("histogram_quantile(0.5") for expr in exprs)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'instance=~"$instance"' in target["expr"], target["expr"]


def test_systemd_unit_runs_the_run_command_and_outlasts_a_clean_close():
    unit = (DEPLOY / "systemd" / "chat@.service").read_text()
    exec_start = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", unit, re.MULTILINE).group(1)
    args = exec_start.replace("\\\n", " ").split()
    assert args[1:3] == ["-m", "chatproject.serve"] and args[-1] == "chatproject.asgi:application"
    for flag in ("--proxy-headers", "--websocket-max-message-size", "--websocket-max-frame-size"):
        assert flag in args
    assert args[args.index("-p") + 1] == "%i" and args[args.index("--websocket_timeout") + 1] == "-1"
    run = (ROOT / "scripts" / "run").read_text()
    assert '"$PY" -m chatproject.serve' in run
    from chatproject.service.options import load_options

    stop_seconds = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE).group(1))
    assert stop_seconds > load_options().close_timeout / 1000
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.MULTILINE)


def test_nginx_passes_websockets_and_sets_the_client_address():
    proxy = (DEPLOY / "nginx" / "chat-proxy.conf").read_text()
    site = (DEPLOY / "nginx" / "chat.conf").read_text()
    assert "proxy_http_version 1.1;" in proxy
    assert "proxy_set_header Upgrade $http_upgrade;" in proxy
    assert "proxy_set_header Connection $connection_upgrade;" in proxy
    # Set, never appended: daphne --proxy-headers trusts the first address (METRICS_ALLOW).
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in proxy
    assert "$proxy_add_x_forwarded_for" not in site + proxy
    assert "location = /metrics { return 404; }" in site
    assert re.search(r"location ~ \^/\(800\[0-9\]\)/\(healthz\|readyz\|metrics\)\$", site)
