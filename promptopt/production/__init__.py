"""Production: the exported prompt artifact and the runtime that serves it. Nothing here imports
the search (an import-linter contract keeps it so).

- :mod:`.artifact`: the artifact's format, its content hash and how it is read;
- :mod:`.runtime`: ``promptopt.load(path)``: classify inputs with an artifact;
- :mod:`.predict_io`: the input and output files of ``promptopt predict``.
"""
