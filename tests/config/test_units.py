import pytest

from meshlb.config.units import Duration, Size, parse_address


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("1m", 60.0),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        (3, 3.0),
        ("100us", 1e-4),
        ("7", 7.0),
    ],
)
def test_durations_parse_with_units(text: object, seconds: float) -> None:
    assert Duration.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5x", "", "s", "-1s", -1, True, [1], "1 day"])
def test_bad_durations_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        Duration.parse(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("64KiB", 65536), ("1MiB", 1 << 20), ("1MB", 10**6), ("512", 512), (0, 0), ("1GiB", 1 << 30)],
)
def test_sizes_parse_with_units(text: object, size: int) -> None:
    assert Size.parse(text) == size


@pytest.mark.parametrize("bad", ["64Kb", "-1", -5, "lots", 1.5])
def test_bad_sizes_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        Size.parse(bad)


def test_addresses_split_host_and_port() -> None:
    assert parse_address("127.0.0.1:80") == ("127.0.0.1", 80)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    assert parse_address(":9000", default_host="0.0.0.0") == ("0.0.0.0", 9000)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("127.0.0.1:99999", "port 99999 out of range"),
        ("127.0.0.1", "expected"),
        ("::1:80", "IPv6"),
        ("h:port", "not a number"),
        ("h:0", "out of range"),
    ],
)
def test_bad_addresses_say_why(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_address(bad)
