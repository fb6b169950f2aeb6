"""Outputs of a finished run: the production prompt artifact (``build``), its messages template
(``template``), the DSPy program (``dspy_program``), round-trip verification (``verify``) and the
file formats of ``promptopt predict`` (``predict_io``). They read the run folder and the task
data; only ``verify`` (through the runtime) calls a model."""
