"""Reading HTTP/1.1 responses off a raw socket, for tests that script the bytes they send."""

from __future__ import annotations

import socket


def read_response(
    sock: socket.socket, head_only: bool = False, timeout: float | None = None
) -> bytes:
    """One response: its head, and its Content-Length body unless `head_only` (a HEAD
    response, or a 1xx); what came before the peer closed, if it closed first."""
    if timeout is not None:
        sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if head_only:
        return data
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
