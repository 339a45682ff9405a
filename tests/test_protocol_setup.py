"""A new daphne WebSocket connection's set-up (chatproject/daphne_integration.py):
the protocol options come from a protocol class per factory instead of being
copied into every connection, and autobahn's debug lines format their
arguments only when written. Run in a child process: daphne's import installs
a Twisted reactor, which the test process must not have."""
import json
import sys

from tests.child_process import run_in_child


def run_child(name):
    return json.loads(run_in_child(__name__, name))


def test_a_connection_has_the_options_set_when_it_was_made():
    seen = run_child("options_child")
    assert seen["first"] == {"openHandshakeTimeout": 0, "maxFramePayloadSize": 1234, "autoPingTimeout": 20,
                             "failByDrop": False, "closeHandshakeTimeout": 5, "accept": None, "own": []}
    assert seen["later"]["openHandshakeTimeout"] == 7 and seen["later"]["maxFramePayloadSize"] == 1234
    assert seen["first_after_change"] == 0  # options changed later apply to later connections
    assert seen["reset"]["maxFramePayloadSize"] == 0 and seen["reset"]["failByDrop"] is False
    assert seen["other_factory"] == 99  # each factory its own options
    assert seen["instance_override"] == [0, 1234]  # a write's temporary limit stays the connection's own


def options_child():
    import types

    from twisted.internet.testing import StringTransport

    from chatproject.daphne_integration import _customise_daphne

    _customise_daphne()
    from daphne.ws_protocol import WebSocketFactory

    def factory(**options):
        made = WebSocketFactory(types.SimpleNamespace(log_action=lambda *args: None), server="Daphne")
        made.setProtocolOptions(**options)
        return made

    def connected(factory):
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        return protocol

    def options(protocol):
        return {
            "openHandshakeTimeout": protocol.openHandshakeTimeout,
            "maxFramePayloadSize": protocol.maxFramePayloadSize,
            "autoPingTimeout": protocol.autoPingTimeout,
            "failByDrop": protocol.failByDrop,
            "closeHandshakeTimeout": protocol.closeHandshakeTimeout,
            "accept": protocol.perMessageCompressionAccept([]),  # a function of the offers, not a method
            "own": sorted(set(vars(protocol)) & set(WebSocketFactory.protocol.CONFIG_ATTRS)),  # none copied
        }

    chat = factory(openHandshakeTimeout=0, maxFramePayloadSize=1234, autoPingTimeout=20)
    first = connected(chat)
    seen = {"first": options(first)}
    chat.setProtocolOptions(openHandshakeTimeout=7)
    seen["later"] = options(connected(chat))
    seen["first_after_change"] = first.openHandshakeTimeout
    chat.resetProtocolOptions()
    seen["reset"] = options(connected(chat))
    seen["other_factory"] = connected(factory(maxFramePayloadSize=99)).maxFramePayloadSize
    writer = connected(factory(maxMessagePayloadSize=1234))
    writer.maxMessagePayloadSize = 0
    seen["instance_override"] = [writer.maxMessagePayloadSize, type(writer).maxMessagePayloadSize]
    sys.stdout.write(json.dumps(seen))


def test_debug_arguments_are_formatted_only_when_written():
    seen = run_child("formatting_child")
    assert seen["hltype"] == seen["original_hltype"] and "test_protocol_setup" in seen["hltype"]
    assert seen["hlval"] == seen["original_hlval"] and "42" in seen["hlval"]
    assert seen["pformat"] == "[('a', 1)]"
    assert seen["formatted_lazily"] is True


def formatting_child():
    import autobahn.util

    from chatproject.daphne_integration import _customise_daphne

    _customise_daphne()
    import autobahn.twisted.websocket as autobahn_twisted
    import autobahn.websocket.protocol as autobahn_protocol

    calls = []

    def counted(value):
        calls.append(value)
        return "counted"

    seen = {
        "hltype": "{f}".format(f=autobahn_protocol.hltype(formatting_child)),
        "original_hltype": autobahn.util.hltype(formatting_child),
        "hlval": str(autobahn_twisted.hlval(42, color="green")),
        "original_hlval": autobahn.util.hlval(42, color="green"),
        "pformat": str(autobahn_protocol.pformat([("a", 1)])),
    }
    lazy = type(autobahn_protocol.hltype(formatting_child))(counted, (1,), {})
    seen["formatted_lazily"] = calls == [] and f"{lazy}" == "counted" and calls == [1]
    sys.stdout.write(json.dumps(seen))
