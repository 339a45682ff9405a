"""The dispatcher: argument checks, hooks and errors around every command, for
client requests and `exec_user_command` alike (docs/protocol.md, Errors;
docs/hooks-and-python-api.md, The command pipeline)."""
import logging

from chatproject.common.errors import ChatServiceError, as_service_error

from .commands import COMMANDS
from .hooks import ExecInfo
from .validation import ARG_CHECKS, is_default_message

logger = logging.getLogger("chat")


class Dispatcher:
    """Runs commands: from sockets and from the server side. A part of `ChatService`."""

    async def validate(self, command, args):
        """Steps 2-4 of the order of checks: count, types, message checker."""
        if len(args) < len(command.kinds):
            raise ChatServiceError("wrongArgumentsCount", len(command.kinds), len(args))
        checker = self.hooks.get(command.checker) if command.checker else None
        for position, kind in enumerate(command.kinds):
            value = args[position]
            if kind == "message":
                valid = type(value) is dict if checker else is_default_message(value)
            else:
                valid = ARG_CHECKS[kind](value)
            if not valid:
                raise ChatServiceError("badArgument", position, value)
        if checker:
            message = args[command.kinds.index("message")]
            try:
                await checker(message)
            except ChatServiceError:
                raise
            except Exception:
                raise ChatServiceError("badArgument", 1, message) from None

    async def run_command(self, command, info):
        """Validate, run the before hook, the command and the after hook."""
        count = len(command.kinds)
        raw = info.args
        info.args, info.rest_args = list(raw[:count]), list(raw[count:])
        if len(raw) < count:
            raise ChatServiceError("wrongArgumentsCount", count, len(raw))
        await self.validate(command, info.args)
        use_hooks = not info.bypass_hooks
        before = self.hooks.get(command.hook_prefix + "_before") if use_hooks else None
        if before:
            try:
                result = await before(info)
            except Exception as exc:
                raise self._reply_error(exc) from None
            if result is not None:
                return result
        try:
            info.results = [await command.handler(self, info, *info.args)]
        except Exception as exc:
            info.error = exc
        after = self.hooks.get(command.hook_prefix + "_after") if use_hooks else None
        if after:
            try:
                result = await after(info)
            except Exception as exc:
                raise self._reply_error(exc) from None
            if result is not None:
                return result
        if info.error is not None:
            raise self._reply_error(info.error) from None
        return info.results[0] if info.results else None

    @staticmethod
    def _reply_error(exc):
        if not isinstance(exc, ChatServiceError):
            logger.error("command failed", exc_info=exc)
        return as_service_error(exc)

    async def execute_request(self, socket, method, params):
        """A client request from a logged-in socket."""
        command = COMMANDS.get(method)
        if command is None:
            raise ChatServiceError("noCommand", method)
        if self.liveness.suspect() and not await self._confirm_alive():
            raise ChatServiceError("unavailable")  # the connection is being closed with 4001
        info = ExecInfo(server=self, user_name=socket.user_name, id=socket.socket_id, args=params, rest_args=[])
        self._running_commands += 1
        try:
            return await self.run_command(command, info)
        finally:
            self._running_commands -= 1
            if not self._running_commands:
                self._commands_done.set()

    async def _confirm_alive(self):
        """After a long pause, check that the others did not declare this instance
        dead before running a command on records they may have deleted."""
        try:
            alive = await self.liveness.confirm()
        except Exception:
            logger.exception("could not confirm that instance %s is alive", self.instance_uid)
            return True
        if not alive:
            self.declared_dead()
        return alive

    async def exec_user_command(self, context, command_name, *args):
        user_name, socket_id, bypass_permissions, bypass_hooks = _read_context(context)
        if user_name is not None and not await self.messaging.has_user(user_name):
            raise ChatServiceError("noUser", user_name)
        command = COMMANDS.get(command_name)
        if command is None:
            raise ChatServiceError("noCommand", command_name)
        if command.needs_socket and socket_id is None:
            raise ChatServiceError("noSocket", command_name)
        if command.needs_user and user_name is None:
            raise ChatServiceError("noLogin")
        info = ExecInfo(
            server=self, user_name=user_name, id=socket_id, args=list(args), rest_args=[],
            bypass_permissions=bypass_permissions, bypass_hooks=bypass_hooks, is_local_call=True,
        )
        return await self.run_command(command, info)

    async def check_arguments(self, command_name, *args):
        command = COMMANDS.get(command_name)
        if command is None:
            raise ChatServiceError("noCommand", command_name)
        if len(args) != len(command.kinds):
            raise ChatServiceError("wrongArgumentsCount", len(command.kinds), len(args))
        await self.validate(command, list(args))



def _read_context(context):
    """The three context forms of execUserCommand (docs/hooks-and-python-api.md, exec_user_command)."""
    if isinstance(context, bool):
        return None, None, context, False
    if isinstance(context, str):
        return context, None, False, False
    if isinstance(context, dict):

        def pick(snake, camel):
            return context.get(snake, context.get(camel))

        return (
            pick("user_name", "userName"),
            context.get("id"),
            bool(pick("bypass_permissions", "bypassPermissions")),
            bool(pick("bypass_hooks", "bypassHooks")),
        )
    if context is None:
        return None, None, False, False
    raise ChatServiceError("badArgument", 0, context)
