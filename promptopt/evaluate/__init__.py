"""Evaluation: scoring a candidate on examples, and the statistics that compare candidates.

- :mod:`.evaluator`: render, call (through a completer), parse and score, one record per example;
- :mod:`.scoring`: accuracy, macro-F1, per-class recall, confusions, bootstrap intervals;
- :mod:`.paired`: paired comparison of two prompts on the same examples (exact McNemar);
- :mod:`.plateau`: the plateau test over a search's evaluations (has prompting hit its ceiling?).
- :mod:`.summary`: what `promptopt eval` reports (a frozen record, its JSON).
"""
