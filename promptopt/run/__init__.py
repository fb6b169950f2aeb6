"""The run folder: everything a run does, on disk, and the one way to read it back.

- :mod:`.store`: the append-only files of a run folder (atomic writes, torn-line recovery);
- :mod:`.history`: the in-memory mirror of a run (candidates, evaluation rows, events) and costs.
"""
