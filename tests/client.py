"""An in-process WebSocket client for tests (Channels' WebsocketCommunicator)."""
import asyncio
import json
from urllib.parse import quote

from channels.testing import WebsocketCommunicator


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(error.get("message"))
        self.error = error
        self.rpc_code = error.get("code")
        data = error.get("data") or {}
        self.code = data.get("code")
        self.args_ = data.get("args")


class ChatClient:
    """One socket: JSON-RPC calls, and a buffer of the notifications received."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.notifications = []  # (method, params) not yet taken
        self.replies = {}
        self.login = None
        self.socket_id = None
        self.close_code = None
        self._next_id = 0

    async def _receive(self, timeout):
        """Read one frame; returns the parsed value or None once closed."""
        if self.close_code is not None:
            return None
        message = await self.communicator.output_queue.get() if timeout is None else await asyncio.wait_for(
            self.communicator.output_queue.get(), timeout
        )
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            return None
        if message["type"] != "websocket.send":
            return None
        return json.loads(message["text"])

    def _file(self, value):
        if isinstance(value, dict) and "method" in value and "id" not in value:
            self.notifications.append((value["method"], value["params"]))
        elif isinstance(value, dict):
            self.replies[value.get("id")] = value
        else:
            self.replies.setdefault("batch", []).append(value)

    async def pump(self, timeout):
        value = await self._receive(timeout)
        if value is None:
            raise ConnectionError(f"socket closed with {self.close_code}")
        self._file(value)

    async def send_raw(self, text=None, binary=None):
        if binary is not None:
            await self.communicator.send_to(bytes_data=binary)
        else:
            await self.communicator.send_to(text_data=text)

    async def request(self, method, *params, timeout=5):
        """Send a call and return the whole reply object."""
        self._next_id += 1
        request_id = self._next_id
        await self.send_raw(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}))
        return await self.reply(request_id, timeout)

    async def reply(self, request_id, timeout=5):
        deadline = asyncio.get_running_loop().time() + timeout
        while request_id not in self.replies:
            await self.pump(max(deadline - asyncio.get_running_loop().time(), 0.001))
        return self.replies.pop(request_id)

    async def call(self, method, *params, timeout=5):
        """The result of a call; raises RpcError for an error reply."""
        reply = await self.request(method, *params, timeout=timeout)
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply["result"]

    async def notify(self, method, *params):
        await self.send_raw(json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params)}))

    async def notification(self, name, timeout=5):
        """The params of the next notification `name` (taken from the buffer first)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index, (method, params) in enumerate(self.notifications):
                if method == name:
                    del self.notifications[index]
                    return params
            await self.pump(max(deadline - asyncio.get_running_loop().time(), 0.001))

    async def no_notification(self, name, wait=0.5):
        """Assert that no notification `name` is or becomes buffered within `wait`."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            assert all(method != name for method, _ in self.notifications), f"unexpected {name}"
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.close_code is not None:
                return
            try:
                await self.pump(remaining)
            except (asyncio.TimeoutError, ConnectionError):
                return

    async def wait_closed(self, timeout=5):
        deadline = asyncio.get_running_loop().time() + timeout
        while self.close_code is None:
            value = await self._receive(max(deadline - asyncio.get_running_loop().time(), 0.001))
            if value is not None:
                self._file(value)
        return self.close_code

    async def close(self):
        if self.close_code is None:
            await self.communicator.disconnect()
            self.close_code = 1000


async def connect(application, user=None, query=None, headers=None, expect_login=True):
    """Connect a client; with `expect_login` wait for loginConfirmed."""
    path = "/ws/chat/"
    if query is None and user is not None:
        query = "user=" + quote(user, safe="")
    if query:
        path += "?" + query
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect(timeout=5)
    client = ChatClient(communicator)
    if not connected:
        client.close_code = 403
        return client
    first = await client._receive(5)
    client.login = first
    if expect_login:
        assert first and first.get("method") == "loginConfirmed", first
        client.socket_id = first["params"][1]["id"]
    return client
