"""The system's libbpf through ctypes, loaded on first use.

Importing this module does not touch libbpf: :func:`libbpf` opens
``libbpf.so.1`` the first time something needs it, so ``--help``, demo mode
and unit tests run on machines without it. On that first call it

1. routes libbpf's printer into :mod:`logging` (before any other libbpf call:
   libbpf writes to stderr by default, which would tear a running TUI);
2. checks the version (1.0 or newer: the 1.0 error convention of returning
   ``-errno`` is what :func:`bpftui.native.failure.check` relies on);
3. binds every function of :data:`PROTOTYPES` under its C name.

Usage::

    lib = libbpf()
    fd = check(lib.bpf_obj_get(path.encode()), f"pin {path}", "open")
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable
from ctypes import (
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint32,
    c_void_p,
)
from dataclasses import dataclass
from typing import Any

from bpftui.core.errors import NotSupported
from bpftui.native.structs import (
    bpf_kprobe_opts,
    bpf_link_create_opts,
    bpf_link_update_opts,
    bpf_object_open_opts,
    bpf_prog_load_opts,
    bpf_test_run_opts,
    bpf_uprobe_opts,
)

log = logging.getLogger(__name__)

SONAME = "libbpf.so.1"
MIN_VERSION = (1, 0)
INSTALL_HINT = "libbpf 1.0 or newer (Debian 12: apt-get install libbpf1)"

_PRINT_FN = ctypes.CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)

# C name -> (return type, argument types). Opaque libbpf objects
# (struct bpf_object *, bpf_program *, bpf_map *, bpf_link *, btf *) are
# c_void_p: NULL comes back as None, which check() reads as a failure.
PROTOTYPES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "libbpf_major_version": (c_uint32, ()),
    "libbpf_minor_version": (c_uint32, ()),
    "libbpf_version_string": (c_char_p, ()),
    "libbpf_set_print": (c_void_p, (_PRINT_FN,)),
    "libbpf_num_possible_cpus": (c_int, ()),
    "libbpf_probe_bpf_prog_type": (c_int, (c_int, c_void_p)),
    # objects, programs, maps (libbpf.h)
    "bpf_object__open_file": (c_void_p, (c_char_p, POINTER(bpf_object_open_opts))),
    "bpf_object__open_mem": (
        c_void_p,
        (c_void_p, c_size_t, POINTER(bpf_object_open_opts)),
    ),
    "bpf_object__load": (c_int, (c_void_p,)),
    "bpf_object__close": (None, (c_void_p,)),
    "bpf_object__find_program_by_name": (c_void_p, (c_void_p, c_char_p)),
    "bpf_object__next_program": (c_void_p, (c_void_p, c_void_p)),
    "bpf_object__next_map": (c_void_p, (c_void_p, c_void_p)),
    "bpf_program__name": (c_char_p, (c_void_p,)),
    "bpf_program__type": (c_int, (c_void_p,)),
    "bpf_program__fd": (c_int, (c_void_p,)),
    "bpf_program__set_type": (c_int, (c_void_p, c_int)),
    "bpf_program__set_expected_attach_type": (c_int, (c_void_p, c_int)),
    "bpf_program__set_autoload": (c_int, (c_void_p, c_bool)),
    "bpf_program__set_attach_target": (c_int, (c_void_p, c_int, c_char_p)),
    "bpf_program__set_log_buf": (c_int, (c_void_p, c_void_p, c_size_t)),
    "bpf_program__set_log_level": (c_int, (c_void_p, c_uint32)),
    "bpf_map__name": (c_char_p, (c_void_p,)),
    "bpf_map__fd": (c_int, (c_void_p,)),
    "bpf_map__is_internal": (c_bool, (c_void_p,)),
    "bpf_map__is_pinned": (c_bool, (c_void_p,)),
    "bpf_map__value_size": (c_uint32, (c_void_p,)),
    "bpf_map__set_pin_path": (c_int, (c_void_p, c_char_p)),
    "bpf_map__reuse_fd": (c_int, (c_void_p, c_int)),
    "bpf_map__initial_value": (c_void_p, (c_void_p, POINTER(c_size_t))),
    "bpf_map__set_initial_value": (c_int, (c_void_p, c_void_p, c_size_t)),
    # attachments through an open object (libbpf.h); bpftui's backend attaches
    # by fd instead (see bpftui.native.attach) so that programs pinned by an
    # earlier process can be attached too.
    "bpf_program__attach_tracepoint": (c_void_p, (c_void_p, c_char_p, c_char_p)),
    "bpf_program__attach_kprobe_opts": (
        c_void_p,
        (c_void_p, c_char_p, POINTER(bpf_kprobe_opts)),
    ),
    "bpf_program__attach_uprobe_opts": (
        c_void_p,
        (c_void_p, c_int, c_char_p, c_size_t, POINTER(bpf_uprobe_opts)),
    ),
    "bpf_program__attach_trace": (c_void_p, (c_void_p,)),
    "bpf_program__attach_freplace": (c_void_p, (c_void_p, c_int, c_char_p)),
    "bpf_link__pin": (c_int, (c_void_p, c_char_p)),
    "bpf_link__fd": (c_int, (c_void_p,)),
    "bpf_link__destroy": (c_int, (c_void_p,)),
    # the bpf() syscall wrappers (bpf.h)
    "bpf_prog_load": (
        c_int,
        (c_int, c_char_p, c_char_p, c_void_p, c_size_t, POINTER(bpf_prog_load_opts)),
    ),
    "bpf_obj_pin": (c_int, (c_int, c_char_p)),
    "bpf_obj_get": (c_int, (c_char_p,)),
    "bpf_obj_get_info_by_fd": (c_int, (c_int, c_void_p, POINTER(c_uint32))),
    "bpf_link_create": (
        c_int,
        (c_int, c_int, c_int, POINTER(bpf_link_create_opts)),
    ),
    "bpf_link_update": (c_int, (c_int, c_int, POINTER(bpf_link_update_opts))),
    "bpf_link_detach": (c_int, (c_int,)),
    "bpf_raw_tracepoint_open": (c_int, (c_char_p, c_int)),
    "bpf_prog_get_next_id": (c_int, (c_uint32, POINTER(c_uint32))),
    "bpf_prog_get_fd_by_id": (c_int, (c_uint32,)),
    "bpf_link_get_next_id": (c_int, (c_uint32, POINTER(c_uint32))),
    "bpf_link_get_fd_by_id": (c_int, (c_uint32,)),
    "bpf_map_get_next_id": (c_int, (c_uint32, POINTER(c_uint32))),
    "bpf_map_get_fd_by_id": (c_int, (c_uint32,)),
    "bpf_map_get_next_key": (c_int, (c_int, c_void_p, c_void_p)),
    "bpf_map_lookup_elem": (c_int, (c_int, c_void_p, c_void_p)),
    "bpf_enable_stats": (c_int, (c_int,)),
    "bpf_prog_test_run_opts": (c_int, (c_int, POINTER(bpf_test_run_opts))),
    # BTF (btf.h)
    "btf__load_vmlinux_btf": (c_void_p, ()),
    "btf__load_from_kernel_by_id": (c_void_p, (c_uint32,)),
    "btf__find_by_name_kind": (c_int32, (c_void_p, c_char_p, c_uint32)),
    "btf__type_by_id": (c_void_p, (c_void_p, c_uint32)),
    "btf__name_by_offset": (c_char_p, (c_void_p, c_uint32)),
    "btf__free": (None, (c_void_p,)),
    "btf__new_empty": (c_void_p, ()),
    "btf__add_int": (c_int, (c_void_p, c_char_p, c_size_t, c_int)),
    "btf__add_ptr": (c_int, (c_void_p, c_int)),
    "btf__add_struct": (c_int, (c_void_p, c_char_p, c_uint32)),
    "btf__add_func_proto": (c_int, (c_void_p, c_int)),
    "btf__add_func_param": (c_int, (c_void_p, c_char_p, c_int)),
    "btf__add_func": (c_int, (c_void_p, c_char_p, c_int, c_int)),
    "btf__load_into_kernel": (c_int, (c_void_p,)),
    "btf__fd": (c_int, (c_void_p,)),
}

_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)  # LIBBPF_WARN, INFO, DEBUG
_MESSAGE_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class Version:
    """The libbpf in use: ``major.minor`` from the library, ``full`` from its file."""

    major: int
    minor: int
    full: str
    path: str

    def __str__(self) -> str:
        return f"libbpf {self.full}"


class Libbpf:
    """The loaded library: each function of :data:`PROTOTYPES` under its C name."""

    def __init__(self, cdll: ctypes.CDLL, version: Version) -> None:
        self.version = version
        self.missing: set[str] = set()
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                func = getattr(cdll, name)
            except AttributeError:
                self.missing.add(name)
                continue
            func.restype = restype
            func.argtypes = argtypes
            setattr(self, name, func)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Only reached for names not bound in __init__.
        if name in PROTOTYPES:
            raise NotSupported(
                f"libbpf function {name}",
                needs="a newer libbpf",
                detail=f"{self.version} does not export it",
            )
        raise AttributeError(name)


class _Loaded:
    """What the first :func:`libbpf` call sets up, kept for the process."""

    lock = threading.Lock()
    lib: Libbpf | None = None
    libc: ctypes.CDLL | None = None
    # SAFETY: libbpf keeps the raw function pointer of the print callback for
    # the rest of the process; if this ctypes object were garbage collected
    # the pointer would dangle and the next libbpf message would jump into
    # freed memory. A class attribute lives as long as the interpreter.
    print_callback: Any = None


def libbpf() -> Libbpf:
    """Return libbpf, opening it on the first call.

    Raises:
        NotSupported: libbpf is missing or older than 1.0.
    """
    with _Loaded.lock:
        if _Loaded.lib is None:
            _Loaded.lib = _open()
        return _Loaded.lib


def loaded() -> bool:
    """Whether libbpf has been opened in this process."""
    return _Loaded.lib is not None


def _open() -> Libbpf:
    try:
        cdll = ctypes.CDLL(SONAME, use_errno=True)
    except OSError as err:
        raise NotSupported("libbpf", needs=INSTALL_HINT, detail=str(err)) from None
    _install_printer(cdll)
    version = _version(cdll)
    if (version.major, version.minor) < MIN_VERSION:
        raise NotSupported(str(version), needs=INSTALL_HINT)
    lib = Libbpf(cdll, version)
    log.debug("opened %s (%s)", version, version.path)
    if lib.missing:
        log.debug("%s lacks %s", version, ", ".join(sorted(lib.missing)))
    return lib


def _install_printer(cdll: ctypes.CDLL) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.vsnprintf.restype = c_int
    libc.vsnprintf.argtypes = (c_void_p, c_size_t, c_char_p, c_void_p)
    _Loaded.libc = libc
    _Loaded.print_callback = _PRINT_FN(_on_print)
    set_print = cdll.libbpf_set_print
    set_print.restype = c_void_p
    set_print.argtypes = (_PRINT_FN,)
    set_print(_Loaded.print_callback)


def _on_print(level: int, fmt: bytes | None, args: int | None) -> int:
    """libbpf's printer: format with vsnprintf, hand the line to logging.

    ``args`` is a ``va_list``; on x86-64 (an array type) and arm64 (a large
    struct) C passes it as a pointer, so vsnprintf can take it as one. It is
    consumed here and must not be used twice.
    """
    try:
        if fmt is None or _Loaded.libc is None:
            return 0
        # SAFETY: vsnprintf writes at most _MESSAGE_MAX bytes into buf, which
        # lives until the end of this function.
        buf = ctypes.create_string_buffer(_MESSAGE_MAX)
        _Loaded.libc.vsnprintf(buf, _MESSAGE_MAX, fmt, args)
        text = buf.value.decode("utf-8", "replace").rstrip()
        if text:
            log.log(_LEVELS[min(max(level, 0), 2)], "%s", text)
    except Exception:  # an exception cannot cross into C: record it instead
        log.error("could not format a libbpf message", exc_info=True)
    return 0


def _version(cdll: ctypes.CDLL) -> Version:
    cdll.libbpf_major_version.restype = c_uint32
    cdll.libbpf_minor_version.restype = c_uint32
    major = int(cdll.libbpf_major_version())
    minor = int(cdll.libbpf_minor_version())
    path = _mapped_path("libbpf.so")
    full = f"{major}.{minor}"
    # The patch level is only in the file name (libbpf.so.1.1.2).
    tail = path.rsplit(".so.", 1)[-1] if ".so." in path else ""
    if tail.startswith(f"{major}.{minor}."):
        full = tail
    return Version(major, minor, full, path or SONAME)


def _mapped_path(fragment: str) -> str:
    """Return the file this process maps whose name contains ``fragment``."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if fragment in path.rsplit("/", 1)[-1]:
                    return path
    except OSError:
        pass
    return ""
