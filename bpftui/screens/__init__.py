"""The Textual screens of bpftui; the only package that imports textual."""
