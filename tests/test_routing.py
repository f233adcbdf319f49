from meshlb.config import load_text
from meshlb.protocol.messages import RequestHead
from meshlb.routing import Route, Router

CONFIG = """
[[listeners]]
address = "127.0.0.1:8080"
[clusters.a]
endpoints = ["127.0.0.1:1"]
[clusters.b]
endpoints = ["127.0.0.1:2"]
[clusters.c]
endpoints = ["127.0.0.1:3"]

[[routes]]
name = "assets"
match.path_prefix = "/assets/"
match.methods = ["GET", "HEAD"]
prefix_rewrite = "/static/"
cluster = "a"

[[routes]]
name = "wild"
match.host = ["api.example.com", "*.example.org"]
cluster = "b"

[[routes]]
name = "regex"
match.path_regex = "/v[0-9]+/items"
match.headers = { "x-env" = "canary", "x-user" = "*" }
cluster = "c"

[[routes]]
name = "exact"
match.path_exact = "/health"
cluster = "a"
"""


def router() -> Router[str]:
    config = load_text(CONFIG)
    return Router([Route(rc, rc.cluster, i) for i, rc in enumerate(config.routes)])


def head(target: bytes, host: bytes = b"x", method: bytes = b"GET", headers=()) -> RequestHead:
    return RequestHead(method, target, b"1.1", host, list(headers), True, None, False)


def name_of(h: RequestHead) -> str | None:
    route = router().match(h)
    return route.name if route else None


def test_path_prefix_and_method() -> None:
    assert name_of(head(b"/assets/logo.svg?v=1")) == "assets"
    assert name_of(head(b"/assets/logo.svg", method=b"POST")) is None


def test_host_exact_and_wildcard_ignore_port_and_case() -> None:
    assert name_of(head(b"/", host=b"API.example.com:8080")) == "wild"
    assert name_of(head(b"/", host=b"a.b.example.org")) == "wild"
    assert name_of(head(b"/", host=b"example.org")) is None


def test_regex_needs_a_full_match_and_headers() -> None:
    canary = [(b"x-env", b"canary"), (b"x-user", b"7")]
    assert name_of(head(b"/v2/items", headers=canary)) == "regex"
    assert name_of(head(b"/v2/items/9", headers=canary)) is None
    assert name_of(head(b"/v2/items", headers=canary[:1])) is None
    assert name_of(head(b"/v2/items", headers=[(b"x-env", b"prod"), (b"x-user", b"7")])) is None


def test_exact_path_ignores_the_query() -> None:
    assert name_of(head(b"/health?full=1")) == "exact"
    assert name_of(head(b"/healthz")) is None


def test_prefix_rewrite() -> None:
    route = router().routes[0]
    assert route.rewrite_target(b"/assets/logo.svg?v=1") == b"/static/logo.svg?v=1"
    assert route.rewrite_target(b"/assets/") == b"/static/"


def test_a_single_unconditional_route_is_a_shortcut() -> None:
    config = load_text(CONFIG)
    only = Route(config.routes[0].__class__(cluster="a"), "a", 0)
    r = Router([only])
    assert r.match(head(b"/anything", method=b"DELETE")) is only
