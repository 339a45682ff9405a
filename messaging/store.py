"""Users, direct-messaging lists and room history in the database.

`MessagingStore` is the service's way in, one object per service; each
method is one short transaction in Django's database thread.
`MessageWrites.post_message` is the hot path of the whole service: one
statement numbers the message and checks the room and the poster's
presence; the messages posted while one is being written are written
together (group commit).
"""
import json
import sqlite3
import time

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Count

from chatproject.common.errors import ChatServiceError
from chatproject.common.hops import database_hop
from chatproject.common.jsontext import JSONText
from chatproject.common.names import is_valid_name
from presence.models import Connection, RoomUser
from presence.store import ADD_SOCKET_SQL, add_socket
from rooms.models import Room, RoomListEntry
from rooms.permissions import is_reader

from .group_commit import GroupCommit
from .models import ChatUser, DirectListEntry, Message
from .permissions import has_direct_access

BATCH_LIMIT = 64  # messages per group commit: bounds the transaction's time holding the writer lock

NEXT_ID_SQL = (
    f"UPDATE {Room._meta.db_table} SET last_message_id = last_message_id + 1"
    f" WHERE name = %s AND NOT deleting AND (%s OR EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u"
    f" WHERE u.room_id = {Room._meta.db_table}.id AND u.user_name = %s))"
    " RETURNING id, last_message_id, history_max_size"
)
ROOM_EXISTS_SQL = f"SELECT 1 FROM {Room._meta.db_table} WHERE name = %s AND NOT deleting"
POST_SQL = (
    f"WITH r AS ({NEXT_ID_SQL}),"
    f" stored AS (INSERT INTO {Message._meta.db_table} (room_id, message_id, text)"
    " SELECT id, last_message_id, %s::text || last_message_id::text || %s::text FROM r WHERE history_max_size > 0),"
    f" trimmed AS (DELETE FROM {Message._meta.db_table} m USING r WHERE r.history_max_size > 0"
    " AND m.room_id = r.id AND m.message_id <= r.last_message_id - r.history_max_size)"
    " SELECT last_message_id FROM r"
)
# PostgreSQL: POST_SQL's work for a whole batch, in one statement atomic by
# itself. The requests come as two JSON arrays, each one text for psycopg to
# quote (the statements one by one in pipeline mode, or arrays of texts, cost
# it several times the CPU): `[room name, bypass, user name, timestamp]` per
# request, and the messages themselves, matched by position. The stored text
# is built here from the message's own JSON text (the `json` type keeps it as
# written), as `_text_parts` builds it: encoding each message apart, and then
# its text again inside the array, was most of the batch's CPU in our process.
# (The messages are an array of their own because `->>` on a JSON value that
# holds a `\u0000` anywhere fails; taking an element whole does not.)
# `locked` takes the rooms' counters in name order, so that two processes'
# batches never wait for each other in a cycle; each room's counter moves
# once, by its number of accepted messages, which are numbered in request
# order; only the messages that the history keeps are inserted (the trim
# cannot see this statement's own inserts). A refused request has no row.
POST_ALL_SQL = (
    "WITH request AS (SELECT n AS position, e->>0 AS room_name, (e->>1)::boolean AS bypass, e->>2 AS user_name,"
    " e->>3 AS now, m::text AS body FROM json_array_elements(%s::json) WITH ORDINALITY AS q(e, n)"
    " JOIN json_array_elements(%s::json) WITH ORDINALITY AS b(m, n) USING (n)),"
    " accepted AS (SELECT q.position, q.body, q.now, r.id AS room_id"
    # One index lookup per request: LIMIT keeps the planner from joining the
    # whole rooms table (it takes json_array_elements for 100 rows).
    f" FROM request q CROSS JOIN LATERAL (SELECT id FROM {Room._meta.db_table}"
    " WHERE name = q.room_name AND NOT deleting LIMIT 1) r"
    f" WHERE q.bypass OR EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u WHERE u.room_id = r.id AND u.user_name = q.user_name)),"
    f" locked AS MATERIALIZED (SELECT id FROM {Room._meta.db_table}"
    " WHERE id IN (SELECT room_id FROM accepted) ORDER BY name FOR UPDATE),"
    " counted AS (SELECT room_id, count(*) AS n FROM accepted GROUP BY room_id),"
    f" counter AS (UPDATE {Room._meta.db_table} r SET last_message_id = r.last_message_id + c.n"
    " FROM counted c JOIN locked l ON l.id = c.room_id WHERE r.id = c.room_id AND NOT r.deleting"
    " RETURNING r.id, r.last_message_id, r.history_max_size, c.n),"
    " numbered AS (SELECT a.position, a.body, a.now, c.id AS room_id, c.last_message_id, c.history_max_size,"
    " c.last_message_id - c.n + row_number() OVER (PARTITION BY c.id ORDER BY a.position) AS message_id"
    " FROM accepted a JOIN counter c ON c.id = a.room_id),"
    f" stored AS (INSERT INTO {Message._meta.db_table} (room_id, message_id, text)"
    " SELECT room_id, message_id, left(body, -1) || CASE body WHEN '{}' THEN '\"id\":' ELSE ',\"id\":' END"
    " || message_id::text || ',\"timestamp\":' || now || '}' FROM numbered"
    " WHERE history_max_size > 0 AND message_id > last_message_id - history_max_size),"
    f" trimmed AS (DELETE FROM {Message._meta.db_table} m USING counter c WHERE c.history_max_size > 0"
    " AND m.room_id = c.id AND m.message_id <= c.last_message_id - c.history_max_size)"
    " SELECT position, message_id FROM numbered"
)
STORE_SQL = f"INSERT INTO {Message._meta.db_table} (room_id, message_id, text) VALUES (%s, %s, %s)"
TRIM_SQL = f"DELETE FROM {Message._meta.db_table} WHERE room_id = %s AND message_id <= %s"
# The encoder of the stored texts and of POST_ALL_SQL's requests, made once:
# `json.dumps` with options builds one per call.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
SQLITE_SQL = {sql: sql.replace("%s", "?") for sql in (NEXT_ID_SQL, STORE_SQL, TRIM_SQL)}  # sqlite3's parameter style
ENSURE_USER_SQL = (
    f"INSERT INTO {ChatUser._meta.db_table} (name, whitelist_only) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
)
# PostgreSQL: the login's three statements as one. Its count does not see the
# socket its own INSERT adds (one snapshot for the whole statement), hence + 1.
LOGIN_SQL = (
    f"WITH new_user AS ({ENSURE_USER_SQL}), new_socket AS ({ADD_SOCKET_SQL})"
    f" SELECT COUNT(*) + 1 FROM {Connection._meta.db_table} WHERE user_name = %s"
)
ROOM_AND_READER_SQL = (
    f"SELECT r.id, r.owner, r.last_message_id,"
    f" EXISTS (SELECT 1 FROM {RoomListEntry._meta.db_table} e"
    f" WHERE e.room_id = r.id AND e.user_name = %s AND e.list_name = 'adminlist'),"
    f" EXISTS (SELECT 1 FROM {RoomUser._meta.db_table} u WHERE u.room_id = r.id AND u.user_name = %s)"
    f" FROM {Room._meta.db_table} r WHERE r.name = %s AND NOT r.deleting"
)
OLDEST_SQL = f"SELECT MIN(message_id) FROM {Message._meta.db_table} WHERE room_id = %s"
PAGE_SQL = (
    f"SELECT text FROM {Message._meta.db_table}"
    " WHERE room_id = %s AND message_id >= %s AND message_id <= %s ORDER BY message_id DESC"
)


