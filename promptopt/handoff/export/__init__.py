"""The production prompt of a finished run, exported and verified.

- :mod:`.build`: the artifact (framework-free JSON with a content hash) and where it is written;
- :mod:`.template`: the chat-messages template with placeholders, cut out of the renderer's output;
- :mod:`.dspy_program`: the DSPy program that loads the artifact (generated; nothing here imports dspy);
- :mod:`.plain`: the plain folder for stacks without Python (request body with placeholders, demos, label mapping, a generated README);
- :mod:`.verify`: rescoring through the artifact and comparing with the run, example by example.

Only ``verify`` calls a model, through the runtime it is given.
"""
