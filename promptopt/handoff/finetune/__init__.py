"""The fine-tuning spec: turn a finished run folder (read through :mod:`promptopt.run.reader`)
and its task data into a reviewable hand-off for fine-tuning, with no model call.

- :mod:`.datacard` describes and cleans the train split (balance, lengths, duplicates,
  conflicting labels, train/test overlap);
- :mod:`.chat` builds the chat-format training files;
- :mod:`.probe` trains a quick supervised probe (the only module that imports scikit-learn);
- :mod:`.economics` prices the prompted and the fine-tuned model;
- :mod:`.decision` checks the conditions (and what a trained model reaches) and gives the verdict;
- :mod:`.gate` states the score a fine-tuned model must beat and how to check it;
- :mod:`.render` writes the markdown; :mod:`.spec` puts it together and writes the folder.
"""