def get_user(name):
    user = ChatUser.objects.filter(name=name).first() if is_valid_name(name) else None
    if user is None:
        raise ChatServiceError("noUser", name)
    return user


def direct_lists_of(user, name):
    return set(DirectListEntry.objects.filter(user=user, name=name).values_list("list_name", flat=True))


class MessageWrites:
    """roomMessage's writes on one database vendor, picked once per store
    (`message_writes`). Plain SQL on purpose: this is the hot path, and the
    ORM's query building cost more than the database work. A constant number
    of statements whatever the history size (`store`). Plain methods (the
    store runs them in the database thread) so that their statements can be
    counted. A vendor's class gives `store(cursor, *request)`: one message's
    statements, in the caller's transaction, returning the processed message
    (noRoom, notJoined)."""

    def store_all(self, cursor, requests):
        """A batch's statements, in the caller's transaction: each request's
        processed message or its refusal (noRoom, notJoined)."""
        return [self._answer_in(cursor, request) for request in requests]

    def post_message(self, room_name, user_name, message, bypass_permissions, now):
        """Check, number and store one room message in its own transaction;
        returns the processed message."""
        with transaction.atomic(), connection.cursor() as cursor:
            return self.store(cursor, room_name, user_name, message, bypass_permissions, now)

    def post_messages(self, requests):
        """Group commit (`messaging/group_commit.py`): the messages of `requests`,
        each the arguments of `post_message`, in one transaction; returns each
        one's processed message or its own error (noRoom, notJoined).

        A refused message changes nothing, so no savepoint is needed around each.
        Any other error rolls the whole batch back and every message is redone
        in its own transaction: the error reaches only the message that causes
        it, and the ids stay gap-free.
        """
        if len(requests) == 1:
            return [self._answer(requests[0])]
        order = locking_order(requests)
        ordered = [requests[index] for index in order]
        try:
            answers = self.post_all(ordered)
        except Exception:
            answers = [self._answer(request) for request in ordered]
        results = [None] * len(requests)
        for index, answer in zip(order, answers):
            results[index] = answer
        return results

    def post_all(self, requests):
        """`store_all` in a transaction of its own."""
        with transaction.atomic(), connection.cursor() as cursor:
            return self.store_all(cursor, requests)

    def _answer(self, request):
        try:
            return self.post_message(*request)
        except Exception as error:
            return error

    def _answer_in(self, cursor, request):
        try:
            return self.store(cursor, *request)
        except ChatServiceError as error:
            return error


