"""The search: from the seeds to the winner, within the budgets, until the plateau.

- :mod:`.loop`: the loop (ask, build, race, tell, record, check the stoppers) and the final scoring;
- :mod:`.config`: what a search is given (settings, the task's slices);
- :mod:`.space`: the search space, its points and how a point becomes a candidate;
- :mod:`.seeds`: the first trials: the prompts a user would write, cheapest first;
- :mod:`.tpe`: optuna's TPE over the space, study on disk (the only module that imports optuna);
- :mod:`.neighbours`: local moves around the most promising candidates;
- :mod:`.mutate`: the mutators (structural operators, LLM proposers), registered by name;
- :mod:`.racing`: growing dev rungs and the paired test that stops worse candidates;
- :mod:`.reserve`: the budget kept for the final test scoring, and the budget estimate;
- :mod:`.pricing`: what candidates cost: prompt tokens (estimated, measured, capped), the test share;
- :mod:`.stoppers`: the stop conditions (budget, plateau, max trials, failing proposals, exhausted);
- :mod:`.finish`: the run summary.
"""
