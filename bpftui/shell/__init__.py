"""``bpftui shell``: a REPL and a script runner over the same commands.

Layout:

* ``parser``: scripts into commands (quotes, ``;``, ``#``, ``\\``).
* ``registry`` and ``commands``: the command table and running one command;
  the commands themselves live in ``listing``, ``compose_cmds`` and
  ``node_cmds``, all over :class:`~bpftui.core.session.Session` and
  ``core.api``/``rules``/``compose``/``yaml_io``.
* ``completion``, ``fields`` and ``highlight``: what Tab offers and how input
  is colored, as plain functions.
* ``runner``: ``-c``, script files and piped input, without prompt_toolkit.
* ``repl``: the interactive prompt (the only module importing prompt_toolkit).
"""
