"""An example hooks object: a profanity filter and an audit log.

Switch it on with ``CHAT_HOOKS=chatproject.example_hooks.ModeratedChat``
(or ``CHAT_SERVICE = {"hooks": "chatproject.example_hooks.ModeratedChat"}``).
It shows the three kinds of hook a project usually needs:

- a before hook that refuses a command with its own error code
  (``room_message_before``: the client gets ``error.data.code ==
  "profanity"`` and the offending words in ``data.args``);
- an after hook that observes the outcome (``room_delete_after`` writes one
  audit line per deleted room, whoever deleted it: a client, REST, the
  admin or ``api.delete_room``);
- a lifecycle hook (``on_start``) that prepares state before the first
  connection is accepted.

Override ``BANNED_WORDS`` in a subclass to choose the vocabulary.
"""
import logging
import re

from chatproject.service import ChatServiceError, Hooks

audit_log = logging.getLogger("chat.audit")


class ModeratedChat(Hooks):
    BANNED_WORDS = ("darn", "heck", "frak")
    LOBBY = "lobby"

    def __init__(self):
        words = "|".join(re.escape(word) for word in self.BANNED_WORDS)
        self._banned = re.compile(rf"\b({words})\b", re.IGNORECASE)

    async def on_start(self, server):
        """Make sure a public lobby exists before anyone connects."""
        if not await server.has_room(self.LOBBY):
            try:
                await server.add_room(self.LOBBY)
            except ChatServiceError as error:
                if error.code != "roomExists":  # another instance was faster
                    raise

    async def room_message_before(self, exec_info):
        """Refuse room messages whose text holds a banned word."""
        text = exec_info.args[1].get("textMessage")
        if isinstance(text, str):
            found = sorted({match.lower() for match in self._banned.findall(text)})
            if found:
                raise ChatServiceError("profanity", found)

    async def room_delete_after(self, exec_info):
        """Audit every room deletion that succeeded."""
        if exec_info.error is None:
            audit_log.info(
                "room deleted: %r by %s",
                exec_info.args[0],
                exec_info.user_name if exec_info.user_name is not None else "the server",
            )
