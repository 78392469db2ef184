"""The performance model: a random forest predicting the time of every config, its evaluation and persistence.

``training_set(store)`` turns every COMPLETE measurement into a row (machine ⊕ workload ⊕ config
features, :func:`feature_names`); :class:`ConfigTimeModel` fits log time and log compile time and
``choose``-s the fastest of a list of candidate configs; ``train``/``save_model``/``load_model``
keep it in the results database (never pickled); ``evaluate`` cross-validates its choice against
baselines, holding out whole workloads and machines.
"""

from ._data import TrainingDataError, TrainingSet, training_set
from ._encoding import CONFIG_FEATURES, FEATURE_SCHEMA_VERSION, encode_config, encode_configs, feature_names
from ._evaluate import GROUP_BY, METHODS, EvaluationReport, GroupOutcome, MethodScore, evaluate
from ._flat import FlatForest
from ._forest import Choice, ConfigTimeModel
from ._persist import PAYLOAD_FORMAT, load_model, save_model, train

__all__ = [
    "CONFIG_FEATURES",
    "FEATURE_SCHEMA_VERSION",
    "GROUP_BY",
    "METHODS",
    "PAYLOAD_FORMAT",
    "Choice",
    "ConfigTimeModel",
    "EvaluationReport",
    "FlatForest",
    "GroupOutcome",
    "MethodScore",
    "TrainingDataError",
    "TrainingSet",
    "encode_config",
    "encode_configs",
    "evaluate",
    "feature_names",
    "load_model",
    "save_model",
    "train",
    "training_set",
]
