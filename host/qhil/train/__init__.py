"""Float baselines trained with stable-baselines3 (:mod:`qhil.train.train`) and QAT
(:mod:`qhil.train.qat`); their settings are :mod:`qhil.train.settings`."""
