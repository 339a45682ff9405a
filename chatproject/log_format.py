"""Log output: the JSON line format (LOG_FORMAT=json, docs/operations.md)
and the redaction of secrets from logged request paths.

Named log_format, not logging, so that it never shadows the standard library
inside the package.
"""
import datetime
import json
import logging
import re
import sys

# Query parameters whose values are credentials (`/ws/chat/?token=KEY`).
_SECRET_PARAM = re.compile(
    r"([?&;](?:[^=&;#\s]*(?:token|session|secret|password|passwd|key)[^=&;#\s]*)=)[^&;#\s\"]*",
    re.IGNORECASE,
)


def redact(text):
    """`text` with the value of every credential-like query parameter replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


def _instance_uid():
    # Read the service only if this process already made it: a formatter that
    # created the service would load its options and hooks as a side effect.
    package = sys.modules.get("chatproject.service")
    api = vars(package).get("api") if package is not None else None
    return getattr(api, "instance_uid", None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, instance, and
    the exception text when there is one."""

    def format(self, record):
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        instance = _instance_uid()
        if instance is not None:
            entry["instance"] = instance
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
