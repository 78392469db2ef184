"""The performance model: a random forest predicting the time of every config, its evaluation and persistence.

``training_set(store)`` turns every COMPLETE measurement into a row (machine ⊕ workload ⊕ config
features, :func:`feature_names`); :class:`ConfigTimeModel` fits log time and log compile time and
``choose``-s the fastest of a list of candidate configs; ``train``/``save_model``/``load_model``
keep it in the results database (never pickled); ``evaluate`` cross-validates its choice against
baselines, holding out whole workloads and machines.

Deciding needs numpy alone: :func:`load_predictor` gives a :class:`ForestPredictor` with the same
predictions. The names that need scikit-learn (``ConfigTimeModel``, ``evaluate`` and its report
types) are imported on first use, so ``import autotune.model`` does not import it; so are the
learned error model's (``ErrorForest``, ``choose_for_target``...), which only runs to a target use.
"""

from typing import Any

from ._encoding import CONFIG_FEATURES, FEATURE_SCHEMA_VERSION, encode_config, encode_configs, feature_names
from ._flat import FlatForest
from ._persist import PAYLOAD_FORMAT, load_model, load_predictor, save_model, train
from ._predictor import Choice, ForestPredictor

_LAZY = {
    **dict.fromkeys(("TrainingDataError", "TrainingSet", "training_set"), "_data"),
    "ConfigTimeModel": "_forest",
    **dict.fromkeys(("GROUP_BY", "METHODS", "EvaluationReport", "GroupOutcome", "MethodScore", "evaluate"),
                    "_evaluate"),
    **dict.fromkeys(("ERROR_FEATURES", "ESTIMATE_CLASSES", "N_REF", "ErrorForest", "ErrorTrainingSet",
                     "error_features", "error_training_set", "sims_for_target", "spec_digest"), "_errors"),
    **dict.fromkeys(("ERROR_PAYLOAD_FORMAT", "ERROR_SCHEMA_VERSION", "load_error_model", "save_error_model",
                     "train_error_model"), "_errors_store"),
    **dict.fromkeys(("TargetChoice", "choose_for_target"), "_target"),
}


def __getattr__(name: str) -> Any:
    """The names that need scikit-learn, and the error model's (the target tiers'), imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "CONFIG_FEATURES",
    "ERROR_FEATURES",
    "ERROR_PAYLOAD_FORMAT",
    "ERROR_SCHEMA_VERSION",
    "ESTIMATE_CLASSES",
    "FEATURE_SCHEMA_VERSION",
    "GROUP_BY",
    "METHODS",
    "N_REF",
    "PAYLOAD_FORMAT",
    "Choice",
    "ConfigTimeModel",
    "ErrorForest",
    "ErrorTrainingSet",
    "EvaluationReport",
    "FlatForest",
    "ForestPredictor",
    "GroupOutcome",
    "MethodScore",
    "TargetChoice",
    "TrainingDataError",
    "TrainingSet",
    "choose_for_target",
    "encode_config",
    "encode_configs",
    "error_features",
    "error_training_set",
    "evaluate",
    "feature_names",
    "load_error_model",
    "load_model",
    "load_predictor",
    "save_error_model",
    "save_model",
    "sims_for_target",
    "spec_digest",
    "train",
    "train_error_model",
    "training_set",
]
