from promptopt.cli import entrypoint

entrypoint()
