"""Client frames: every bad frame gets its error code and the client's id back; old clients' aliases still work."""

from __future__ import annotations

import orjson
import pytest

from spendpilot.realtime.protocol import (
    FRAME_ACTIONS,
    MAX_SEQ,
    ClientFrame,
    FrameError,
    after_seq_of,
    message_content,
    parse_frame,
    run_id_of,
)

LIMIT = 64 * 1024


def parse(frame: dict | str, max_bytes: int = LIMIT) -> ClientFrame:
    return parse_frame(frame if isinstance(frame, str) else orjson.dumps(frame).decode(), max_bytes)


def refused(call, *args) -> FrameError:
    with pytest.raises(FrameError) as raised:
        call(*args)
    return raised.value


@pytest.mark.parametrize("text", ["not json", "{", "", '{"type": "ping",}', "[1, 2]", '"ping"', "42", "null"])
def test_text_that_is_not_a_json_object_is_invalid_json(text):
    error = refused(parse_frame, text, LIMIT)
    assert (error.code, error.client_id) == ("invalid_json", None)


@pytest.mark.parametrize("frame", [{"data": {}}, {"type": 5, "id": "c1"}, {"type": None, "id": "c1"}])
def test_a_frame_without_a_string_type_is_invalid_message(frame):
    error = refused(parse, frame)
    assert error.code == "invalid_message"
    assert error.client_id == frame.get("id")


@pytest.mark.parametrize("type", ["user_mesage", "subscribe", "USER_MESSAGE", "agent_started", ""])
def test_an_unknown_type_is_unknown_type_with_the_client_id(type):
    error = refused(parse, {"type": type, "id": "c-7", "data": {}})
    assert (error.code, error.client_id) == ("unknown_type", "c-7")
    assert repr(type) in error.message


def test_a_frame_over_the_limit_is_too_large_counted_in_utf8_bytes():
    ascii_frame = orjson.dumps({"type": "ping", "data": {"pad": "x" * 100}}).decode()
    assert parse_frame(ascii_frame, len(ascii_frame)).type == "ping"
    assert refused(parse_frame, ascii_frame, len(ascii_frame) - 1).code == "too_large"
    # Fewer characters than the limit, more bytes than it: still too large.
    wide = orjson.dumps({"type": "ping", "data": {"pad": "€" * 100}}).decode()
    assert len(wide) < 300 < len(wide.encode())
    error = refused(parse_frame, wide, 300)
    assert (error.code, error.client_id) == ("too_large", None)


def test_the_size_is_checked_before_the_json_is_read():
    assert refused(parse_frame, "x" * (LIMIT + 1), LIMIT).code == "too_large"


@pytest.mark.parametrize(("alias", "type"), [("chat", "user_message"), ("start_agent", "user_message"),
                                             ("execute_agent", "user_message"), ("stop_agent", "cancel"),
                                             ("user_message", "user_message"), ("cancel", "cancel"),
                                             ("resume", "resume"), ("ping", "ping"), ("auth", "auth")])
def test_old_type_names_map_to_the_current_ones(alias, type):
    assert parse({"type": alias, "data": {}}).type == type


def test_payload_is_accepted_in_place_of_data_and_data_wins_when_both_come():
    assert parse({"type": "chat", "payload": {"text": "hi"}}).data == {"text": "hi"}
    assert parse({"type": "chat", "data": {"content": "a"}, "payload": {"content": "b"}}).data == {"content": "a"}


@pytest.mark.parametrize("frame", [{"type": "ping"}, {"type": "ping", "data": None}])
def test_missing_or_null_data_is_an_empty_object(frame):
    assert parse(frame).data == {}


@pytest.mark.parametrize("data", [[1], "text", 3])
def test_data_that_is_not_an_object_is_invalid_message(data):
    error = refused(parse, {"type": "user_message", "id": "c1", "data": data})
    assert (error.code, error.client_id) == ("invalid_message", "c1")


@pytest.mark.parametrize(("raw", "echoed"), [("abc", "abc"), (17, "17"), ("x" * 500, "x" * 200), (None, None),
                                             ({"a": 1}, None), ([1], None), (1.5, None)])
def test_the_client_id_is_echoed_as_a_bounded_string(raw, echoed):
    frame = {"type": "ping", "data": {}} | ({} if raw is None else {"id": raw})
    assert parse(frame).client_id == echoed


@pytest.mark.parametrize("key", ["content", "text", "message", "user_request"])
def test_message_content_is_read_from_any_of_its_names(key):
    frame = parse({"type": "start_agent", "payload": {key: "Analyze my AI costs", "thread_id": "thr_1"}})
    assert message_content(frame) == ("Analyze my AI costs", "thr_1")


def test_content_wins_over_the_older_names_and_no_thread_starts_a_new_one():
    frame = parse({"type": "user_message", "data": {"text": "old", "content": "new"}})
    assert message_content(frame) == ("new", None)


@pytest.mark.parametrize("data", [{}, {"content": ""}, {"content": "  \n"}, {"content": 5}, {"content": None},
                                  {"text": ["a"]}, {"content": "ok", "thread_id": 7}])
def test_a_message_without_usable_content_or_thread_is_invalid_message(data):
    error = refused(message_content, parse({"type": "user_message", "id": "m1", "data": data}))
    assert (error.code, error.client_id) == ("invalid_message", "m1")


def test_run_id_is_required_for_cancel_and_resume():
    assert run_id_of(parse({"type": "stop_agent", "data": {"run_id": "run_1"}})) == "run_1"
    for data in ({}, {"run_id": ""}, {"run_id": 12}, {"run_id": None}):
        error = refused(run_id_of, parse({"type": "cancel", "id": "x", "data": data}))
        assert (error.code, error.client_id) == ("invalid_message", "x")


@pytest.mark.parametrize(("data", "after"), [({}, 0), ({"after_seq": 0}, 0), ({"after_seq": 7}, 7),
                                             ({"after_seq": MAX_SEQ}, MAX_SEQ)])
def test_after_seq_defaults_to_zero(data, after):
    assert after_seq_of(parse({"type": "resume", "data": {"run_id": "r", **data}})) == after


@pytest.mark.parametrize("after", [-1, MAX_SEQ + 1, 2**63, 1.0, "3", True, False, None, [1]])
def test_an_after_seq_out_of_range_or_not_an_integer_is_invalid_message(after):
    error = refused(after_seq_of, parse({"type": "resume", "id": "r1", "data": {"run_id": "r", "after_seq": after}}))
    assert (error.code, error.client_id) == ("invalid_message", "r1")


def test_every_aliased_type_is_a_known_type_with_an_action():
    for alias in ("chat", "start_agent", "execute_agent", "stop_agent"):
        assert parse({"type": alias}).type in FRAME_ACTIONS
