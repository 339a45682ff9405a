"""GET /healthz (liveness) and GET /readyz (readiness), docs/operations.md.

Neither touches the session or the user, so no cookie is ever set. Only
/readyz reaches the database: one `SELECT 1` off the event loop, bounded in
time, on a connection it closes afterwards.
"""
import asyncio

from channels.db import database_sync_to_async
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

DATABASE_TIMEOUT = 5  # seconds; a readiness probe must answer before its own timeout


@csrf_exempt
@require_safe
async def healthz(request):
    return JsonResponse({"status": "ok"})


@database_sync_to_async
def _select_one():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # Under ASGI each request's sync code runs in a thread of its own, whose
        # connection would otherwise stay open (CONN_MAX_AGE) after the thread.
        if not connection.in_atomic_block:
            connection.close()


async def _database_check():
    try:
        await asyncio.wait_for(_select_one(), DATABASE_TIMEOUT)
    except asyncio.TimeoutError:
        return f"no answer within {DATABASE_TIMEOUT}s"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def service_checks(api):
    """The service's part of readiness: channel layer, started, heartbeat."""
    if api.layer_available is None:
        layer = "not connected yet"
    else:
        layer = "ok" if api.layer_available else "unreachable"
    age = api.heartbeat_age()
    limit = api.options.heartbeat_timeout / 1000
    if age is None:
        heartbeat = "none yet"
    elif age < limit:
        heartbeat = "ok"
    else:
        heartbeat = f"last {age:.1f}s ago, over {limit:g}s"
    return {
        "channel_layer": layer,
        "service": "ok" if api.is_running else "not running",
        "heartbeat": heartbeat,
    }


@csrf_exempt
@require_safe
async def readyz(request):
    from chatproject import service

    checks = {"database": await _database_check(), **service_checks(service.api)}
    if all(result == "ok" for result in checks.values()):
        return JsonResponse({"status": "ready", "checks": checks})
    return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
