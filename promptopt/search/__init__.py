"""Search strategies over prompt decompositions. Optuna is imported only in
:mod:`promptopt.search.tpe`; :mod:`promptopt.search.space` is pure."""
