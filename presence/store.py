"""Presence in the database: sockets, room memberships, userlists, seen
timestamps, instance heartbeats and lock leases.

`PresenceStore` is the service's way in, one object per service, so that a
test can make exactly one operation fail (docs/testing.md, Fault
injection); each method is one short transaction in Django's database
thread. The few plain functions are for callers that already run there.
"""
from django.db import connection, transaction
from django.db.models import Count, Q

from chatproject.common.hops import database_hop
from chatproject.common.names import is_valid_name
from rooms.models import Room

from .models import Connection, Instance, Membership, RoomLock, RoomUser, UserSeen

ADD_SOCKET_SQL = (
    f"INSERT INTO {Connection._meta.db_table} (socket_id, user_name, instance_uid, connected_at) VALUES (%s, %s, %s, %s)"
)
USER_SOCKET_COUNT_SQL = f"SELECT COUNT(*) FROM {Connection._meta.db_table} WHERE user_name = %s"
SOCKET_USER_SQL = f"SELECT user_name FROM {Connection._meta.db_table} WHERE socket_id = %s"
DELETE_SOCKET_MEMBERSHIPS_SQL = f"DELETE FROM {Membership._meta.db_table} WHERE connection_id = %s"
DELETE_SOCKET_SQL = f"DELETE FROM {Connection._meta.db_table} WHERE socket_id = %s"
SOCKET_USER_ROOMS_SQL = (
    f"SELECT c.user_name, m.room_id, r.name FROM {Connection._meta.db_table} c"
    f" LEFT JOIN {Membership._meta.db_table} m ON m.connection_id = c.socket_id"
    f" LEFT JOIN {Room._meta.db_table} r ON r.id = m.room_id WHERE c.socket_id = %s"
)
# PostgreSQL: `begin_disconnect` as one statement. The record goes only when the
# socket has no membership; each row carries the user's socket count as the
# statement's snapshot sees it, the deleted record still counted, hence - 1.
BEGIN_DISCONNECT_SQL = (
    f"WITH found AS ({SOCKET_USER_ROOMS_SQL}),"
    f" gone AS ({DELETE_SOCKET_SQL} AND NOT EXISTS"
    f" (SELECT 1 FROM {Membership._meta.db_table} WHERE connection_id = %s))"
    f" SELECT found.*, (SELECT COUNT(*) FROM {Connection._meta.db_table} c"
    f" WHERE c.user_name = found.user_name) - 1 FROM found"
)
# PostgreSQL: `remove_socket_records` as one statement (the count as in
# BEGIN_DISCONNECT_SQL).
REMOVE_SOCKET_RECORDS_SQL = (
    f"WITH found AS ({SOCKET_USER_SQL}), memberships AS ({DELETE_SOCKET_MEMBERSHIPS_SQL}), gone AS ({DELETE_SOCKET_SQL})"
    f" SELECT (SELECT COUNT(*) FROM {Connection._meta.db_table} c WHERE c.user_name = found.user_name) - 1 FROM found"
)

ACQUIRE_LOCK_SQL = (
    f"INSERT INTO {RoomLock._meta.db_table} AS held (user_name, room_name, token, expires_at) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (user_name, room_name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at"
    " WHERE held.expires_at <= %s"
)
RELEASE_LOCK_SQL = f"DELETE FROM {RoomLock._meta.db_table} WHERE user_name = %s AND room_name = %s AND token = %s"

