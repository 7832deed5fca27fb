"""bpftui core: the API model, its rules, the node agent and the loader. No UI imports."""
