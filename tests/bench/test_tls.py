"""The client TLS context and the ALPN check."""

from __future__ import annotations

import ssl

from meshlb.bench.tls import alpn_mismatch, client_context


class Negotiated:
    def __init__(self, protocol: str | None) -> None:
        self.protocol = protocol

    def selected_alpn_protocol(self) -> str | None:
        return self.protocol


def test_insecure_skips_verification_and_secure_does_not() -> None:
    assert client_context(http2=False, insecure=True).verify_mode == ssl.CERT_NONE
    secure = client_context(http2=True, insecure=False)
    assert secure.verify_mode == ssl.CERT_REQUIRED and secure.check_hostname


def test_alpn_must_give_the_protocol_the_run_speaks() -> None:
    assert alpn_mismatch(Negotiated("h2"), http2=True) is None  # type: ignore[arg-type]
    assert alpn_mismatch(Negotiated(None), http2=False) is None  # type: ignore[arg-type]
    message = alpn_mismatch(Negotiated("http/1.1"), http2=True)  # type: ignore[arg-type]
    assert message is not None and "did not negotiate HTTP/2" in message
    assert alpn_mismatch(Negotiated("h2"), http2=False) is not None  # type: ignore[arg-type]
    assert alpn_mismatch(None, http2=True) is None
