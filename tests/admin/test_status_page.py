"""The status page document is self-contained and its inline code matches its CSP."""

from __future__ import annotations

import base64
import hashlib
import re

from meshlb.admin.stats import STATES
from meshlb.admin.status_page import CONTENT_SECURITY_POLICY, HTML


def inline(tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", HTML, re.S)


def digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_policy_allows_exactly_the_inline_script_and_style() -> None:
    (script,) = inline("script")
    (style,) = inline("style")
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == digest(script)
    assert directives["style-src"] == digest(style)
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"


def test_nothing_is_loaded_from_elsewhere() -> None:
    assert not re.search(r"https?://", HTML)
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|@import|url\(", HTML)
    assert "innerHTML" not in HTML  # values are set with textContent only


def test_every_state_has_a_colour() -> None:
    (style,) = inline("style")
    for state in STATES:
        assert re.search(rf"\.state-{state}\{{background:#[0-9a-f]{{6}}\}}", style), state