class SqliteWrites(MessageWrites):
    def store(self, cursor, room_name, user_name, message, bypass_permissions, now):
        """The id counter's update, which also checks the room and the
        poster's presence, the insert and the trim. A refused message looks
        up why."""
        if not is_valid_name(room_name):
            raise ChatServiceError("noRoom", room_name)
        head, tail = _text_parts(message, now)
        row = _sqlite_execute(cursor, NEXT_ID_SQL, (room_name, bool(bypass_permissions), user_name)).fetchone()
        if row is None:
            _refuse(cursor, room_name)
        room_id, message_id, max_size = row
        if max_size > 0:
            _sqlite_execute(cursor, STORE_SQL, (room_id, message_id, f"{head}{message_id}{tail}"))
            if message_id > max_size:
                _sqlite_execute(cursor, TRIM_SQL, (room_id, message_id - max_size))
        return _numbered(message, message_id, now)


class PostgresqlWrites(MessageWrites):
    """SQLite's three statements per message as one statement (`POST_SQL`),
    and a batch's as one statement too (`POST_ALL_SQL`), each atomic by
    itself: one round trip and no transaction block. (A message alone keeps
    the plainer statement, which costs it less.) They run on psycopg's
    cursor (`_postgresql_execute`), so `store` and `store_all` take no
    Django cursor (None); a refusal's lookup, rare, takes one."""

    def store(self, cursor, room_name, user_name, message, bypass_permissions, now):
        """A refused message looks up why."""
        if not is_valid_name(room_name):
            raise ChatServiceError("noRoom", room_name)
        row = _postgresql_execute(POST_SQL, _post_params(room_name, user_name, message, bypass_permissions, now)).fetchone()
        if row is None:
            with connection.cursor() as cursor:
                _refuse(cursor, room_name)
        return _numbered(message, row[0], now)

    def store_all(self, cursor, requests):
        """`POST_ALL_SQL` for the requests with a valid room name."""
        valid = [request for request in requests if is_valid_name(request[0])]
        ids = {}
        if valid:
            ids = dict(_postgresql_execute(POST_ALL_SQL, [
                COMPACT_JSON.encode([[room, bool(bypass), user, now] for room, user, _, bypass, now in valid]),
                COMPACT_JSON.encode([_without_numbering(message) for _, _, message, _, _ in valid]),
            ]).fetchall())
        results = []
        position = 0  # in `valid`, counted from 1 as POST_ALL_SQL's
        for room_name, _, message, _, now in requests:
            try:
                if not is_valid_name(room_name):
                    raise ChatServiceError("noRoom", room_name)
                position += 1
                message_id = ids.get(position)
                if message_id is None:
                    with connection.cursor() as cursor:
                        _refuse(cursor, room_name)
                results.append(_numbered(message, message_id, now))
            except Exception as error:  # the batch is stored: a failed refusal lookup is this message's error alone
                results.append(error)
        return results

    def post_message(self, room_name, user_name, message, bypass_permissions, now):
        return self.store(None, room_name, user_name, message, bypass_permissions, now)

    def post_all(self, requests):
        return self.store_all(None, requests)


