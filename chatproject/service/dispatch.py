"""The dispatcher: argument checks, hooks and errors around every command, for
client requests and `exec_user_command` alike (docs/protocol.md, Errors;
docs/hooks-and-python-api.md, The command pipeline)."""
import logging

from chatproject.common.errors import ChatServiceError, as_service_error

from .commands import COMMANDS
from .hooks import ExecInfo
from .validation import ARG_CHECKS, is_default_message

logger = logging.getLogger("chat")


def _is_dict(value):
    return type(value) is dict


class CommandPlan:
    """What the dispatcher needs of one command on one service, looked up once
    when the service is made (hooks never change afterwards): the argument
    checks, the message checker and the before and after hooks."""

    __slots__ = ("command", "count", "checks", "checker", "message_position", "before", "after")

    def __init__(self, command, hooks):
        self.command = command
        self.count = len(command.kinds)
        self.checker = hooks.get(command.checker) if command.checker else None
        message_check = _is_dict if self.checker else is_default_message
        self.checks = tuple(
            (position, message_check if kind == "message" else ARG_CHECKS[kind])
            for position, kind in enumerate(command.kinds)
        )
        self.message_position = command.kinds.index("message") if self.checker else None
        self.before = hooks.get(command.hook_prefix + "_before")
        self.after = hooks.get(command.hook_prefix + "_after")

    def check_types(self, args):
        """Step 3 of the order of checks, after the count: each argument's kind."""
        for position, check in self.checks:
            value = args[position]
            if not check(value):
                raise ChatServiceError("badArgument", position, value)

    async def check_message(self, args):
        """Step 4 of the order of checks: the message checker hook, when there is one."""
        message = args[self.message_position]
        try:
            await self.checker(message)
        except ChatServiceError:
            raise
        except Exception:
            raise ChatServiceError("badArgument", 1, message) from None


def command_plans(hooks):
    """{command name: CommandPlan}; raises ImproperlyConfigured for a hook defined twice."""
    return {name: CommandPlan(command, hooks) for name, command in COMMANDS.items()}


class Dispatcher:
    """Runs commands: from sockets and from the server side. A part of `ChatService`
    (which sets `_plans` from `command_plans`)."""

    async def run_command(self, plan, info):
        """Validate, run the before hook, the command and the after hook."""
        count = plan.count
        raw = info.args
        if len(raw) < count:
            raise ChatServiceError("wrongArgumentsCount", count, len(raw))
        info.args, info.rest_args = raw[:count], raw[count:]
        plan.check_types(info.args)
        if plan.checker:
            await plan.check_message(info.args)
        use_hooks = not info.bypass_hooks
        before = plan.before if use_hooks else None
        if before:
            try:
                result = await before(info)
            except Exception as exc:
                raise self._reply_error(exc) from None
            if result is not None:
                return result
        try:
            info.results = [await plan.command.handler(self, info, *info.args)]
        except Exception as exc:
            info.error = exc
        after = plan.after if use_hooks else None
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

    def only_client_reads(self, info, command_name):
        """Whether the command's result goes to the requesting client alone, as
        its reply's JSON: no after hook sees it and no Python caller gets it."""
        return not info.is_local_call and self._plans[command_name].after is None

    @staticmethod
    def _reply_error(exc):
        if not isinstance(exc, ChatServiceError):
            logger.error("command failed", exc_info=exc)
        return as_service_error(exc)

    async def execute_request(self, socket, method, params):
        """A client request from a logged-in socket."""
        plan = self._plans.get(method)
        if plan is None:
            raise ChatServiceError("noCommand", method)
        if self.liveness.suspect() and not await self._confirm_alive():
            raise ChatServiceError("unavailable")  # the connection is being closed with 4001
        info = ExecInfo(server=self, user_name=socket.user_name, id=socket.socket_id, args=params, rest_args=[])
        self._running_commands += 1
        try:
            return await self.run_command(plan, info)
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
        plan = self._plans.get(command_name)
        if plan is None:
            raise ChatServiceError("noCommand", command_name)
        command = plan.command
        if command.needs_socket and socket_id is None:
            raise ChatServiceError("noSocket", command_name)
        if command.needs_user and user_name is None:
            raise ChatServiceError("noLogin")
        info = ExecInfo(
            server=self, user_name=user_name, id=socket_id, args=list(args), rest_args=[],
            bypass_permissions=bypass_permissions, bypass_hooks=bypass_hooks, is_local_call=True,
        )
        return await self.run_command(plan, info)

    async def check_arguments(self, command_name, *args):
        plan = self._plans.get(command_name)
        if plan is None:
            raise ChatServiceError("noCommand", command_name)
        if len(args) != plan.count:
            raise ChatServiceError("wrongArgumentsCount", plan.count, len(args))
        plan.check_types(args)
        if plan.checker:
            await plan.check_message(args)



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
