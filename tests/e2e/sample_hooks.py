"""A hooks class for the end-to-end hook tests (CHAT_HOOKS=tests.e2e.sample_hooks.SampleHooks)."""
import json

from chatproject.service import ChatServiceError, Hooks

ROOM = "hooked"


class SampleHooks(Hooks):
    async def on_start(self, server):
        if not await server.has_room(ROOM):
            try:
                await server.add_room(ROOM)
            except ChatServiceError as error:
                if error.code != "roomExists":
                    raise

    def on_connect(self, server, id):  # a plain function: runs through sync_to_async
        query = server.transport.get_handshake_data(id)["query"]
        name = query.get("user")
        if not name:
            return None
        return name, {"greeting": "hi"}

    async def room_message_before(self, exec_info):
        if "forbidden" in json.dumps(exec_info.args[1]):
            raise ChatServiceError("forbidden")

    async def room_messages_checker(self, message):
        if not isinstance(message.get("htmlMessage", message.get("textMessage")), str):
            raise ChatServiceError("badFormat")
