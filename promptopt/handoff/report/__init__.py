"""The plateau report: a finished run folder turned into a markdown file, a self-contained HTML
page and PNG plots, with ablations of the winning prompt scored through the evaluator. The run
is read through :mod:`promptopt.run.reader`.

- :mod:`.trajectory` rebuilds the best dev score against calls, tokens or dollars, with bands;
- :mod:`.candidates` places every candidate by dev accuracy and prompt tokens, with the Pareto front;
- :mod:`.unfixed` finds the examples every strong candidate got wrong;
- :mod:`.ablation` builds, scores (through an injected evaluator) and compares the ablations;
- :mod:`.plots` draws the PNGs (the only module that imports matplotlib);
- :mod:`.doc` renders one list of blocks as markdown and as HTML;
- :mod:`.build` puts the report together and writes its folder.

Nothing here builds a model client: the only model calls are the ablations, made through the
evaluator the caller passes in.
"""