# A join's and a leave's statements. SQLite runs the steps in a transaction;
# PostgreSQL runs them as one statement in autocommit (one round trip instead
# of four to eight), whose counts do not see its own changes (one snapshot for
# the whole statement), hence the added or removed rows counted in.
ADD_MEMBERSHIP_SQL = (
    f"INSERT INTO {Membership._meta.db_table} (connection_id, room_id, user_name) VALUES (%s, %s, %s)"
    " ON CONFLICT (connection_id, room_id) DO NOTHING"
)
DELETE_MEMBERSHIP_SQL = f"DELETE FROM {Membership._meta.db_table} WHERE connection_id = %s AND room_id = %s"
JOINED_COUNT_SQL = f"SELECT COUNT(*) FROM {Membership._meta.db_table} WHERE room_id = %s AND user_name = %s"
ATTACH_SQL = (
    f"WITH added AS ({ADD_MEMBERSHIP_SQL} RETURNING 1)"
    f" SELECT ({JOINED_COUNT_SQL}) + (SELECT COUNT(*) FROM added), EXISTS (SELECT 1 FROM added)"
)
DETACH_SQL = (
    f"WITH removed AS ({DELETE_MEMBERSHIP_SQL} RETURNING user_name)"
    f" SELECT ({JOINED_COUNT_SQL}) - (SELECT COUNT(*) FROM removed WHERE user_name = %s), EXISTS (SELECT 1 FROM removed)"
)
ADD_ROOM_USER_SQL = (
    f"INSERT INTO {RoomUser._meta.db_table} (room_id, user_name) VALUES (%s, %s)"
    " ON CONFLICT (room_id, user_name) DO NOTHING"
)
DELETE_ROOM_USER_SQL = f"DELETE FROM {RoomUser._meta.db_table} WHERE room_id = %s AND user_name = %s"
STAMP_SEEN_SQL = (
    f"INSERT INTO {UserSeen._meta.db_table} (room_id, user_name, timestamp) VALUES (%s, %s, %s)"
    " ON CONFLICT (room_id, user_name) DO UPDATE SET timestamp = excluded.timestamp"
)
_STAMP_CHANGED = (
    f" stamped AS (INSERT INTO {UserSeen._meta.db_table} (room_id, user_name, timestamp)"
    " SELECT room_id, user_name, %s FROM changed"
    " ON CONFLICT (room_id, user_name) DO UPDATE SET timestamp = excluded.timestamp)"
    " SELECT EXISTS (SELECT 1 FROM changed)"
)
USERLIST_ADD_SQL = f"WITH changed AS ({ADD_ROOM_USER_SQL} RETURNING room_id, user_name)," + _STAMP_CHANGED
USERLIST_REMOVE_SQL = f"WITH changed AS ({DELETE_ROOM_USER_SQL} RETURNING room_id, user_name)," + _STAMP_CHANGED