def _sqlite_execute(cursor, sql, params):
    """`cursor.execute` without Django's per-statement work that these
    statements don't need: the conversion of `%s` to `?` (a regular
    expression per statement: done once per statement text here), the
    parameters' style check and the broken-transaction check (no statement
    of a batch runs after a failed one). Database errors become Django's, and
    the statement is logged as Django logs it, so that tests can count it."""
    start = time.monotonic()
    with cursor.db.wrap_database_errors:
        result = sqlite3.Cursor.execute(cursor.cursor, SQLITE_SQL[sql], params)
    if cursor.db.queries_logged:
        cursor.db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})
    return result


def _postgresql_execute(sql, params):
    """The statement on a psycopg cursor of the connection, without Django's
    cursor and its per-statement layers (a third of a lone write's CPU in our
    process): run in the connection's transaction state as Django's cursor
    would (autocommit, or the caller's transaction), database errors become
    Django's, and the statement is logged as Django logs it, so that tests
    can count it. Returns the psycopg cursor, to fetch from."""
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    db.validate_no_broken_transaction()
    start = time.monotonic()
    with db.wrap_database_errors:
        result = db.connection.execute(sql, params)
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})
    return result


def message_writes():
    """The roomMessage writes of the configured database."""
    return PostgresqlWrites() if connection.vendor == "postgresql" else SqliteWrites()


def locking_order(requests):
    """The batch's indexes sorted by room name, stable: every batch locks its
    rooms' counters in the same order, so two processes' batches never wait
    for each other in a cycle (on PostgreSQL a deadlock cost a second, its
    deadlock_timeout, and the batch's redo: a fan-out p99 of 1.2 s with two
    processes). A room's messages keep their order, and each socket has at
    most one message in a batch, so no socket's order changes."""
    return sorted(range(len(requests)), key=[request[0] for request in requests].__getitem__)


def _post_params(room_name, user_name, message, bypass_permissions, now):
    return [room_name, bool(bypass_permissions), user_name, *_text_parts(message, now)]


def _without_numbering(message):
    """The message without the `id` and `timestamp` that `_numbered` adds
    (set by an attempt of a batch rolled back)."""
    message.pop("id", None)
    message.pop("timestamp", None)
    return message


