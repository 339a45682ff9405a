"""The server side of the original README's socket.io example, as hooks.

The original's server took the login from the handshake query in its
``onConnect`` hook and made sure a room ``default`` existed; these hooks do
the same for this project's server:

    PYTHONPATH=examples/socketio-client CHAT_HOOKS=readme_hooks.ReadmeExampleHooks scripts/run

Like the original, it trusts the ``userName`` query parameter: an example,
not a login to deploy.
"""
from chatproject.service import ChatServiceError, Hooks

ROOM = "default"


class ReadmeExampleHooks(Hooks):
    async def on_start(self, server):
        """Create the example's room, owned by ``admin``, unless it exists."""
        if not await server.has_room(ROOM):
            try:
                await server.add_room(ROOM, {"owner": "admin"})
            except ChatServiceError as error:
                if error.code != "roomExists":  # another process was faster
                    raise

    async def on_connect(self, server, id):
        """The user name is the ``userName`` query parameter (no parameter: rejected)."""
        return server.transport.get_handshake_data(id)["query"].get("userName")
