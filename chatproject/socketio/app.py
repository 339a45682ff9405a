"""`/socket.io/`: the ASGI application of the socket.io endpoint, for HTTP
long-polling and WebSocket, Engine.IO 3 and 4 (docs/socketio.md).

Requests that break the protocol get Engine.IO's error JSON
(`{"code": ..., "message": ...}`, status 400) and, when they belong to a
session, close it.
"""
import asyncio
import re
from urllib.parse import urlparse

from chatproject.common.jsontext import compact_json
from chatproject.connection import CLOSE_FRAME_TOO_LARGE, WebSocketOutbox, frame_size, origin_rule
from chatproject.daphne_integration import WIRE_EXTENSION
from chatproject.service.transport import decode_headers, decode_query

from .engineio import OPEN, PING, UPGRADE, EngineError, check_packet, decode_payload
from .session import CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_DATA, Engine
from .sockets import Namespaces

UNKNOWN_TRANSPORT = (0, "Transport unknown")
UNKNOWN_SID = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
FORBIDDEN = (4, "Forbidden")
UNSUPPORTED_PROTOCOL_VERSION = (5, "Unsupported protocol version")
NO_JSONP = (3, "Bad request: JSONP polling is not supported")
NO_BINARY = (3, "Bad request: binary packets are not supported")
UNAVAILABLE = (3, "Service unavailable")
PAYLOAD_TOO_LARGE = (3, "Bad request: payload too large")
BAD_PREFLIGHT = (3, "Bad request: not a CORS preflight")

# A header list of Access-Control-Request-Headers: HTTP tokens (RFC 9110), comma-separated.
HEADER_NAMES = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")


class RequestError(Exception):
    def __init__(self, error, status=400):
        super().__init__(error[1])
        self.error = error
        self.status = status