def _text_parts(message, now):
    """The stored text around the id: the message as JSON with `id` and
    `timestamp` last, as `_numbered` leaves the message."""
    body = COMPACT_JSON.encode(_without_numbering(message))
    return body[:-1] + (',"id":' if message else '"id":'), ',"timestamp":' + json.dumps(now) + "}"


def _numbered(message, message_id, now):
    message["id"] = message_id
    message["timestamp"] = now
    return message


def _refuse(cursor, room_name):
    cursor.execute(ROOM_EXISTS_SQL, [room_name])
    raise ChatServiceError("notJoined" if cursor.fetchone() else "noRoom", room_name)


def parse_stored(texts):
    """Stored message texts as messages: one parse of the joined array costs a
    quarter of a parse per message (a page of 100: 52 against 207 µs)."""
    return json.loads("[" + ",".join(texts) + "]")


def stored_page(texts):
    """Stored message texts as one JSONText, when each is what `compact_json`
    writes of it. They are written by the C encoder with its compact
    separators, like `compact_json`, but with every character past U+007E
    escaped; a text with no `\\u` escape at all is the same either way, any
    other is parsed."""
    joined = "[" + ",".join(texts) + "]"
    return json.loads(joined) if "\\u" in joined else JSONText(joined)


def history_page(room_name, user_name, after_id, limit, bypass_permissions, as_text=False):
    """roomHistoryGet (docs/protocol.md, History): up to `limit` messages after
    `after_id`, newest first, for a reader of the room (noRoom, notJoined);
    `as_text`: maybe as a JSONText (`stored_page`).

    One hop and three plain statements, like `MessageWrites.post_message`: the room with the
    caller's adminlist entry and presence, the oldest stored id, the page.
    """
    row = None
    if is_valid_name(room_name):
        with connection.cursor() as cursor:
            cursor.execute(ROOM_AND_READER_SQL, [user_name, user_name, room_name])
            row = cursor.fetchone()
    if row is None:
        raise ChatServiceError("noRoom", room_name)
    room_id, owner, last_message_id, in_adminlist, present = row
    if not bypass_permissions and not is_reader(
        Room(owner=owner), user_name, {"adminlist"} if in_adminlist else set(), present
    ):
        raise ChatServiceError("notJoined", room_name)
    if limit <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(OLDEST_SQL, [room_id])
        (oldest,) = cursor.fetchone()
        if oldest is None:
            return []
        first = max(after_id + 1, oldest)
        final = min(first + limit - 1, last_message_id)
        if first > final:
            return []
        cursor.execute(PAGE_SQL, [room_id, first, final])
        texts = [text for (text,) in cursor.fetchall()]
    return stored_page(texts) if as_text else parse_stored(texts)


