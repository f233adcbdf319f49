"""The HTML report: self-contained, with the charts."""

from __future__ import annotations

import argparse
from html.parser import HTMLParser

from meshlb.bench.html import render_html
from meshlb.bench.options import add_arguments, options_from_namespace
from meshlb.bench.report import build_document
from meshlb.bench.results import SecondRow
from meshlb.bench.summary import summarize
from meshlb.bench.svg import nice_ticks
from tests.bench.results_factory import result, row


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def render(open_model: bool) -> str:
    rows = [
        row(s, [1.0 + s] * 50, uncorrected_ms=[1.0] * 50 if open_model else None) for s in (1, 2, 3)
    ]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["http://127.0.0.1:1/<b>", "--workers", "1"] + (["--rate", "50"] if open_model else [])
    summary = summarize([result(0, rows)], open_model)
    return render_html(build_document(summary, options_from_namespace(parser.parse_args(argv))))


def test_the_report_has_both_charts_and_nothing_external() -> None:
    tags = Tags()
    tags.feed(render(open_model=False))
    svgs = {attrs["id"] for tag, attrs in tags.found if tag == "svg"}
    assert svgs == {"latency-over-time", "requests-over-time", "percentile-distribution"}
    assert [tag for tag, _ in tags.found if tag in ("script", "link", "img")] == []
    assert all("src" not in attrs and "href" not in attrs for _, attrs in tags.found)


def test_rate_mode_draws_the_uncorrected_lines_too() -> None:
    page = render(open_model=True)
    assert page.count('stroke-dasharray="6 4"') == 2  # over time and by percentile
    assert "p99 uncorrected" in page


def test_text_from_the_run_is_escaped() -> None:
    assert "<b>" not in render(open_model=False).split("<body>")[1]


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(9.3) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(0.0) == [0.0, 1.0]
    assert nice_ticks(1234)[-1] >= 1234


def test_rate_mode_lists_the_send_lag_and_warns_when_it_is_large() -> None:
    rows = [row(1, [0.2] * 50, uncorrected_ms=[0.1] * 50, send_lag_ms=[0.1] * 50, held=2)]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from_namespace(
        parser.parse_args(["http://127.0.0.1:1/", "--workers", "1", "--rate", "50"])
    )
    doc = build_document(summarize([result(0, rows)], open_model=True), options)
    page = render_html(doc)
    assert "<th>send lag</th>" in page
    assert "2 requests were sent late for lack of a free connection" in page
    assert '<p class="warning"><strong>Warning:</strong> send lag p99' in page


def page_of(rows: list[SecondRow], *argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from_namespace(
        parser.parse_args(["http://127.0.0.1:1/", "--workers", "1", *argv])
    )
    headers = {"b1": 75, "<b2>": 25} if "--by-header" in argv else None
    summary = summarize([result(0, rows, headers=headers)], open_model=False)
    return render_html(build_document(summary, options))


def test_by_header_counts_are_listed_with_shares() -> None:
    page = page_of([row(1, [1.0] * 100)], "--by-header", "X-Backend")
    assert "<h2>Responses by x-backend</h2>" in page
    assert "<tr><th>b1</th><td>75</td><td>75.0%</td></tr>" in page
    assert "<th>&lt;b2&gt;</th>" in page
    assert "Responses by" not in page_of([row(1, [1.0] * 100)])


def test_errors_over_time_are_charted_when_there_were_errors() -> None:
    assert 'id="errors-over-time"' not in page_of([row(1, [1.0] * 10)])
    page = page_of([row(1, [1.0] * 10), row(2, [1.0] * 10, errors=5)])
    assert "Errors per second" in page