class SocketIOApp:
    """One per process: HTTP and WebSocket requests share its sessions."""

    def __init__(self, service=None, engine=None):
        self._service = service  # `chatproject.service.api` when not given
        self._engine = engine  # by default, one timed by the service's heartbeatTimeout
        self._origins = origin_rule()

    @property
    def service(self):
        if self._service is None:
            from chatproject.service import api

            self._service = api
        return self._service

    @property
    def engine(self):
        if self._engine is None:
            self._engine = Engine.within(self.service.options.heartbeat_timeout, self.service.options.max_outgoing_bytes)
        return self._engine

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _open_packet(self, session, upgrades):
        handshake = {
            "sid": session.sid,
            "upgrades": upgrades,
            "pingInterval": round(self.engine.ping_interval * 1000),
            "pingTimeout": round(self.engine.ping_timeout * 1000),
        }
        if session.generation == 4:
            handshake["maxPayload"] = self.service.options.max_frame_bytes
        return OPEN + compact_json(handshake)

    def _read_query(self, scope, transport):
        """(generation, session or None for a handshake) of a request, or RequestError."""
        query = decode_query(scope.get("query_string", b""))
        if "j" in query:
            raise RequestError(NO_JSONP)
        generation = {"3": 3, "4": 4}.get(query.get("EIO"))
        if generation is None:
            raise RequestError(UNSUPPORTED_PROTOCOL_VERSION)
        if query.get("transport") != transport:
            raise RequestError(UNKNOWN_TRANSPORT if query.get("transport") not in ("polling", "websocket") else BAD_REQUEST)
        sid = query.get("sid")
        if sid is None:
            return generation, None
        session = self.engine.sessions.get(sid)
        if session is None:
            raise RequestError(UNKNOWN_SID)
        if session.generation != generation:
            raise RequestError(BAD_REQUEST)
        return generation, session

    # HTTP long-polling.

    async def _http(self, scope, receive, send):
        headers = decode_headers(scope.get("headers", ()))
        origin = headers.get("origin")
        try:
            if origin is not None and not self._origins.valid_origin(urlparse(origin)):
                origin = None  # no CORS grant: the foreign page may not read even the error
                raise RequestError(FORBIDDEN, 403)
            if scope["method"] == "OPTIONS" and origin is not None:
                await _answer_preflight(send, origin, headers)
                return
            generation, session = self._read_query(scope, "polling")
            if session is None:
                if scope["method"] != "GET":
                    raise RequestError(BAD_HANDSHAKE_METHOD)
                if not await self.service.ensure_started():
                    raise RequestError(UNAVAILABLE, 503)
                session = self.engine.open(generation, scope)
                session.send(self._open_packet(session, ["websocket"]))
                Namespaces(self.service, session)
                await self._poll(session, receive, send, origin)
            elif session.transport != "polling":
                raise RequestError(BAD_REQUEST)  # upgraded: a stray request, the session goes on
            elif scope["method"] == "GET":
                await self._poll(session, receive, send, origin)
            elif scope["method"] == "POST":
                await self._post(session, scope, receive, send, origin)
            else:
                raise RequestError(BAD_REQUEST)
        except RequestError as exc:
            code, message = exc.error
            await _respond(send, exc.status, compact_json({"code": code, "message": message}), "application/json", origin)

    async def _poll(self, session, receive, send, origin):
        request_gone = asyncio.ensure_future(_disconnected(receive))
        try:
            payload = await session.poll(request_gone)
        except EngineError as exc:
            session.fail(str(exc))
            raise RequestError(BAD_REQUEST) from None
        finally:
            request_gone.cancel()
        if payload is not None:
            await _respond(send, 200, payload, "text/plain; charset=UTF-8", origin)

    async def _post(self, session, scope, receive, send, origin):
        try:
            body = await _read_body(receive, self.service.options.max_frame_bytes)
        except RequestError:
            session.fail("payload too large")
            raise
        if body is None:
            return
        content_type = decode_headers(scope.get("headers", ())).get("content-type", "")
        try:
            if content_type.startswith("application/octet-stream"):
                raise EngineError("binary payload")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise EngineError("payload is not UTF-8") from None
            for packet in decode_payload(text, session.generation):
                session.receive(packet)
        except EngineError as exc:
            session.fail(str(exc))
        if session.failure is not None:
            raise RequestError(NO_BINARY if "binary" in session.failure else BAD_REQUEST)
        await _respond(send, 200, "ok", "text/html; charset=UTF-8", origin)

    # WebSocket.

    async def _websocket(self, scope, receive, send):
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            generation, session = self._read_query(scope, "websocket")
        except RequestError:
            await send({"type": "websocket.close"})
            return
        if not await self.service.ensure_started():
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        outbox = WebSocketOutbox(send, scope.get("extensions", {}).get(WIRE_EXTENSION), lambda: session.websocket_gone(outbox))
        if session is None:
            session = self.engine.open(generation, scope)
            session.attach_websocket(outbox)
            session.send(self._open_packet(session, []))
            Namespaces(self.service, session)
        else:
            try:
                session.begin_upgrade(outbox)
            except EngineError:
                outbox.close(CLOSE_PROTOCOL_ERROR)
                await _disconnected(receive)
                return
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message["type"] == "websocket.receive":
                    self._ws_receive(session, outbox, message)
        finally:
            session.websocket_gone(outbox)

    def _ws_receive(self, session, outbox, message):
        text = message.get("text")
        if session.ended:
            return
        upgrading = not session.carried_by(outbox)
        try:
            if text is None:
                raise EngineError("binary packets are not supported")
            if frame_size(text, self.service.options.max_frame_bytes) > self.service.options.max_frame_bytes:
                raise EngineError("frame too large")
            if upgrading:
                if text == PING + "probe":
                    session.probed(outbox)
                elif text == UPGRADE:
                    session.upgraded(outbox)
                else:
                    raise EngineError("unexpected packet during the upgrade")
            else:
                session.receive(check_packet(text))
        except EngineError as exc:
            code = CLOSE_UNSUPPORTED_DATA if text is None else CLOSE_FRAME_TOO_LARGE if "too large" in str(exc) else CLOSE_PROTOCOL_ERROR
            if upgrading:
                session.upgrade_failed(outbox)
                outbox.close(code)
            else:
                session.fail(str(exc), code)


async def _disconnected(receive):
    """Until the client is gone (http.disconnect or websocket.disconnect)."""
    while True:
        message = await receive()
        if message["type"] in ("http.disconnect", "websocket.disconnect"):
            return


async def _read_body(receive, limit):
    """The request body; None when the client left first; 413 past `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(PAYLOAD_TOO_LARGE, 413)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer_preflight(send, origin, headers):
    """A browser asks before a cross-origin request it may not send unasked
    (polling with `extraHeaders`): grant the admitted `origin` GET and POST
    with the headers it names. Sessions are not touched: the request itself
    is checked when it comes."""
    requested = headers.get("access-control-request-headers", "").strip()
    if "access-control-request-method" not in headers or (requested and not HEADER_NAMES.fullmatch(requested)):
        raise RequestError(BAD_PREFLIGHT)
    grant = _cors_headers(origin) + [(b"access-control-allow-methods", b"GET, POST")]
    if requested:
        grant.append((b"access-control-allow-headers", requested.encode("latin-1")))
    await send({"type": "http.response.start", "status": 204, "headers": grant + [(b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})


def _cors_headers(origin):
    """What lets a page of an admitted `origin` read the answer (None: no page, no grant)."""
    if origin is None:
        return []
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin")]


async def _respond(send, status, text, content_type, origin):
    headers = [(b"content-type", content_type.encode("latin-1")), (b"cache-control", b"no-store")]
    headers += _cors_headers(origin)
    body = text.encode("utf-8")
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
