"""`ChatService`: one chat service instance, wired from its parts.

Each part is a module named for what it does (docs/architecture.md):
lifecycle (start, periodic work, close), connections (login, disconnect),
membership (join, leave, removal, notifications), dispatch (commands and
hooks), server_api (the server-side operations), recovery. The state they
share lives here: options, hooks, the stores of the three domain apps, the
hub, the transport registry and the instance's liveness.
"""
import asyncio
import inspect
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chatproject.common.clock import now_ms
from chatproject.common.hops import synchronous_caller
from messaging.store import MessagingStore
from presence.store import PresenceStore
from rooms.store import RoomStore

from .checkpoints import WalCheckpointer
from .connections import Connections
from .dispatch import Dispatcher, command_plans
from .hooks import HookSet
from .hub import Hub
from .lifecycle import Lifecycle
from .liveness import Liveness
from .membership import Membership
from .options import load_options
from .queries import Queries
from .recovery import Recovery
from .server_api import ServerAPI
from .transport import Transport

logger = logging.getLogger("chat")

LIFECYCLE_HOOKS = ("on_connect", "on_disconnect", "on_join", "on_leave", "on_start", "on_close")


class SyncAPI:
    """`api.sync.<name>(...)`: blocking wrappers for management commands, views
    and plain hooks. The call's database hops run in the calling thread, so
    its writes are marked unbatchable (`synchronous_caller`)."""

    def __init__(self, service):
        self._service = service

    def __getattr__(self, name):
        call = async_to_sync(getattr(self._service, name))

        def blocking(*args, **kwargs):
            token = synchronous_caller.set(True)  # async_to_sync runs the call in a copy of this context
            try:
                return call(*args, **kwargs)
            finally:
                synchronous_caller.reset(token)

        return blocking


class ChatService(Lifecycle, Connections, Membership, Dispatcher, ServerAPI, Recovery, Queries):
    """One chat service instance. `start()` makes it serve connections; a service
    that is never started still works on the shared state (management commands)."""

    def __init__(self, options=None, hooks=None, layer=None):
        self.options = load_options(overrides=options)
        self.hooks = HookSet(hooks if hooks is not None else self.options.hooks)
        self._plans = command_plans(self.hooks)  # the command hooks and message checkers
        self.hooks.validate(LIFECYCLE_HOOKS)
        self._layer = layer
        self._hub = Hub(layer) if layer is not None else None
        self.rooms = RoomStore()
        self.messaging = MessagingStore()
        self.presence = PresenceStore()
        self.transport = Transport()
        self.sync = SyncAPI(self)
        self.instance_uid = None
        self.liveness = Liveness(self)
        self.checkpointer = WalCheckpointer()
        self._listeners = {}
        self._state = "new"  # new -> starting -> running -> closing -> closed
        self._start_lock = asyncio.Lock()
        self._tasks = set()
        self._running_commands = 0
        self._commands_done = asyncio.Event()
        self._maintenance_task = None
        self._recovery = None  # the running automatic recovery, if any
        self._reregistering = None  # the running re-registration after a declared death

    def on(self, event, listener):
        self._listeners.setdefault(event, []).append(listener)

    def emit(self, event, *args):
        log = logger.warning if event.endswith("Failure") or event == "lockTimeExceeded" else logger.info
        log("chat event %s %s", event, args)
        for listener in list(self._listeners.get(event, ())):
            try:
                result = listener(*args)
                if inspect.isawaitable(result):
                    self.spawn(self._await_listener(result))
            except Exception:
                logger.exception("listener of %s failed", event)

    @staticmethod
    async def _await_listener(awaitable):
        try:
            await awaitable
        except Exception:
            logger.exception("event listener failed")

    def spawn(self, coroutine):
        """Run a service-owned task: it outlives the consumer that caused it."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def is_running(self):
        return self._state == "running"

    @property
    def layer_available(self):
        """Whether the channel layer answered at the last check (None before start)."""
        return None if self._hub is None else self._hub.available

    def heartbeat_age(self):
        """Seconds since this instance's last successful heartbeat write, or None."""
        if self.liveness.last_beat_ms is None:
            return None
        return max(0.0, (now_ms() - self.liveness.last_beat_ms) / 1000)

    async def _call_quietly(self, hook, *args):
        try:
            await hook(*args)
        except Exception:
            logger.exception("hook %s failed (ignored)", getattr(hook, "__name__", hook))

    def history_size_or_default(self, size):
        """A room history size as given, or the option's default when it is not
        an integer >= 0 (the original's leniency, docs/hooks-and-python-api.md, addRoom)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return self.options.history_max_size
        return size

    def check_layer_available(self):
        """Raise `unavailable` while the channel layer is unreachable: a command
        calls it before its state change commits (docs/hooks-and-python-api.md,
        Consistency events)."""
        self.hub.check_available()

    @property
    def hub(self):
        """This process's fan-out hub, on the configured channel layer."""
        if self._hub is None:
            self._hub = Hub(self._layer or get_channel_layer())
        return self._hub
