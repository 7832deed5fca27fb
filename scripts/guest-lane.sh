#!/usr/bin/env bash
# Run the tests marked `guest` inside a stock Debian kernel under QEMU.
#
# The host kernel refuses freplace, fentry/fexit and kprobes (lockdown, no
# kprobes), so those tests run in a guest: Debian's own linux-image package,
# booted with virtme-ng in software emulation (nested KVM hangs on the CI
# machines). The guest sees the host's root file system read-only plus this
# repository read-write, so the project's virtualenv runs inside unchanged.
#
# Usage: scripts/guest-lane.sh [pytest arguments...]
#   With no arguments it runs `pytest -m guest tests`.
#   GUEST_LANE_CMD="..." runs that shell command in the guest instead.
#
# Exit status: pytest's own inside the guest; 3 when the guest did not boot or
# did not report back; 4 when the kernel or virtme-ng could not be fetched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.guest"
VENV="$ROOT/.venv"
RESULT="$CACHE/result"
LOG="$CACHE/guest.log"

say() { printf 'guest-lane: %s\n' "$*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }

# --- inside the guest -------------------------------------------------------

inside() {
    # Without udev the guest has no virtio-serial script port, and virtme-ng's
    # console fallback shows output only in verbose mode, mixed with the
    # kernel's. A log file on the shared directory is read by the host.
    exec >"$LOG" 2>&1
    # bpffs, tracefs and debugfs are not mounted by virtme-ng's init.
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
    mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug || true
    ulimit -l unlimited
    cd "$ROOT"
    echo booted >"$RESULT"
    local rc=0
    if [[ -n "${GUEST_LANE_CMD:-}" ]]; then
        bash -c "$GUEST_LANE_CMD" || rc=$?
    else
        "$VENV/bin/python" -m pytest -p no:cacheprovider "$@" || rc=$?
    fi
    echo "$rc" >"$RESULT"
}

if [[ "${1:-}" == "--inside" ]]; then
    shift
    inside "$@"
    exit 0
fi

# --- on the host: fetch the kernel ------------------------------------------

kernel_package() {
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [[ -z "$pkg" ]]; then
        apt-get update -qq >&2 || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [[ -n "$pkg" ]] || die 4 "cannot tell which linux-image package linux-image-amd64 names"
    echo "$pkg"
}

fetch_kernel() {
    local pkg=$1 dir="$CACHE/$1"
    if [[ ! -d "$dir/boot" ]]; then
        say "fetching $pkg from Debian"
        rm -rf "$dir" "$CACHE"/"$pkg"_*.deb
        (cd "$CACHE" && apt-get download "$pkg" >&2 2>/dev/null) ||
            (cd "$CACHE" && apt-get update -qq >&2 && apt-get download "$pkg" >&2) ||
            die 4 "apt-get download $pkg failed"
        dpkg -x "$CACHE"/"$pkg"_*.deb "$dir.tmp"
        mv "$dir.tmp" "$dir"
        rm -f "$CACHE"/"$pkg"_*.deb
    fi
    echo "$dir"
}

install_modules() {
    local dir=$1 version
    version=$(basename "$(ls -d "$dir"/lib/modules/*/ | head -n 1)")
    if [[ ! -d "/lib/modules/$version" ]]; then
        mkdir -p /lib/modules
        cp -r "$dir/lib/modules/$version" /lib/modules/
    fi
    echo "$version"
}

ensure_vng() {
    if [[ ! -x "$VENV/bin/vng" ]]; then
        say "installing virtme-ng into $VENV"
        "$VENV/bin/pip" install -q virtme-ng >&2 || die 4 "pip install virtme-ng failed"
    fi
}

main() {
    [[ $(id -u) -eq 0 ]] || die 4 "must run as root (modules go to /lib/modules)"
    [[ -x "$VENV/bin/python" ]] || die 4 "no virtualenv at $VENV"
    mkdir -p "$CACHE"

    local pkg dir version
    pkg=$(kernel_package)
    dir=$(fetch_kernel "$pkg")
    version=$(install_modules "$dir")
    ensure_vng
    (($# > 0)) || set -- -m guest tests

    # The command line travels through the kernel command line: quote it.
    local cmd
    cmd="$(printf '%q ' "$ROOT/scripts/guest-lane.sh" --inside "$@")"
    if [[ -n "${GUEST_LANE_CMD:-}" ]]; then
        cmd="GUEST_LANE_CMD=$(printf '%q' "$GUEST_LANE_CMD") $cmd"
    fi

    # vng starts virtme-run through PATH.
    export PATH="$VENV/bin:$PATH"
    rm -f "$RESULT"
    : >"$LOG"
    tail -n +1 -F "$LOG" 2>/dev/null &
    local tail_pid=$!
    say "booting $version (software emulation, 2 CPUs, 2G)"
    local start=$SECONDS vng_rc=0
    "$VENV/bin/vng" --disable-kvm --force-9p --cpus 2 --memory 2G \
        --rwdir "$ROOT" --run "$dir/boot/vmlinuz-$version" \
        --exec "$cmd" </dev/null >"$CACHE/console.log" 2>&1 || vng_rc=$?
    sleep 1
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    say "guest finished after $((SECONDS - start)) s"

    if [[ ! -s "$RESULT" ]]; then
        tail -n 20 "$CACHE/console.log" >&2 || true
        die 3 "the guest kernel $version did not boot (vng exit $vng_rc); nothing ran; console in $CACHE/console.log"
    fi
    local rc
    rc=$(cat "$RESULT")
    if [[ "$rc" == booted ]]; then
        die 3 "the guest booted but stopped before the tests reported back (vng exit $vng_rc)"
    fi
    if [[ "$rc" != 0 ]]; then
        say "guest tests failed (pytest exit $rc)"
    fi
    exit "$rc"
}

main "$@"
