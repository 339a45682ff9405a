"""Notifications that reach a socket between its login and loginConfirmed are
held, then written after loginConfirmed: they count as delivered then."""
from chatproject import metrics
from tests.conftest import U1


def delivered_count():
    return metrics.REGISTRY.get_sample_value("chat_notifications_delivered_total")


async def test_held_notifications_are_counted_when_written_after_login_confirmed(chat, svc):
    hub = svc.hub
    add_socket = hub.add_socket
    counts = []

    async def add_then_notify(socket, user_name):
        """The socket is in the hub, its login not yet confirmed: what comes now is held."""
        await add_socket(socket, user_name)
        counts.append(delivered_count())
        await svc.notify_user(user_name, "socketConnectEcho", ["elsewhere", 2])
        await svc.notify_user(user_name, "socketDisconnectEcho", ["elsewhere", 1])
        counts.append(delivered_count())

    hub.add_socket = add_then_notify
    client = await chat.client(svc, U1, expect_login=False)
    assert client.login["method"] == "loginConfirmed"
    assert await client.notification("socketConnectEcho") == ["elsewhere", 2]
    assert await client.notification("socketDisconnectEcho") == ["elsewhere", 1]
    held_count, after_notify = counts
    assert after_notify == held_count  # held: not written yet, not counted
    assert delivered_count() - held_count == 2
