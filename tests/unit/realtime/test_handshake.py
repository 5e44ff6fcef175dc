"""The socket handshake: where the token comes from, and which offered subprotocol is selected."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendpilot.realtime.handshake import PROTOCOL, jwt_subprotocol, read_handshake

TOKEN = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJl"


def entry(token: str = TOKEN) -> str:
    return jwt_subprotocol(token)


def test_the_jwt_entry_is_base64url_without_padding_and_reads_back():
    for token in (TOKEN, "a", "ab", "abc"):  # every padding length
        offered = jwt_subprotocol(token)
        assert offered.startswith("jwt.") and "=" not in offered
        assert offered == "jwt." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        assert read_handshake({}, [offered]).token == token


def test_spendpilot_v1_is_selected_when_offered_and_the_token_read_from_the_jwt_entry():
    for offered in ([PROTOCOL, entry()], [entry(), PROTOCOL]):
        shake = read_handshake({}, offered)
        assert (shake.token, shake.subprotocol, shake.problem) == (TOKEN, PROTOCOL, None)


@pytest.mark.parametrize(("offered", "token"), [(entry(), TOKEN), ("jwt.YWI=", "ab")])
def test_without_spendpilot_v1_the_jwt_entry_itself_is_selected_byte_for_byte(offered, token):
    # The second entry keeps its base64 padding: it is still answered exactly as offered.
    shake = read_handshake({}, ["chat", offered])
    assert (shake.subprotocol, shake.token, shake.problem) == (offered, token, None)


def test_of_several_jwt_entries_the_first_is_used():
    first, second = entry("first-token"), entry("second-token")
    shake = read_handshake({}, [first, second])
    assert (shake.token, shake.subprotocol) == ("first-token", first)


@pytest.mark.parametrize("offered", [[], ["chat"], ["spendpilot.v2", "SPENDPILOT.V1"]])
def test_with_a_header_token_and_nothing_selectable_no_subprotocol_is_answered(offered):
    shake = read_handshake({"authorization": f"Bearer {TOKEN}"}, offered)
    assert (shake.token, shake.subprotocol, shake.problem) == (TOKEN, None, None)


def test_with_a_header_token_spendpilot_v1_is_still_selected():
    shake = read_handshake({"authorization": f"Bearer {TOKEN}"}, [PROTOCOL])
    assert (shake.token, shake.subprotocol) == (TOKEN, PROTOCOL)


def test_the_header_token_wins_over_the_subprotocol_token():
    shake = read_handshake({"authorization": "Bearer header-token"}, [entry("subprotocol-token")])
    assert shake.token == "header-token" and shake.problem is None


@pytest.mark.parametrize("header", ["bearer tok", "BEARER tok", "Bearer   tok  "])
def test_the_bearer_scheme_is_case_insensitive_and_the_value_trimmed(header):
    assert read_handshake({"authorization": header}, []).token == "tok"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "tok", "Token tok"])
def test_a_malformed_authorization_header_is_a_problem_even_with_a_good_jwt_entry(header):
    shake = read_handshake({"authorization": header}, [PROTOCOL, entry()])
    assert shake.token is None and shake.problem == "malformed Authorization header"
    assert shake.subprotocol == PROTOCOL


@pytest.mark.parametrize("offered", [[], [PROTOCOL], ["chat", "jwt"], ["JWT." + entry()[4:]]])
def test_no_token_anywhere_is_a_problem(offered):
    shake = read_handshake({}, offered)
    assert shake.token is None and shake.problem == "missing token"


@pytest.mark.parametrize("bad", [
    "jwt.a",          # one character cannot be base64
    "jwt.abcde",      # nor five
    "jwt.éé",         # not ASCII
    "jwt._w",         # decodes to a byte that is not ASCII
    "jwt.__8",
])
def test_a_malformed_jwt_entry_is_a_problem_but_the_selection_rule_still_holds(bad):
    shake = read_handshake({}, [bad])
    assert shake.token is None and shake.problem == "malformed jwt subprotocol entry"
    assert shake.subprotocol == bad
    assert read_handshake({}, [PROTOCOL, bad]).subprotocol == PROTOCOL


offers = st.lists(st.one_of(st.just(PROTOCOL), st.just("jwt."), st.text(max_size=12),
                            st.text(max_size=12).map(lambda t: "jwt." + t)), max_size=5)


@given(offered=offers, header=st.sampled_from([None, "Bearer x", "Basic y", ""]))
def test_the_selected_subprotocol_is_always_one_the_client_offered(offered, header):
    shake = read_handshake({"authorization": header} if header is not None else {}, offered)
    if PROTOCOL in offered:
        assert shake.subprotocol == PROTOCOL
    elif any(o.startswith("jwt.") for o in offered):
        assert shake.subprotocol == next(o for o in offered if o.startswith("jwt."))
    else:
        assert shake.subprotocol is None
    # Either a token to verify or a problem to refuse with, never both, never neither.
    assert (shake.token is None) != (shake.problem is None)
