"""The two wire clients of the load process, with one interface.

``NativeClient`` speaks the Django service's JSON-RPC over WebSocket;
``SocketIOClient`` speaks the original chat-service's socket.io 2.x events
with acks. Both: ``await connect()`` returns once the login is confirmed,
``await call(method, *params)`` returns the command's result or raises
``BenchError``, and every ``roomMessage`` notification goes to
``client.sink(room, message)``, which the scenario swaps between phases.
"""
import asyncio
import itertools
import json
from urllib.parse import quote

import socketio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

CALL_TIMEOUT = 120
LOGIN_TIMEOUT = 120


class BenchError(Exception):
    """The benchmark cannot measure: a server misbehaved or a check failed."""


def ignore_message(room, message):
    """The sink outside a measured phase: nothing should arrive then."""


class NativeClient:
    """One WebSocket to ws://127.0.0.1:PORT/ws/chat/ with ?user= login."""

    def __init__(self, port, user):
        self.port, self.user = port, user
        self.sink = ignore_message
        self._ids = itertools.count(1)
        self._pending = {}
        self._ws = self._reader = None

    async def connect(self):
        url = f"ws://127.0.0.1:{self.port}/ws/chat/?user={quote(self.user)}"
        # No client pings: an idle connection should cost the server nothing.
        self._ws = await ws_connect(url, max_size=None, open_timeout=LOGIN_TIMEOUT, ping_interval=None)
        first = json.loads(await asyncio.wait_for(self._ws.recv(), LOGIN_TIMEOUT))
        if first.get("method") != "loginConfirmed":
            await self._ws.close()
            raise BenchError(f"login of {self.user} failed: {first}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for frame in self._ws:
                data = json.loads(frame)
                method = data.get("method")
                if method is None:
                    future = self._pending.pop(data.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(data)
                elif method == "roomMessage":
                    self.sink(*data["params"])
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BenchError(f"connection of {self.user} closed during a call"))

    async def call(self, method, *params):
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send(json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)}))
        try:
            reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        except asyncio.TimeoutError:
            self._pending.pop(call_id, None)
            raise BenchError(f"{method}{params!r} by {self.user}: no reply in {CALL_TIMEOUT} s") from None
        if "error" in reply:
            raise BenchError(f"{method}{params!r} by {self.user}: {reply['error']}")
        return reply["result"]

    async def close(self):
        await self._ws.close()
        await self._reader


class SocketIOClient:
    """One socket.io 2.x connection to namespace /chat-service, ?user= login."""

    NAMESPACE = "/chat-service"

    def __init__(self, port, user):
        self.port, self.user = port, user
        self.sink = ignore_message
        self._sio = socketio.AsyncClient(reconnection=False)

    async def connect(self):
        login = asyncio.get_running_loop().create_future()

        def confirmed(*args):
            if not login.done():
                login.set_result(None)

        def rejected(error):
            if not login.done():
                login.set_exception(BenchError(f"login of {self.user} failed: {error}"))

        self._sio.on("loginConfirmed", confirmed, namespace=self.NAMESPACE)
        self._sio.on("loginRejected", rejected, namespace=self.NAMESPACE)
        self._sio.on("roomMessage", lambda room, message: self.sink(room, message), namespace=self.NAMESPACE)
        url = f"http://127.0.0.1:{self.port}?user={quote(self.user)}"
        await asyncio.wait_for(
            self._sio.connect(url, namespaces=[self.NAMESPACE], transports=["websocket"]), LOGIN_TIMEOUT
        )
        await asyncio.wait_for(login, LOGIN_TIMEOUT)

    async def call(self, method, *params):
        try:
            error, result = await self._sio.call(method, params, namespace=self.NAMESPACE, timeout=CALL_TIMEOUT)
        except socketio.exceptions.TimeoutError:
            raise BenchError(f"{method}{params!r} by {self.user}: no ack in {CALL_TIMEOUT} s") from None
        if error is not None:
            raise BenchError(f"{method}{params!r} by {self.user}: {error}")
        return result

    async def close(self):
        await self._sio.disconnect()
