"""The run folder: everything a run does, on disk, as typed records, and one way to read it.

- :mod:`.store`: the append-only files of a run folder (atomic writes, torn-line recovery);
- :mod:`.events`: the typed events of the search (one frozen class per kind);
- :mod:`.history`: the in-memory mirror of a run (candidates, evaluation rows, events);
- :mod:`.costs`: what examples cost (tokens, dollars, seconds as they would run live);
- :mod:`.summary`: the run summary (``summary.json``);
- :mod:`.reader`: the one reader of a finished run, for ``show``, ``runs`` and the hand-offs.
"""
