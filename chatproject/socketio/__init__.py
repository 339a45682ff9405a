"""The socket.io endpoint `/socket.io/` (docs/socketio.md): Engine.IO 3 and 4,
Socket.IO 4 and 5 protocols, namespace `/chat-service`, on the same service
as the native endpoint.

- `engineio`: the Engine.IO packet and payload codec of both generations.
- `packets`: the Socket.IO packet codec of both generations.
- `session`: Engine.IO sessions (polling, WebSocket, upgrade, heartbeats).
- `sockets`: the namespace and the service's socket of a session.
- `app`: the ASGI application (HTTP long-polling and WebSocket).
"""
