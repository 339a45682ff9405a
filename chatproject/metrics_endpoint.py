"""GET /metrics: who may read it (docs/operations.md).

A client is admitted when its address (the ASGI scope's client: under daphne
`--proxy-headers`, the X-Forwarded-For address) is in METRICS_ALLOW, or when
it sends `Authorization: Bearer METRICS_TOKEN`; anyone else gets 403, and
with METRICS=off the endpoint does not exist (404).
"""
import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily

from chatproject import metrics, service


def _client_allowed(request):
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOW)


def _token_valid(request):
    token = settings.METRICS_TOKEN
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


class ServiceCollector:
    """Gauges read from this process's service at scrape time (it is never
    started from here)."""

    def collect(self):
        api = service.api
        layer_up = GaugeMetricFamily(
            "chat_channel_layer_up", "1 when the channel layer is reachable (0 before the service starts).")
        layer_up.add_metric([], 1 if api.layer_available else 0)
        yield layer_up
        heartbeat = GaugeMetricFamily(
            "chat_heartbeat_age_seconds",
            "Age of this instance's last successful heartbeat (no sample before the first).")
        age = api.heartbeat_age()
        if age is not None:
            heartbeat.add_metric([], age)
        yield heartbeat


metrics.REGISTRY.register(ServiceCollector())


@csrf_exempt
@require_safe
async def metrics_view(request):
    if not settings.METRICS:
        raise Http404("metrics are off")
    if not (_client_allowed(request) or _token_valid(request)):
        return HttpResponse("Forbidden: not an allowed network and no valid bearer token.\n",
                            status=403, content_type="text/plain; charset=utf-8")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
