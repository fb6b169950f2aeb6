"""Tasks: what is classified, and the data it is scored on.

- :mod:`.spec`: the task-file schema (TOML), the loaded task and its examples, seeded samples;
- :mod:`.load`: finding task files and reading their data (the one place that imports ``datasets``).
"""
