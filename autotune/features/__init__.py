"""Features of the tuner: the machine fingerprint, the cloud identity and workload features.

``machine_fingerprint()`` describes where a run happens (cached per process, keyed by the
CPU affinity) and gives a stable ``machine_id``; ``workload_features(workload, n_sims)`` gives a
stable key, a canonical spec and a numeric vector for what is run. Together they are the input
of the tuner's cache lookup and of its performance model.
"""

from ._cloud import DEFAULT_METADATA_URL, CloudIdentity, cloud_identity, identity_from_dmi, probe_instance_type
from ._machine import FINGERPRINT_SCHEMA, MACHINE_FEATURES, MachineFingerprint, machine_fingerprint
from ._workload import (
    WORKLOAD_FEATURES,
    WORKLOAD_KEY_VERSION,
    WorkloadFeatures,
    workload_features,
    workload_from_spec,
)

__all__ = [
    "DEFAULT_METADATA_URL",
    "FINGERPRINT_SCHEMA",
    "MACHINE_FEATURES",
    "WORKLOAD_FEATURES",
    "WORKLOAD_KEY_VERSION",
    "CloudIdentity",
    "MachineFingerprint",
    "WorkloadFeatures",
    "cloud_identity",
    "identity_from_dmi",
    "machine_fingerprint",
    "probe_instance_type",
    "workload_features",
    "workload_from_spec",
]
