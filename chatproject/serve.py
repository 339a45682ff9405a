"""`python -m chatproject.serve DAPHNE-OPTIONS chatproject.asgi:application`:
daphne, with its access log written through logging and without secrets.

Daphne prints each request's path with its query string to stdout, so a
token login (`/ws/chat/?token=KEY`) would land in the access log. Here every
access entry goes to the `daphne.access` logger (LOG_FORMAT applies) with
credential-like query values replaced by `[redacted]`. Every daphne option
works as with `daphne`; `-v 0` turns the access log off, and `--access-log`
only turns it on: the entries always go to the logger.
"""
import logging

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


class RedactingServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs):
        super().__init__(*args, action_logger=RedactedAccessLog() if action_logger else None, **kwargs)


class ChatCommandLine(CommandLineInterface):
    server_class = RedactingServer


if __name__ == "__main__":
    ChatCommandLine.entrypoint()
