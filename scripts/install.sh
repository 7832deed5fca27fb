#!/usr/bin/env bash
# Install bpftui into ./.venv. With --test, also what the test suite needs
# (Debian packages from scripts/apt-packages.txt, when running as root).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {
    local missing=()
    while read -r pkg; do
        pkg=${pkg%%#*}; pkg=${pkg// /}
        [ -n "$pkg" ] || continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$pkg")
    done < "$1"
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "install: missing Debian packages (need root): ${missing[*]}" >&2
        return 0
    fi
    echo "install: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# libbpf is the only native library bpftui itself needs.
if [ "$(id -u)" -eq 0 ] && ! ldconfig -p | grep -q 'libbpf.so.1'; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libbpf1 >/dev/null
fi
[ "$want_test" -eq 1 ] && apt_install scripts/apt-packages.txt

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$want_test" -eq 1 ]; then
    .venv/bin/pip install -q -e '.[test]'
else
    .venv/bin/pip install -q -e .
fi
