"""bpftui: a console for the eBPF programs on one Linux node."""

__version__ = "0.1.0"
