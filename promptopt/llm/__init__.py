"""The port to language models: the only package that imports LiteLLM or llama.cpp."""
