"""Hand-offs: what a finished run is turned into. They read the run folder and never run the
search; where they rescore, they use the evaluator they are given.

- :mod:`.export`: the production prompt artifact, its template, the DSPy program, verify;
- :mod:`.report`: the plateau report (markdown, HTML, plots, ablations);
- :mod:`.finetune`: the fine-tuning spec (proposal, training files, eval gate, probe, data card).
"""
