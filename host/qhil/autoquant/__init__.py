"""Automatic per-layer widths under a budget: sensitivity profile (:mod:`.sensitivity`),
search (:mod:`.search`), QAT of the candidates, device verification and the Pareto front
(:mod:`.pipeline`); its settings are :mod:`.settings` (``qhil autoquant``)."""
