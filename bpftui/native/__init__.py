"""Thin bindings to the kernel: libbpf through ctypes, netlink, ELF. No UI imports."""
