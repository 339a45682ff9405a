"""Error bodies and statuses of the admin API (docs/rest-api.md, Errors).

Every failure answers `{"code", "message"}`, plus `"args"` for chat-service
errors, so that a client handles REST and WebSocket errors alike.
"""
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from chatproject.common.errors import ChatServiceError, internal_error

logger = logging.getLogger("chat")

# Chat-service codes whose status is not 400 (hook codes and the rest are 400).
STATUS_BY_CODE = {
    "notAuthenticated": 401,
    "permissionDenied": 403,
    "notAllowed": 403,
    "notJoined": 403,
    "notFound": 404,
    "noRoom": 404,
    "noUser": 404,
    "noUserOnline": 404,
    "methodNotAllowed": 405,
    "roomExists": 409,
    "userExists": 409,
    "userOnline": 409,
    "unsupportedMediaType": 415,
    "internalError": 500,
    "timeout": 503,
    "unavailable": 503,
}


def status_for(code):
    return STATUS_BY_CODE.get(code, 400)


def bad_argument(field, value):
    """The REST validation error: args are [field, value]."""
    return ChatServiceError("badArgument", field, value)


def service_error_body(error):
    return {"code": error.code, "message": error.message, "args": list(error.args)}


def http_error_body(code, message):
    return {"code": code, "message": str(message)}


def json_error(code, message):
    """An error answered before any view runs (middleware, URL resolution)."""
    return JsonResponse(http_error_body(code, message), status=status_for(code))


def _classify(exc):
    """(body, extra headers) for any exception a view can raise."""
    if isinstance(exc, ChatServiceError):
        return service_error_body(exc), {}
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else {}
        return http_error_body("notAuthenticated", exc.detail), headers
    if isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)):
        return http_error_body("permissionDenied", getattr(exc, "detail", "Permission denied.")), {}
    if isinstance(exc, (exceptions.NotFound, Http404)):
        return http_error_body("notFound", "Not found."), {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return http_error_body("methodNotAllowed", exc.detail), {}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return http_error_body("unsupportedMediaType", exc.detail), {}
    if isinstance(exc, (exceptions.ParseError, exceptions.ValidationError, SuspiciousOperation)):
        # A body that cannot be read or parsed (docs/rest-api.md, Errors: 400 badArgument).
        return service_error_body(bad_argument("body", None)), {}
    logger.error("admin API request failed", exc_info=exc)
    return service_error_body(internal_error()), {}


def exception_handler(exc, context):
    """DRF exception handler: always our error body, never internal detail."""
    body, headers = _classify(exc)
    return Response(body, status=status_for(body["code"]), headers=headers)
