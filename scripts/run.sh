#!/usr/bin/env bash
# Install bpftui and start it: the real node as root, the demo node otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$(id -u)" -eq 0 ]; then
    exec .venv/bin/bpftui "$@"
fi
exec .venv/bin/bpftui --demo "$@"
