"""Content-Security-Policy on every HTML response (docs/operations.md).

Scripts only from this origin (no inline script, no eval); the page may open
a WebSocket to its own host, which needs ws:/wss: named explicitly because
'self' does not cover them in every browser. The Swagger UI page
(/api/docs/) keeps the same script policy but brings an inline <style> block
of its own.
"""
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Views (by URL name) whose third-party page needs more, never in script-src.
VIEW_POLICIES = {"api-docs": {"style-src": "'self' 'unsafe-inline'"}}


def policy_for(request):
    policy = dict(POLICY)
    match = getattr(request, "resolver_match", None)
    if match is not None:
        policy.update(VIEW_POLICIES.get(match.url_name, {}))
    try:
        host = request.get_host()
    except DisallowedHost:
        host = None
    if host:
        policy["connect-src"] += f" ws://{host} wss://{host}"
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_for(request)
        return response
