# Shared helpers for scripts/run and scripts/test. Source it; do not run it.
# Everything here is idempotent and needs nothing done by hand on a fresh
# Debian machine with python3 (3.11), apt and PyPI reachable.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_apt_updated=""
apt_install() {
    if [ -z "$_apt_updated" ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _apt_updated=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Create .venv if missing and install requirements.txt into it, skipping the
# install when requirements.txt has not changed since the last one.
ensure_venv() {
    local python="${PYTHON:-python3}"
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        if ! "$python" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            local ver
            ver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
            apt_install "python${ver}-venv" || apt_install python3-venv
            "$python" -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "pip install -r requirements.txt"
        "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
        echo "$want" >"$stamp"
    fi
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_port HOST PORT SECONDS
wait_port() {
    local i
    for ((i = 0; i < $3 * 4; i++)); do
        port_open "$1" "$2" && return 0
        sleep 0.25
    done
    return 1
}

# Daphne's WebSocket message and frame limits follow the maxFrameBytes option
# (docs/protocol.md, Limits), so oversized frames are refused before parsing.
max_frame_bytes() {
    echo "${CHAT_MAX_FRAME_BYTES:-65536}"
}
