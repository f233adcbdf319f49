"""Attacks and defences: each test runs a misbehaving client or backend written for it
against a real meshlb on 127.0.0.1, like the smuggling battery does for request framing."""
