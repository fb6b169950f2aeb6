from promptopt.cli.main import entrypoint

entrypoint()
