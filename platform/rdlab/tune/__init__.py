"""Ray Tune + Optuna adapter: the only package that imports ray.tune or optuna (STYLE §7).

Ray's reporting API moved three times in two years; this package absorbs the next move.
Ray 2.60: inside a trainable use ``ray.tune.report``/``Checkpoint``/``get_checkpoint``.
"""
