"""The client TLS context: ALPN offers exactly the protocol the run speaks."""

from __future__ import annotations

import ssl

H2 = "h2"
HTTP11 = "http/1.1"


def client_context(http2: bool, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:  # self-signed and test targets
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([H2] if http2 else [HTTP11])
    return context


def alpn_mismatch(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, http2: bool) -> str | None:
    """Why the negotiated protocol cannot be used, or None when it can."""
    if ssl_object is None:
        return None
    chosen = ssl_object.selected_alpn_protocol()
    if http2 and chosen != H2:
        return f"the server did not negotiate HTTP/2 via ALPN (it chose {chosen or 'nothing'})"
    if not http2 and chosen not in (None, HTTP11):
        return f"the server negotiated {chosen!r} instead of http/1.1"
    return None