class MessagingStore:
    """Users, their direct-messaging lists, and room history."""

    def __init__(self):
        writes = message_writes()
        self.writes = GroupCommit(
            database_hop(writes.post_message), database_hop(writes.post_messages), BATCH_LIMIT
        )

    @database_hop
    def add_user(self, name, whitelist=(), blacklist=(), whitelist_only=False):
        try:
            with transaction.atomic():
                user = ChatUser.objects.create(name=name, whitelist_only=whitelist_only)
                DirectListEntry.objects.bulk_create(
                    [DirectListEntry(user=user, list_name="whitelist", name=n) for n in dict.fromkeys(whitelist)]
                    + [DirectListEntry(user=user, list_name="blacklist", name=n) for n in dict.fromkeys(blacklist)]
                )
        except IntegrityError:
            raise ChatServiceError("userExists", name) from None

    @database_hop
    def get_user(self, name):
        return get_user(name)

    @database_hop
    def add_login(self, user_name, socket_id, instance_uid, now):
        """A login's records in one database hop and transaction: the user's,
        created at its first login by one plain statement (get_or_create took
        two to four), and the socket's. Returns nconnected. On PostgreSQL one
        statement in autocommit: one round trip, not five (BEGIN, three, COMMIT)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(LOGIN_SQL, [user_name, False, socket_id, user_name, instance_uid, now, user_name])
                return cursor.fetchone()[0]
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(ENSURE_USER_SQL, [user_name, False])
            return add_socket(user_name, socket_id, instance_uid, now)

    @database_hop
    def has_user(self, name):
        return is_valid_name(name) and ChatUser.objects.filter(name=name).exists()

    @database_hop
    def delete_user(self, name):
        with transaction.atomic():
            user = get_user(name)
            if Connection.objects.filter(user_name=name).exists():
                raise ChatServiceError("userOnline", name)
            user.delete()

    @database_hop
    def direct_get(self, user_name, list_name):
        return list(
            DirectListEntry.objects.filter(user__name=user_name, list_name=list_name).values_list("name", flat=True)
        )

    @database_hop
    def direct_add(self, user_name, list_name, names, limit):
        wanted = set(names)
        with transaction.atomic():
            user = get_user(user_name)
            present = set(
                DirectListEntry.objects.filter(user=user, list_name=list_name, name__in=wanted).values_list("name", flat=True)
            )
            missing = wanted - present
            if missing:
                size = DirectListEntry.objects.filter(user=user, list_name=list_name).count()
                if size + len(missing) > limit:
                    raise ChatServiceError("listLimitExceeded", list_name)
                DirectListEntry.objects.bulk_create(
                    [DirectListEntry(user=user, list_name=list_name, name=n) for n in missing], ignore_conflicts=True
                )

    @database_hop
    def direct_remove(self, user_name, list_name, names):
        DirectListEntry.objects.filter(user__name=user_name, list_name=list_name, name__in=set(names)).delete()

    @database_hop
    def set_direct_mode(self, user_name, mode):
        ChatUser.objects.filter(name=user_name).update(whitelist_only=mode)

    @database_hop
    def get_direct_mode(self, user_name):
        return get_user(user_name).whitelist_only

    @database_hop
    def has_direct_access(self, recipient, sender):
        """The direct access rule for `sender`; False for an unknown recipient."""
        user = ChatUser.objects.filter(name=recipient).first()
        if user is None:
            return False
        lists = direct_lists_of(user, sender) if sender is not None else set()
        return has_direct_access(user, sender, lists)

    async def post_message(self, room_name, user_name, message, bypass_permissions, now):
        """roomMessage's write, batched with the concurrent ones (group commit)."""
        return await self.writes.submit(room_name, user_name, message, bypass_permissions, now)

    @database_hop
    def set_history_max_size(self, room_id, size):
        """Change a room's history size, dropping what no longer fits."""
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            room.history_max_size = size
            room.save(update_fields=["history_max_size"])
            Message.objects.filter(room_id=room_id, message_id__lte=room.last_message_id - size).delete()

    @database_hop
    def history_sizes(self, room_ids):
        """{room id: stored message count} of the rooms with any."""
        rows = Message.objects.filter(room_id__in=room_ids).values("room_id").annotate(n=Count("id"))
        return {row["room_id"]: row["n"] for row in rows}

    @database_hop
    def count_users(self):
        return ChatUser.objects.count()

    @database_hop
    def users_by_name(self, offset, limit):
        return list(ChatUser.objects.order_by("name")[offset:offset + limit])

    @database_hop
    def history_info(self, room):
        size = Message.objects.filter(room_id=room.id).count()
        return {
            "historySize": size,
            "historyMaxSize": room.history_max_size,
            "lastMessageId": room.last_message_id,
        }

    @database_hop
    def recent_history(self, room, count):
        if count <= 0:
            return []
        texts = Message.objects.filter(room_id=room.id).order_by("-message_id").values_list("text", flat=True)[:count]
        return parse_stored(texts)

    @database_hop
    def history_page(self, room_name, user_name, after_id, limit, bypass_permissions, as_text=False):
        return history_page(room_name, user_name, after_id, limit, bypass_permissions, as_text)
