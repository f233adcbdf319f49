"""Health: active checks (probes, rise/fall, the checker) and passive outlier detection.

Everything here writes endpoint state only through `meshlb.cluster.endpoints.EndpointSet`.
"""

# The config schema embeds this package's config tables: load it first, so that importing
# any health module first still resolves `meshlb.config -> meshlb.health.config` one way.
import meshlb.config  # noqa: F401  isort: skip
from meshlb.health.checker import HealthChecker
from meshlb.health.config import HealthCheckConfig, OutlierConfig
from meshlb.health.outcome import Fault, fault_of
from meshlb.health.outlier import OutlierDetector, Verdict
from meshlb.health.probes import Probe, ProbeResult, known_kinds, register
from meshlb.health.risefall import RiseFall, check_delay

__all__ = [
    "Fault",
    "HealthCheckConfig",
    "HealthChecker",
    "OutlierConfig",
    "OutlierDetector",
    "Probe",
    "ProbeResult",
    "RiseFall",
    "Verdict",
    "check_delay",
    "fault_of",
    "known_kinds",
    "register",
]
