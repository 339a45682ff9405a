"""`python -m chatproject.serve DAPHNE-OPTIONS chatproject.asgi:application`:
daphne, with its access log written through logging and without secrets.

Daphne prints each request's path with its query string to stdout, so a
token login (`/ws/chat/?token=KEY`) would land in the access log. Here every
access entry goes to the `daphne.access` logger (LOG_FORMAT applies) with
credential-like query values replaced by `[redacted]`. Every daphne option
works as with `daphne`; `-v 0` turns the access log off, and `--access-log`
only turns it on: the entries always go to the logger.

`--backlog N` (default 1024) is the listen queue of every TCP endpoint that
does not name its own: Twisted's default of 50 drops SYNs when a thousand
clients reconnect at once (docs/operations.md, Reconnect storms).
"""
import argparse
import logging
from functools import partial

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server

from chatproject.log_format import redact

access_logger = logging.getLogger("daphne.access")


class RedactedAccessLog(AccessLogGenerator):
    def __init__(self):
        super().__init__(stream=None)

    def __call__(self, protocol, action, details):
        if "path" in details:
            details = {**details, "path": redact(str(details["path"]))}
        super().__call__(protocol, action, details)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        access_logger.info('%s "%s" %s %s', host or "-", request, status or "-", length or "-")


DEFAULT_BACKLOG = 1024


def with_backlog(endpoint, backlog):
    """A Twisted endpoint description with `backlog` added to a TCP one that has none."""
    if endpoint.startswith("tcp:") and ":backlog=" not in endpoint:
        return f"{endpoint}:backlog={backlog}"
    return endpoint


def backlog_value(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1 to 65535, got {value}")
    return value


class RedactingServer(Server):
    def __init__(self, *args, backlog=DEFAULT_BACKLOG, endpoints=None, action_logger=None, **kwargs):
        super().__init__(
            *args, endpoints=[with_backlog(e, backlog) for e in endpoints or []],
            action_logger=RedactedAccessLog() if action_logger else None, **kwargs,
        )


class ChatCommandLine(CommandLineInterface):
    def __init__(self):
        super().__init__()
        self.parser.add_argument(
            "--backlog", type=backlog_value, default=DEFAULT_BACKLOG,
            help=f"listen queue of TCP endpoints without their own backlog= (default {DEFAULT_BACKLOG})",
        )
        self.backlog = DEFAULT_BACKLOG

    @property
    def server_class(self):
        return partial(RedactingServer, backlog=self.backlog)

    def run(self, args):
        self.backlog = self.parser.parse_args(args).backlog
        super().run(args)


if __name__ == "__main__":
    ChatCommandLine.entrypoint()
