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
#   With no arguments it runs `pytest -m guest tests/guest tests/kernel`.
#   GUEST_LANE_CMD="..." runs that shell command in the guest instead.
#   GUEST_LANE_TIMEOUT=seconds bounds the whole guest run (default 2700).
#
# Exit status: pytest's own inside the guest (0 passed, 1 failed, ...); 90
# when the guest did not boot or did not report back; 91 when the kernel or
# virtme-ng could not be fetched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.guest"
VENV="$ROOT/.venv"
# Each run writes its result and log under its own directory, so runs of
# several people on one machine do not read each other's.
RUN_DIR=${GUEST_LANE_RUN_DIR:-}
RESULT="$RUN_DIR/result"
LOG="$RUN_DIR/guest.log"
TIME_LIMIT=${GUEST_LANE_TIMEOUT:-2700}

say() { printf 'guest-lane: %s\n' "$*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }

# --- inside the guest -------------------------------------------------------

# The guest's root is the host's, over 9p without caching: under software
# emulation every stat and read is a round trip, and Python's imports make
# thousands (an empty interpreter took 7 s, collecting the tests 80 s). The
# host also exports / read-only as FAST_TAG (see --qemu-opts below), mounted
# here with cache=loose so repeat reads come from the guest's page cache.
# The tests run in a chroot built on a tmpfs (mounts made on 9p directories
# got lost when the next mount was made): the cached tree for the system and
# the virtualenv, the guest's /proc, /sys, /dev, /run and /tmp, and the
# repository itself read-write and uncached. Nothing on the host changes
# during a run. Measured: interpreter 0.9 s, collection 16-24 s.
FAST_TAG=bpftuiroot
FAST_ROOT=/srv/bpftui-root
FAST_CACHE=/srv/bpftui-cache

fast_root() {
    mkdir -p "$FAST_ROOT" "$FAST_CACHE"
    mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000,access=any \
        "$FAST_TAG" "$FAST_CACHE" || return 1
    mount -t tmpfs -o mode=0755 bpftui-root "$FAST_ROOT" || return 1
    local path entry top=${ROOT#/}
    top=${top%%/*}  # the repository's top directory comes from the rw mount
    for path in "$FAST_CACHE"/*; do
        entry=${path##*/}
        case $entry in proc | sys | dev | run | tmp | "$top") continue ;; esac
        if [[ -L $path ]]; then
            cp -P "$path" "$FAST_ROOT/$entry"
        elif [[ -d $path ]]; then
            mkdir "$FAST_ROOT/$entry" && mount --bind "$path" "$FAST_ROOT/$entry" || return 1
        fi
    done
    for entry in proc sys dev run tmp; do
        mkdir "$FAST_ROOT/$entry" && mount --rbind "/$entry" "$FAST_ROOT/$entry" || return 1
    done
    mkdir -p "$FAST_ROOT$ROOT"
    mount --bind "$ROOT" "$FAST_ROOT$ROOT" || return 1
    mount --bind "$FAST_CACHE$VENV" "$FAST_ROOT$VENV" || return 1
}

inside() {
    # Without udev the guest has no virtio-serial script port, and virtme-ng's
    # console fallback shows output only in verbose mode, mixed with the
    # kernel's. A log file on the shared directory is read by the host.
    exec >"$LOG" 2>&1
    echo booted >"$RESULT"
    # bpffs, tracefs and debugfs are not mounted by virtme-ng's init; they
    # must be there before /sys is bound into the fast root.
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
    mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug || true
    ulimit -l unlimited
    export BPFTUI_GUEST=1 PYTHONDONTWRITEBYTECODE=1
    # The TUI snapshot and property-test plugins cost half a minute to import
    # here and no guest test uses them.
    export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1

    local enter=()
    if fast_root; then
        enter=(chroot "$FAST_ROOT")
    else
        echo "guest-lane: no cached root ($FAST_TAG); running over plain 9p (slow)"
    fi
    local command rc=0
    if [[ -n "${GUEST_LANE_CMD:-}" ]]; then
        command=$GUEST_LANE_CMD
    else
        command="$(printf '%q ' "$VENV/bin/python" -m pytest -p timeout \
            -p no:cacheprovider "$@")"
    fi
    "${enter[@]}" /bin/bash -c "cd $(printf '%q' "$ROOT") && $command" || rc=$?
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
    [[ -n "$pkg" ]] || die 91 "cannot tell which linux-image package linux-image-amd64 names"
    echo "$pkg"
}

fetch_kernel() {
    local pkg=$1 dir="$CACHE/$1"
    if [[ ! -d "$dir/boot" ]]; then
        say "fetching $pkg from Debian"
        rm -rf "$dir" "$CACHE"/"$pkg"_*.deb
        (cd "$CACHE" && apt-get download "$pkg" >&2 2>/dev/null) ||
            (cd "$CACHE" && apt-get update -qq >&2 && apt-get download "$pkg" >&2) ||
            die 91 "apt-get download $pkg failed"
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
        "$VENV/bin/pip" install -q virtme-ng >&2 || die 91 "pip install virtme-ng failed"
    fi
}

main() {
    [[ $(id -u) -eq 0 ]] || die 91 "must run as root (modules go to /lib/modules)"
    [[ -x "$VENV/bin/python" ]] || die 91 "no virtualenv at $VENV"
    mkdir -p "$CACHE"

    local pkg dir version
    exec 9>"$CACHE/lock"
    flock 9 # one run at a time fetches and installs
    pkg=$(kernel_package)
    dir=$(fetch_kernel "$pkg")
    version=$(install_modules "$dir")
    ensure_vng
    flock -u 9
    RUN_DIR=$(mktemp -d "$CACHE/run.XXXXXX")
    RESULT="$RUN_DIR/result"
    LOG="$RUN_DIR/guest.log"
    trap 'rm -rf "$RUN_DIR"' EXIT
    # clang under software emulation takes 10-30 s a file: build the guest
    # tests' BPF programs here (tests/bpf/build/guest) and let the guest reuse them.
    "$VENV/bin/python" "$ROOT/tests/guest/_guest.py" 2>/dev/null ||
        say "could not build the test programs on the host; the guest will"
    (($# > 0)) || set -- -m guest tests/guest tests/kernel

    # The command line travels through the kernel command line: quote it.
    local cmd
    cmd="$(printf '%q ' "$ROOT/scripts/guest-lane.sh" --inside "$@")"
    cmd="GUEST_LANE_RUN_DIR=$(printf '%q' "$RUN_DIR") $cmd"
    if [[ -n "${GUEST_LANE_CMD:-}" ]]; then
        cmd="GUEST_LANE_CMD=$(printf '%q' "$GUEST_LANE_CMD") $cmd"
    fi

    # vng starts virtme-run through PATH.
    export PATH="$VENV/bin:$PATH"
    : >"$LOG"
    tail -n +1 -F "$LOG" 2>/dev/null &
    local tail_pid=$!
    say "booting $version (software emulation, 2 CPUs, 2G)"
    local start=$SECONDS vng_rc=0
    timeout --kill-after=30 "$TIME_LIMIT" \
        "$VENV/bin/vng" --disable-kvm --force-9p --cpus 2 --memory 2G \
        --rwdir "$ROOT" --run "$dir/boot/vmlinuz-$version" \
        --qemu-opts="-virtfs local,path=/,mount_tag=$FAST_TAG,security_model=none,readonly=on" \
        --exec "$cmd" </dev/null >"$RUN_DIR/console.log" 2>&1 || vng_rc=$?
    sleep 1
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    say "guest finished after $((SECONDS - start)) s"

    if [[ ! -s "$RESULT" ]]; then
        cp "$RUN_DIR/console.log" "$CACHE/console.log"
        tail -n 20 "$CACHE/console.log" >&2 || true
        die 90 "the guest kernel $version did not boot (vng exit $vng_rc); nothing ran; console in $CACHE/console.log"
    fi
    local rc
    rc=$(cat "$RESULT")
    if [[ "$rc" == booted ]]; then
        if ((vng_rc == 124)); then
            die 90 "the guest ran out of time (GUEST_LANE_TIMEOUT=$TIME_LIMIT s) before the tests reported back"
        fi
        die 90 "the guest booted but stopped before the tests reported back (vng exit $vng_rc)"
    fi
    if [[ "$rc" != 0 ]]; then
        say "guest tests failed (pytest exit $rc)"
    fi
    exit "$rc"
}

main "$@"
