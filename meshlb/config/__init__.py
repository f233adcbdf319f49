"""Typed configuration: schema, units and loading with path-named errors."""

from meshlb.config.load import ConfigError, endpoint_list, load_file, load_text, validate
from meshlb.config.schema import (
    ClusterConfig,
    Config,
    EndpointConfig,
    ListenerConfig,
    RouteConfig,
)

__all__ = [
    "ClusterConfig",
    "Config",
    "ConfigError",
    "EndpointConfig",
    "ListenerConfig",
    "RouteConfig",
    "endpoint_list",
    "load_file",
    "load_text",
    "validate",
]
