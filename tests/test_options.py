"""Options (docs/configuration.md): defaults, `CHAT_SERVICE`
keys, strict `CHAT_*` parsing and range checks. Nothing is silently replaced."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from chatproject.service import ChatService, Hooks
from chatproject.service.options import load_options

DEFAULTS = {
    "enableAccessListsUpdates": ("enable_access_lists_updates", "CHAT_ENABLE_ACCESS_LISTS_UPDATES", False),
    "enableDirectMessages": ("enable_direct_messages", "CHAT_ENABLE_DIRECT_MESSAGES", False),
    "enableRoomsManagement": ("enable_rooms_management", "CHAT_ENABLE_ROOMS_MANAGEMENT", False),
    "enableUserlistUpdates": ("enable_userlist_updates", "CHAT_ENABLE_USERLIST_UPDATES", False),
    "historyMaxGetMessages": ("history_max_get_messages", "CHAT_HISTORY_MAX_GET_MESSAGES", 100),
    "historyMaxSize": ("history_max_size", "CHAT_HISTORY_MAX_SIZE", 10000),
    "directListSizeLimit": ("direct_list_size_limit", "CHAT_DIRECT_LIST_SIZE_LIMIT", 1000),
    "roomListSizeLimit": ("room_list_size_limit", "CHAT_ROOM_LIST_SIZE_LIMIT", 10000),
    "closeTimeout": ("close_timeout", "CHAT_CLOSE_TIMEOUT", 15000),
    "heartbeatRate": ("heartbeat_rate", "CHAT_HEARTBEAT_RATE", 10000),
    "heartbeatTimeout": ("heartbeat_timeout", "CHAT_HEARTBEAT_TIMEOUT", 30000),
    "hooks": ("hooks", "CHAT_HOOKS", None),
    "allowQueryLogin": ("allow_query_login", "CHAT_ALLOW_QUERY_LOGIN", False),
    "maxFrameBytes": ("max_frame_bytes", "CHAT_MAX_FRAME_BYTES", 65536),
    "autoRecovery": ("auto_recovery", "CHAT_AUTO_RECOVERY", True),
    "lockTTL": ("lock_ttl", "CHAT_LOCK_TTL", 10000),
    "useRawErrorObjects": ("use_raw_error_objects", "CHAT_USE_RAW_ERROR_OBJECTS", False),
}
BOOLS = [name for name, (_, _, default) in DEFAULTS.items() if isinstance(default, bool)]
INTS = [name for name, (_, _, default) in DEFAULTS.items() if type(default) is int]
# minimum valid value per integer option (docs/configuration.md, Service options)
MINIMUM = {
    "historyMaxGetMessages": 0,
    "historyMaxSize": 0,
    "directListSizeLimit": 1,
    "roomListSizeLimit": 1,
    "closeTimeout": 1,
    "heartbeatRate": 1,
    "heartbeatTimeout": 1,
    "maxFrameBytes": 1,
    "lockTTL": 1,
}


def value(options, name):
    return getattr(options, DEFAULTS[name][0])


def raises_naming(*names):
    """Expect ImproperlyConfigured whose message names every one of `names`."""

    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(ImproperlyConfigured)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self.ctx.__exit__(*exc)
            for name in names:
                assert name in str(self.info.value), (name, str(self.info.value))
            return result

    return Check()


def test_option_names_are_the_documented_ones():
    assert set(MINIMUM) == set(INTS)
    assert len(DEFAULTS) == 17


def test_every_default_with_no_configuration():
    options = load_options({}, {}, None)
    for name, (_, _, default) in DEFAULTS.items():
        assert value(options, name) == default and type(value(options, name)) is type(default), name


def test_unrelated_environment_is_ignored():
    options = load_options({}, {"CHAT": "x", "CHATTY": "1", "HISTORY_MAX_SIZE": "x", "chat_history_max_size": "x"}, None)
    assert options.history_max_size == 10000


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("text, expected", [("true", True), ("false", False), ("TRUE", True), ("False", False),
                                            ("tRuE", True), ("FaLsE", False)])
def test_env_booleans_any_letter_case(name, text, expected):
    variable = DEFAULTS[name][1]
    assert value(load_options({}, {variable: text}, None), name) is expected


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("text", ["1", "0", "yes", "no", "on", "t", "", " true", "true ", "truee", "null", '"true"'])
def test_env_booleans_strict(name, text):
    variable = DEFAULTS[name][1]
    with raises_naming(variable):
        load_options({}, {variable: text}, None)


@pytest.mark.parametrize("name", INTS)
def test_env_integers(name):
    variable = DEFAULTS[name][1]
    minimum = MINIMUM[name]
    assert value(load_options({}, {variable: "12345"}, None), name) == 12345
    assert value(load_options({}, {variable: str(minimum)}, None), name) == minimum
    assert value(load_options({}, {variable: "007"}, None), name) == 7
    assert type(value(load_options({}, {variable: "5"}, None), name)) is int
    if minimum == 0:
        assert value(load_options({}, {variable: "-0"}, None), name) == 0


@pytest.mark.parametrize("name", INTS)
@pytest.mark.parametrize("text", ["lots", "", " 5", "5 ", "+5", "1.0", "1e3", "1_000", "0x10", "--5", "-", "5-",
                                  "\u0665", "\uff15", "\u00b2", "true"])
def test_env_integers_strict(name, text):
    variable = DEFAULTS[name][1]
    with raises_naming(variable):
        load_options({}, {variable: text}, None)


@pytest.mark.parametrize("name", INTS)
def test_env_integers_range(name):
    variable = DEFAULTS[name][1]
    with raises_naming(variable):
        load_options({}, {variable: str(MINIMUM[name] - 1)}, None)
    with raises_naming(variable):
        load_options({}, {variable: "-5"}, None)


def test_history_max_size_lots():
    with raises_naming("CHAT_HISTORY_MAX_SIZE", "lots"):
        load_options({}, {"CHAT_HISTORY_MAX_SIZE": "lots"}, None)


def test_env_overrides_chat_service():
    options = load_options({"historyMaxSize": 5, "enableDirectMessages": False},
                           {"CHAT_HISTORY_MAX_SIZE": "500", "CHAT_ENABLE_DIRECT_MESSAGES": "TRUE"}, None)
    assert options.history_max_size == 500
    assert options.enable_direct_messages is True
    assert load_options({"historyMaxSize": 5}, {}, None).history_max_size == 5


def test_env_value_is_checked_even_when_chat_service_is_valid():
    with raises_naming("CHAT_LOCK_TTL"):
        load_options({"lockTTL": 5}, {"CHAT_LOCK_TTL": "0"}, None)


def test_chat_service_accepts_every_option_name():
    configured = {
        "enableAccessListsUpdates": True, "enableDirectMessages": True, "enableRoomsManagement": True,
        "enableUserlistUpdates": True, "historyMaxGetMessages": 0, "historyMaxSize": 0,
        "directListSizeLimit": 1, "roomListSizeLimit": 1, "closeTimeout": 1, "heartbeatRate": 1,
        "heartbeatTimeout": 1, "hooks": None, "allowQueryLogin": True, "maxFrameBytes": 1,
        "autoRecovery": False, "lockTTL": 1, "useRawErrorObjects": True,
    }
    options = load_options(configured, {}, None)
    for name, configured_value in configured.items():
        assert value(options, name) == configured_value, name


@pytest.mark.parametrize("key", ["history_max_size", "HistoryMaxSize", "historymaxsize", "port", "state",
                                 "busAckTimeout", "transport", "CHAT_HISTORY_MAX_SIZE", "lockTtl"])
def test_chat_service_unknown_keys(key):
    with raises_naming("CHAT_SERVICE", key):
        load_options({key: 5}, {}, None)


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("bad", [1, 0, "true", None, "false"])
def test_chat_service_booleans_strict(name, bad):
    with raises_naming("CHAT_SERVICE", name):
        load_options({name: bad}, {}, None)


@pytest.mark.parametrize("name", INTS)
def test_chat_service_integers_strict(name):
    minimum = MINIMUM[name]
    for bad in (True, False, "5", 5.0, None, minimum - 1, [5]):
        with raises_naming("CHAT_SERVICE", name):
            load_options({name: bad}, {}, None)
    assert value(load_options({name: minimum}, {}, None), name) == minimum


def test_overrides_are_checked_too():
    with raises_naming("maxFrameBytes"):
        load_options({}, {}, {"maxFrameBytes": 0})
    with raises_naming("noSuchOption"):
        load_options({}, {}, {"noSuchOption": 1})
    assert load_options({"maxFrameBytes": 10}, {"CHAT_MAX_FRAME_BYTES": "20"}, {"maxFrameBytes": 30}).max_frame_bytes == 30


def test_env_hooks_path_is_taken():
    assert load_options({}, {"CHAT_HOOKS": "tests.test_options.GoodHooks"}, None).hooks == "tests.test_options.GoodHooks"


class GoodHooks(Hooks):
    instances = 0

    def __init__(self):
        GoodHooks.instances += 1

    async def on_start(self, server):
        return None


@pytest.mark.parametrize("path", ["tests.no_such_module_xyz", "tests.test_options.NoSuchHooks",
                                  "no_such_package_xyz.Hooks", "nodots_no_such_module"])
def test_hooks_path_that_does_not_import_stops_start_up(path):
    with raises_naming(path):
        ChatService(options={"hooks": path})


@pytest.mark.parametrize("path", ["tests.no_such_module_xyz", "tests.test_options.NoSuchHooks"])
def test_chat_hooks_env_that_does_not_import_stops_start_up(monkeypatch, path):
    monkeypatch.setenv("CHAT_HOOKS", path)
    with raises_naming(path):
        ChatService()


def test_hooks_path_class_is_instantiated_once(monkeypatch):
    before = GoodHooks.instances
    monkeypatch.setenv("CHAT_HOOKS", "tests.test_options.GoodHooks")
    service = ChatService()
    assert isinstance(service.hooks.object, GoodHooks)
    assert GoodHooks.instances == before + 1
    assert service.hooks.get("on_start") is not None
