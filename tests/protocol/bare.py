"""The bare parsers, without meshlb's rules: what each accepts of the battery on its own."""

from __future__ import annotations

import h11
import httptools


class _Complete:
    def __init__(self) -> None:
        self.messages = 0

    def on_message_complete(self) -> None:
        self.messages += 1


def llhttp_accepts(raw: bytes) -> bool:
    """httptools in its default (strict) mode: a whole first message and no error."""
    protocol = _Complete()
    parser = httptools.HttpRequestParser(protocol)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        return True  # llhttp stopped at the end of a CONNECT or upgrade head, content
    except httptools.HttpParserError:
        return False
    return protocol.messages > 0


def h11_accepts(raw: bytes) -> bool:
    """h11 as a server with its defaults: a Request and its EndOfMessage and no error."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return False
            if type(event) is h11.EndOfMessage:
                return True
    except h11.RemoteProtocolError:
        return False


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What the battery found (tests/protocol/test_bare_parsers.py keeps these lists true).
LLHTTP_LETS_THROUGH = _names(
    """
    te_on_http10 te_gzip_chunked te_leading_comma bare_lf_before_request missing_host
    duplicate_host duplicate_host_same host_userinfo host_with_path host_with_space
    host_bad_port absolute_form_other_host absolute_form_userinfo absolute_form_ftp
    absolute_form_no_authority asterisk_not_options fragment_in_target
    double_space_after_method double_space_before_version http09_request_line version_2_0
    version_0_9 connect connection_names_cl connection_names_te connection_names_host
    expect_unknown upgrade_with_body chunk_size_17_digits chunk_ext_too_long
    header_section_too_large too_many_fields target_too_long
    """
)
H11_LETS_THROUGH = _names(
    """
    cl_then_te te_then_cl cl_zero_with_te te_on_http10 cl_duplicate_equal cl_duplicate_case
    cl_list te_line_folded te_trailing_whitespace bare_lf_everywhere bare_lf_request_line
    bare_lf_field_line bare_lf_end_of_head obs_fold_space obs_fold_tab whitespace_only_line
    ctl_in_value del_in_value escape_in_value host_userinfo host_with_path host_with_space
    host_bad_port absolute_form_other_host absolute_form_userinfo absolute_form_ftp
    absolute_form_no_authority relative_target asterisk_not_options fragment_in_target
    version_1_2 version_2_0 version_0_9 version_3_0 h2_preface method_unknown
    method_lower_case connect connection_names_cl connection_names_te connection_names_host
    expect_unknown upgrade_with_body chunk_size_17_digits chunk_size_trailing_space
    chunk_ext_nul chunk_ext_no_name chunk_ext_unterminated_quote chunk_ext_too_long
    trailer_folded trailer_bare_lf trailer_end_bare_lf header_section_too_large too_many_fields
    target_too_long
    """
)
# Syntax cases (S1-S4 in validate.py) that the llhttp codec leaves to llhttp's strict mode.
SYNTAX_LEFT_TO_LLHTTP = _names(
    """
    bare_lf_everywhere bare_lf_request_line bare_lf_field_line bare_lf_end_of_head
    bare_cr_in_value bare_cr_line_end obs_fold_space obs_fold_tab
    whitespace_before_first_field whitespace_only_line nul_in_value nul_in_name
    nul_in_target ctl_in_value del_in_value escape_in_value ctl_in_target non_ascii_target
    space_before_colon empty_name missing_colon slash_in_name at_in_name brackets_in_name
    quote_in_name non_ascii_name te_vertical_tab te_form_feed te_nul te_space_before_colon
    te_tab_before_colon te_line_folded te_non_ascii_name cl_vertical_tab
    """
)
