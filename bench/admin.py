"""Create and drop the benchmark's PostgreSQL database and clear its Redis keys.

Run with the project's virtualenv (it has psycopg and redis), so the load
tool's own virtualenv needs neither:

    python bench/admin.py create-db postgres://postgres@127.0.0.1:5432/chat_bench_x
    python bench/admin.py drop-db postgres://postgres@127.0.0.1:5432/chat_bench_x
    python bench/admin.py clear-redis redis://127.0.0.1:6379/0 PREFIX
"""
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis


def _admin_url_and_name(url):
    """The maintenance database's URL and the benchmark database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"admin.py: not a plain database name: {name!r}")
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres")), name


def create_db(url):
    admin_url, name = _admin_url_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_db(url):
    admin_url, name = _admin_url_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clear_redis(url, prefix):
    if not prefix:
        raise SystemExit("admin.py: an empty prefix would clear every key")
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


COMMANDS = {"create-db": (create_db, 1), "drop-db": (drop_db, 1), "clear-redis": (clear_redis, 2)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]:
        raise SystemExit(__doc__)
    function, _ = COMMANDS[sys.argv[1]]
    function(*sys.argv[2:])
