"""The layers depend one way (docs/architecture.md, Layers):

    transports (chatproject.consumers, .socketio, .api, .admin, .views, ...)
      -> chatproject.service -> rooms, presence, messaging -> chatproject.common

and between the domain apps: messaging -> presence -> rooms. Read from the
source with `ast`, so a new import that breaks a rule fails here.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("rooms", "presence", "messaging")
# What each package may import of the project (besides itself).
ALLOWED = {
    "chatproject.common": set(),
    "chatproject.metrics": set(),
    "rooms": {"chatproject.common"},
    "presence": {"chatproject.common", "rooms"},
    "messaging": {"chatproject.common", "rooms", "presence"},
    "chatproject.service": {"chatproject.common", "chatproject.metrics", *APPS},
    # The socket both WebSocket transports share, and the socket.io transport:
    # on the service, never on each other's framing.
    "chatproject.connection": {"chatproject.common", "chatproject.metrics", "chatproject.service"},
    "chatproject.socketio": {
        "chatproject.common", "chatproject.service", "chatproject.connection", "chatproject.daphne_integration",
    },
}


def package_of(module):
    """The layer a dotted module name belongs to, or None outside the project."""
    parts = module.split(".")
    if parts[0] in APPS:
        return parts[0]
    if parts[0] != "chatproject":
        return None
    if len(parts) > 1 and parts[1] in ("common", "service"):
        return "chatproject." + parts[1]
    return ".".join(parts[:2])


def imports_of(path, module):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([node.module] if node.module else []))
            else:
                base = node.module
            yield from (f"{base}.{alias.name}" for alias in node.names)


def modules_in(package):
    folder = ROOT.joinpath(*package.split("."))
    paths = folder.rglob("*.py") if folder.is_dir() else [folder.with_suffix(".py")]
    for path in paths:
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield path, ".".join(parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(package):
    wrong = []
    for path, module in modules_in(package):
        for imported in imports_of(path, module + (".__init__" if path.name == "__init__.py" else "")):
            target = package_of(imported or "")
            if target is None or target == package:
                continue
            if target not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "\n".join(wrong)
