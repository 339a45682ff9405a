"""The admin API's common ground (docs/rest-api.md): strict JSON in and out,
errors in one shape, staff-only access, names from the raw path, pagination.

Everything goes through the service API (`api.sync.*`): changes, so that
their live effects happen (notifications, removal of users who lose
access), and reads (the service's queries). The service is looked up on
each call (`chatproject.service.api`), so that tests can put their own in
its place.
"""
import re
from urllib.parse import unquote

from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject import service
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import MAX_SAFE_INTEGER
from chatproject.service.jsonrpc import FrameError, parse_json

from . import serializers as s
from .errors import bad_argument, exception_handler

DIGITS = re.compile(r"[0-9]{1,16}")  # a page number or a count in a query string


# Transport: JSON in and out, strictly parsed, errors in one shape.


class StrictJSONParser(JSONParser):
    """JSON read by the WebSocket endpoint's rules (docs/protocol.md, Framing):
    no NaN or Infinity, no lone surrogates, bounded depth and digits."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            return parse_json(stream.read().decode(encoding))
        except (UnicodeDecodeError, LookupError, FrameError):
            raise exceptions.ParseError() from None


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """Always answer JSON, whatever `Accept` says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ChatPagination(PageNumberPagination):
    page_size = 100

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "1")
        if not DIGITS.fullmatch(raw) or int(raw) < 1:
            raise bad_argument(self.page_query_param, raw)
        return int(raw)


class AdminView(APIView):
    """Staff only; path names decoded into `self.names` once authenticated."""

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    metadata_class = None  # OPTIONS is not part of the API: 405

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.content_type and int(request.META.get("CONTENT_LENGTH") or 0) > 0:
            raise exceptions.UnsupportedMediaType("")  # a body we would otherwise ignore
        self.names = {}
        for key, segment in kwargs.items():
            name = unquote(segment, errors="strict")
            if "\x00" in name:
                raise bad_argument(key, name)
            self.names[key] = name

    def page(self, count, items):
        """A paginated answer of items the service reads page by page."""
        paginator = ChatPagination()
        return paginator.get_paginated_response(paginator.paginate_queryset(ServicePage(count, items), self.request, view=self))

    def create(self, serializer_class, list_names, list_limit, add, detail):
        """POST of a room or user: validate, add through the service, answer its detail form."""
        state = self.body(serializer_class)
        check_list_sizes(state, list_names, list_limit)
        name = state.pop("name")
        add(name, state)
        return Response(detail(name), status=201)

    def body(self, serializer_class):
        """The validated body: the first bad field raises badArgument."""
        data = self.request.data
        if type(data) is not dict:
            raise bad_argument("body", data)
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def check_list_sizes(state, list_names, limit):
    """listLimitExceeded before the service call (distinct names, as the service counts)."""
    for list_name in list_names:
        if len(set(state.get(list_name) or ())) > limit:
            raise ChatServiceError("listLimitExceeded", list_name)


# Read helpers.


def access_list(room, list_name):
    return service.api.sync.exec_user_command({"bypassPermissions": True}, "roomGetAccessList", room, list_name)


class ServicePage:
    """A sequence of items the service reads page by page, for DRF's paginator."""

    def __init__(self, count, items):
        self._count, self._items = count, items

    def __len__(self):
        return self._count()

    def count(self):
        return len(self)

    def __getitem__(self, window):
        return self._items(window.start or 0, window.stop - (window.start or 0))


# Schema helpers.

ERRORS = {status: s.Error for status in (400, 401, 403, 404, 500, 503)}


def responses(**extra):
    """Documented answers: the given successes plus every error status."""
    answers = dict(ERRORS)
    answers.update({int(key[1:]): value for key, value in extra.items()})
    return answers


def path_params(*names):
    return [
        OpenApiParameter(
            name, {"type": "string", "minLength": 1, "pattern": s.NO_NUL}, OpenApiParameter.PATH,
            description="percent-encoded, one path segment",
        )
        for name in names
    ]


BODY_ERRORS = {409: s.Error, 415: s.Error}
PAGE = OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}, OpenApiParameter.QUERY)
