"""bpftui core: the API model, its rules, the node agent and the loader.

Nothing here imports a UI toolkit.
"""
