"""meshlb: an asyncio layer-7 load balancer and service-mesh proxy."""

__version__ = "0.1.0"
