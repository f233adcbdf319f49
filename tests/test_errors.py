"""Failures: what a client is answered, and which errors are meshlb's own."""

from __future__ import annotations

import errno

from meshlb.errors import Failure, Source, is_local_resource_error


def test_a_local_resource_failure_is_a_local_503_that_nothing_reached_the_upstream_for() -> None:
    failure = Failure.LOCAL_RESOURCE
    assert failure.status == 503 and failure.source is Source.LOCAL
    assert failure.text == "local resource exhausted"
    assert failure.name.lower() == "local_resource"  # the x-meshlb-reason header
    assert not failure.connect_stage  # not answered as "no healthy upstream"


def test_descriptor_and_socket_memory_shortages_are_local_resource_errors() -> None:
    for code in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
        assert is_local_resource_error(OSError(code, "x"))
    assert not is_local_resource_error(ConnectionRefusedError(errno.ECONNREFUSED, "x"))
    assert not is_local_resource_error(ValueError("x"))
