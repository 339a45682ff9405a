"""Names in admin API paths come from the ASGI `raw_path` (docs/rest-api.md, Names in paths).

The server's decoded `path` turns `%2F` into `/`, so a name holding a slash
would split into two segments. This middleware rebuilds `path_info` of
`/api/` requests from the raw bytes: split on literal `/`, percent-decode
each segment as UTF-8, then percent-encode it again completely. URL
patterns thus see one segment per name, and views decode it back.
"""
from urllib.parse import quote, unquote_to_bytes

from django.http import JsonResponse

from .errors import bad_argument, json_error, service_error_body, status_for

PREFIX = "/api/"


def _segments(request):
    """The decoded path segments after the script name, or None for bad UTF-8."""
    raw = getattr(request, "scope", {}).get("raw_path")
    if raw is None:  # WSGI or a test client: the path is decoded already, and holds no %2F.
        return request.path_info.split("/")
    segments = raw.split(b"/")
    skip = request.META.get("SCRIPT_NAME", "").rstrip("/").count("/")
    if skip:
        segments = [b""] + segments[skip + 1:]
    try:
        return [unquote_to_bytes(segment).decode("utf-8") for segment in segments]
    except UnicodeDecodeError:
        return None


class RawPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(PREFIX):
            segments = _segments(request)
            if segments is None:
                error = bad_argument("path", request.path_info)
                return JsonResponse(service_error_body(error), status=status_for(error.code))
            if any(segment in (".", "..") for segment in segments):
                # Clients resolve dot segments themselves: such names are not addressable.
                return json_error("notFound", "Not found.")
            request.path_info = "/".join(quote(segment, safe="") for segment in segments)
        return self.get_response(request)
