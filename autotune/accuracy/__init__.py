"""Time to accuracy: estimators, their error models, and tuning for a precision target.

``autotune.tune(workload, target=Target(...))`` runs :func:`tune_to_target`: each estimator's
error is measured on a pilot, each execution config's speed by a fixed-size session, and the
best pairings are run to the target side by side (see :mod:`autotune.accuracy._tune`).
"""

from ._errors import ErrorModel, Estimator, estimators_for, fit_error_model, pilot_choice
from ._tune import TARGET_KEY_SIMS, Finalist, TargetReport, target_key, tune_to_target

__all__ = ["TARGET_KEY_SIMS", "ErrorModel", "Estimator", "Finalist", "TargetReport", "estimators_for",
           "fit_error_model", "pilot_choice", "target_key", "tune_to_target"]
