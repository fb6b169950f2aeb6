"""Prompts: a candidate is an immutable decomposition of the prompt into named components.

- :mod:`.candidate`: the candidate value, its content-hash id and its lineage;
- :mod:`.render`: a candidate and an input as chat messages (shared part first, input last);
- :mod:`.parse`: the model's answer back into a label;
- :mod:`.demos`: which demonstrations a candidate shows (fixed sets or retrieved per input);
- :mod:`.retrieve`: nearest train examples by TF-IDF or sentence embeddings;
- :mod:`.describe`: short label descriptions from the train split (no model call);
- :mod:`.shrink`: cuts to a token length, one demo per label, the list of the neighbours' labels;
- :mod:`.tokens`: a rendered prompt's size, and the rate that turns it into prompt tokens.
"""
