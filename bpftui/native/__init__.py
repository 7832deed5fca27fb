"""Thin bindings to the kernel: libbpf through ctypes, netlink, ELF.

Nothing here imports a UI toolkit.
"""