def _one_row(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _userlist_change(postgresql_sql, change_sql, room_id, user_name, now):
    """A userlist entry added or removed (`change_sql`), the seen time stamped
    when it changed; returns whether it did. One statement on PostgreSQL
    (`postgresql_sql`), the steps in a transaction on SQLite."""
    if connection.vendor == "postgresql":
        return _one_row(postgresql_sql, [room_id, user_name, now])[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(change_sql, [room_id, user_name])
        changed = cursor.rowcount == 1
        if changed:
            cursor.execute(STAMP_SEEN_SQL, [room_id, user_name, now])
        return changed


def _membership_change(change_sql, params, room_id, user_name):
    """SQLite: a socket's membership added or removed (`change_sql`), then the
    user's joined count; returns (njoined, whether it changed)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(change_sql, params)
        changed = cursor.rowcount == 1
        cursor.execute(JOINED_COUNT_SQL, [room_id, user_name])
        return cursor.fetchone()[0], changed


def add_socket(user_name, socket_id, instance_uid, now):
    """Record a logged-in socket; returns nconnected. Run inside the login's
    transaction (`MessagingStore.add_login`). Plain SQL: it runs on every
    login, and the ORM's query building cost more than the statements."""
    with connection.cursor() as cursor:
        cursor.execute(ADD_SOCKET_SQL, [socket_id, user_name, instance_uid, now])
        cursor.execute(USER_SOCKET_COUNT_SQL, [user_name])
        return cursor.fetchone()[0]


def _delete_socket(cursor, socket_id, user_name):
    """Delete a socket's record (its memberships are gone); returns the user's
    remaining socket count."""
    cursor.execute(DELETE_SOCKET_SQL, [socket_id])
    cursor.execute(USER_SOCKET_COUNT_SQL, [user_name])
    return cursor.fetchone()[0]


def touch_heartbeat(instance_uid, now):
    """Renew a live instance's heartbeat. False when other instances declared it
    dead: its record is gone, or claimed by the one recovering it."""
    return bool(Instance.objects.filter(uid=instance_uid, recovering_by__isnull=True).update(heartbeat=now))


class PresenceStore:
    """Presence: sockets, memberships, userlists, seen times, instances and locks."""

    @database_hop
    def remove_socket_records(self, socket_id):
        """Delete a socket and its memberships; returns the user's remaining socket
        count. Plain SQL, as `add_socket`: it runs on every disconnect from
        rooms. On PostgreSQL one statement in autocommit: one round trip, not six."""
        if connection.vendor == "postgresql":
            row = _one_row(REMOVE_SOCKET_RECORDS_SQL, [socket_id, socket_id, socket_id])
            return 0 if row is None else row[0]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SOCKET_USER_SQL, [socket_id])
            row = cursor.fetchone()
            if row is None:
                return 0
            cursor.execute(DELETE_SOCKET_MEMBERSHIPS_SQL, [socket_id])
            return _delete_socket(cursor, socket_id, row[0])

    @database_hop
    def begin_disconnect(self, socket_id):
        """The disconnect's first step, in one hop: (the socket's rooms, None), or,
        for a socket in no room (most of them), its record deleted at once:
        ([], the user's remaining socket count). ([], 0) when it has no record.
        On PostgreSQL one statement in autocommit: one round trip, not five
        (BEGIN, three, COMMIT)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(BEGIN_DISCONNECT_SQL, [socket_id, socket_id, socket_id])
                rows = cursor.fetchall()
            if not rows:
                return [], 0
            rooms = [(room_id, name) for _, room_id, name, _ in rows if room_id is not None]
            return (rooms, None) if rooms else ([], rows[0][3])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SOCKET_USER_ROOMS_SQL, [socket_id])
            rows = cursor.fetchall()
            if not rows:
                return [], 0
            rooms = [(room_id, name) for _, room_id, name in rows if room_id is not None]
            if rooms:
                return rooms, None
            return [], _delete_socket(cursor, socket_id, rows[0][0])

    @database_hop
    def socket_connected(self, socket_id, user_name):
        return Connection.objects.filter(socket_id=socket_id, user_name=user_name).exists()

    @database_hop
    def attach_socket(self, room_id, user_name, socket_id):
        """Returns (njoined, newly attached). Plain SQL, one statement on
        PostgreSQL (as `begin_disconnect`): it runs on every join."""
        if connection.vendor == "postgresql":
            return _one_row(ATTACH_SQL, [socket_id, room_id, user_name, room_id, user_name])
        return _membership_change(ADD_MEMBERSHIP_SQL, [socket_id, room_id, user_name], room_id, user_name)

    @database_hop
    def detach_socket(self, room_id, user_name, socket_id):
        """Returns (njoined afterwards, was attached). Plain SQL, one statement on
        PostgreSQL: it runs on every leave and on a disconnect per room."""
        if connection.vendor == "postgresql":
            return _one_row(DETACH_SQL, [socket_id, room_id, room_id, user_name, user_name])
        return _membership_change(DELETE_MEMBERSHIP_SQL, [socket_id, room_id], room_id, user_name)

    @database_hop
    def detach_user_from_room(self, room_id, user_name):
        """Detach every socket of the user from the room; returns their ids."""
        with transaction.atomic():
            rows = Membership.objects.filter(room_id=room_id, user_name=user_name)
            socket_ids = list(rows.values_list("connection_id", flat=True))
            rows.delete()
            return socket_ids

    @database_hop
    def userlist_add(self, room_id, user_name, now):
        """Enter the userlist, stamping the seen time; returns True when the user
        was not present before. Plain SQL, one statement on PostgreSQL."""
        return _userlist_change(USERLIST_ADD_SQL, ADD_ROOM_USER_SQL, room_id, user_name, now)

    @database_hop
    def userlist_remove(self, room_id, user_name, now):
        """Leave the userlist, stamping the seen time; returns True when the user
        was present. Plain SQL, one statement on PostgreSQL."""
        return _userlist_change(USERLIST_REMOVE_SQL, DELETE_ROOM_USER_SQL, room_id, user_name, now)

    @database_hop
    def joined_count(self, room_id, user_name):
        return _one_row(JOINED_COUNT_SQL, [room_id, user_name])[0]

    @database_hop
    def userlist(self, room_id):
        return list(RoomUser.objects.filter(room_id=room_id).values_list("user_name", flat=True))

    @database_hop
    def userlist_sizes(self, room_ids):
        """{room id: userlist size} of the rooms with anyone in them."""
        rows = RoomUser.objects.filter(room_id__in=room_ids).values("room_id").annotate(n=Count("id"))
        return {row["room_id"]: row["n"] for row in rows}

    @database_hop
    def online_among(self, user_names):
        """The names, of those given, that have a socket."""
        return set(Connection.objects.filter(user_name__in=user_names).values_list("user_name", flat=True))

    @database_hop
    def seen(self, room_id, user_name):
        """When the user last left the room's userlist (or entered it), or None."""
        if not is_valid_name(user_name):
            return None
        return UserSeen.objects.filter(room_id=room_id, user_name=user_name).values_list("timestamp", flat=True).first()

    @database_hop
    def user_sockets(self, user_name):
        """{socket id: [room names]} over every instance."""
        sockets = {sid: [] for sid in Connection.objects.filter(user_name=user_name).values_list("socket_id", flat=True)}
        for sid, room_name in Membership.objects.filter(user_name=user_name).values_list("connection_id", "room__name"):
            if sid in sockets:
                sockets[sid].append(room_name)
        return sockets

    @database_hop
    def list_instances(self):
        return list(Instance.objects.order_by("uid").values_list("uid", "heartbeat"))

    @database_hop
    def in_userlist(self, room_id, user_name):
        return is_valid_name(user_name) and RoomUser.objects.filter(room_id=room_id, user_name=user_name).exists()

    @database_hop
    def user_socket_rows(self, user_name):
        """(socket id, instance uid) of the user's recorded sockets."""
        return list(Connection.objects.filter(user_name=user_name).values_list("socket_id", "instance_uid"))

    @database_hop
    def socket_instance(self, socket_id):
        return Connection.objects.filter(socket_id=socket_id).values_list("instance_uid", flat=True).first()

    @database_hop
    def is_online(self, user_name):
        return Connection.objects.filter(user_name=user_name).exists()

    @database_hop
    def rooms_of_user_sockets(self, user_name):
        """(room id, room name) of every room any socket of the user is joined to."""
        return list(Membership.objects.filter(user_name=user_name).values_list("room_id", "room__name").distinct())

    @database_hop
    def write_heartbeat(self, instance_uid, now):
        """Register the instance, or set its heartbeat."""
        Instance.objects.update_or_create(uid=instance_uid, defaults={"heartbeat": now})

    @database_hop
    def get_heartbeat(self, instance_uid):
        return Instance.objects.filter(uid=instance_uid).values_list("heartbeat", flat=True).first()

    @database_hop
    def instance_sockets(self, instance_uid):
        return dict(Connection.objects.filter(instance_uid=instance_uid).values_list("socket_id", "user_name"))

    @database_hop
    def delete_instance(self, instance_uid):
        Instance.objects.filter(uid=instance_uid).delete()

    @database_hop
    def claim_dead_instances(self, claimer_uid, deadline):
        """Atomically claim instances whose heartbeat is older than `deadline`.

        A claim whose claimer has died since (no heartbeat newer than `deadline`)
        can be taken over, or that recovery would never be finished."""
        live = Instance.objects.filter(heartbeat__gte=deadline).values("uid")
        claimed = []
        for uid in Instance.objects.filter(heartbeat__lt=deadline).exclude(uid=claimer_uid).values_list("uid", flat=True):
            taken = (
                Instance.objects.filter(uid=uid, heartbeat__lt=deadline)
                .filter(Q(recovering_by__isnull=True) | Q(recovering_by=claimer_uid) | ~Q(recovering_by__in=live))
                .update(recovering_by=claimer_uid)
            )
            if taken:
                claimed.append(uid)
        return claimed

    @database_hop
    def acquire_lock(self, user_name, room_name, token, now, ttl):
        """Take the lease when it is free or expired. One plain statement in
        autocommit: it runs twice per join and leave (this and the release),
        and the ORM's create, then update, each in a transaction, took up to
        six round trips on PostgreSQL."""
        with connection.cursor() as cursor:
            cursor.execute(ACQUIRE_LOCK_SQL, [user_name, room_name, token, now + ttl, now])
            return cursor.rowcount == 1

    @database_hop
    def release_lock(self, user_name, room_name, token):
        with connection.cursor() as cursor:  # the ORM's delete runs in a transaction: three round trips
            cursor.execute(RELEASE_LOCK_SQL, [user_name, room_name, token])
