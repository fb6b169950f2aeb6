"""Hand-offs: what a finished run is turned into. They read the run folder through
:mod:`promptopt.run.reader` and never run the search or build a model client; where they
rescore, they use the evaluator or runtime they are given.

- :mod:`.export`: the production prompt artifact, its template, the DSPy program, verify;
- :mod:`.report`: the plateau report (markdown, HTML, plots, ablations);
- :mod:`.finetune`: the fine-tuning spec (proposal, training files, eval gate, probe, data card);
- :mod:`.format`: formatters they share (percentages, intervals, strict JSON).
"""
