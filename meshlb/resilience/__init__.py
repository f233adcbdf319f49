"""Resilience: resource limits, retries with a budget, and hedging decisions.

All of it is synchronous and pure (time comes in as `now`); the data path composes it.
"""

# The config schema embeds this package's config tables: load it first, so that importing
# any resilience module first still resolves `meshlb.config -> ...config` one way.
import meshlb.config  # noqa: F401  isort: skip
from meshlb.resilience.config import LimitsConfig, RetryConfig
from meshlb.resilience.hedge import HedgeBudget, HedgePolicy, LatencyQuantile
from meshlb.resilience.limits import ResourceLimits
from meshlb.resilience.retry import (
    IDEMPOTENT_METHODS,
    Decision,
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "Decision",
    "HedgeBudget",
    "HedgePolicy",
    "LatencyQuantile",
    "LimitsConfig",
    "ResourceLimits",
    "RetryBudget",
    "RetryConfig",
    "RetryPolicy",
    "parse_retry_after",
]
