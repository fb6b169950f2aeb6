"""The door to language models: the only package that imports LiteLLM or llama.cpp.

- :mod:`.types`: requests, responses, call errors and the ``Completer`` protocol;
- :mod:`.gateway`: LiteLLM behind the door (retries, concurrency, prices, local models);
- :mod:`.cache`: the completion cache on disk (keyed on the full request and the weights);
- :mod:`.metered`: records every call in the ledger;
- :mod:`.budgeted`: refuses a call the budget does not allow (with a reserve set aside);
- :mod:`.ledger`: one record per call, and totals that are exactly their sum;
- :mod:`.budget`: budgets in calls, tokens, dollars and seconds, and the reserve;
- :mod:`.embed`: MiniLM sentence embeddings (offline, from a PyPI package);
- :mod:`.local`: the embedded models, run in-process by llama.cpp.
"""
