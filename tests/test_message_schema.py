"""The stored messages' schema: every message's insert and trim write each
of the table's indexes, so it has one index besides its key, the unique
(room, message_id), which serves every lookup by room; and the models and
their migrations agree, on both databases."""
from io import StringIO

from django.core.management import call_command
from django.db import connections

from messaging.models import Message


def test_the_messages_table_has_one_index_besides_its_key(chat_db):
    connection = connections["default"]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Message._meta.db_table)
    indexes = sorted(
        tuple(c["columns"]) for c in constraints.values() if (c["index"] or c["unique"]) and not c["primary_key"]
    )
    assert indexes == [("room_id", "message_id")]


def test_the_migrations_match_the_models(chat_db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
