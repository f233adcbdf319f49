"""Human units in config: durations ("250ms", "5s", "1m") and sizes ("64KiB", "1MB")."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$")
_DURATION_SCALE = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|k|K|M|G)?\s*$")
_SIZE_SCALE = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "k": 1024,
    "K": 1024,
    "M": 1024**2,
    "G": 1024**3,
}


class Duration(float):
    """Seconds. Written in config as a number of seconds or a string like "250ms"."""

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, bool):
            raise ValueError('expected a duration like "2s"')
        if isinstance(value, int | float):
            if value < 0:
                raise ValueError("a duration cannot be negative")
            return cls(value)
        if isinstance(value, str):
            m = _DURATION.match(value)
            if m:
                return cls(float(m.group(1)) * _DURATION_SCALE[m.group(2)])
        raise ValueError(f'expected a duration like "250ms" or "2s", got {value!r}')

    def __repr__(self) -> str:
        return f"{float(self):g}s"


class Size(int):
    """Bytes. Written in config as an integer or a string like "64KiB"."""

    @classmethod
    def parse(cls, value: object) -> Size:
        if isinstance(value, bool):
            raise ValueError('expected a size like "64KiB"')
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a size cannot be negative")
            return cls(value)
        if isinstance(value, str):
            m = _SIZE.match(value)
            if m:
                return cls(int(float(m.group(1)) * _SIZE_SCALE[m.group(2)]))
        raise ValueError(f'expected a size like "64KiB" or "1MB", got {value!r}')


def parse_address(
    value: str, *, default_host: str = "", allow_any_port: bool = False
) -> tuple[str, int]:
    """Split "host:port", "[v6]:port" or ":port" into (host, port), checking the port.

    `allow_any_port` admits port 0 (the kernel picks one), for listeners."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or value[end + 1 : end + 2] != ":":
            raise ValueError(f'expected "[ipv6]:port", got {value!r}')
        host, port_text = value[1:end], value[end + 2 :]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError(f'expected "host:port", got {value!r}')
        if ":" in host:
            raise ValueError(f'write IPv6 addresses as "[addr]:port", got {value!r}')
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not (0 if allow_any_port else 1) <= port < 65536:
        raise ValueError(f"port {port} out of range")
    return host or default_host, port
