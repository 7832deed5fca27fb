#!/usr/bin/env bash
# Install what the tests need and run them all: lint, types, the host suite
# (unit, kernel, screens) and the guest-kernel lane. Exits non-zero when any
# part fails; every part runs even after an earlier one failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --test || { echo "test: installation failed" >&2; exit 1; }
py=.venv/bin

failed=()
step() {
    local name=$1; shift
    echo "=== $name: $*"
    "$@" || failed+=("$name")
}

step ruff-format "$py/ruff" format --check --quiet bpftui tests bench
step ruff-check "$py/ruff" check --quiet bpftui tests bench
step mypy "$py/mypy" --no-error-summary
step host-tests "$py/pytest" -q -m "not guest" -p no:cacheprovider "$@"
if [ "${BPFTUI_SKIP_GUEST:-0}" = "1" ]; then
    echo "=== guest-lane: skipped (BPFTUI_SKIP_GUEST=1)"
else
    step guest-lane bash scripts/guest-lane.sh
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test: all steps passed"
