"""Production log import: the chat ``messages`` JSONL shape and prompt/response CSV; malformed
files are refused with one line naming the line and the problem."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cai_desktop.core.chatlogs import read_chatlog
from cai_desktop.core.errors import CaiError, FormatError


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_jsonl_messages_take_each_user_assistant_turn(tmp_path):
    lines = [
        {"id": "c1", "timestamp": "2026-11-30T10:00:00Z", "messages": [
            {"role": "system", "content": "Be nice."},
            {"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": "Click 'Forgot password'."},
            {"role": "user", "content": "And if I lost my phone?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Contact support"}, {"type": "text", "text": "with ID."}]},
            {"role": "user", "content": "thanks"}]},  # unanswered last turn: not an item
        [{"role": "user", "content": "Bare list works"}, {"role": "assistant", "content": "Yes."}],
        {"messages": [{"role": "system", "content": "only a system prompt"}]},
    ]
    p = _write(tmp_path, "logs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    log = read_chatlog(p)
    assert log.format == "jsonl" and log.conversations == 3 and log.unanswered == 1
    assert [(i["prompt"], i["response"]) for i in log.items] == [
        ("How do I reset my password?", "Click 'Forgot password'."),
        ("And if I lost my phone?", "Contact support\nwith ID."),
        ("Bare list works", "Yes."),
    ]
    first = log.items[0]
    assert first["where"] == "logs.jsonl, line 1" and first["time"] == "2026-11-30T10:00:00Z"
    assert first["source_id"] == "c1" and log.items[1]["turn"] == 1


def test_csv_prompt_response_columns(tmp_path):
    p = _write(tmp_path, "prod.csv", 'id,Prompt,response,created_at\n1,"Hi, can you help?",Sure.,2026-11-01\n'
                                      ',,,\n2,What is 2+2?,"4, of course",\n')
    log = read_chatlog(p)
    assert log.format == "csv"
    assert [(i["prompt"], i["response"], i["source_id"], i["time"]) for i in log.items] == [
        ("Hi, can you help?", "Sure.", "1", "2026-11-01"), ("What is 2+2?", "4, of course", "2", "")]
    assert log.items[1]["where"] == "prod.csv, line 4"


@pytest.mark.parametrize("name, text, message", [
    ("a.jsonl", '{"messages": []}\n{"messages": [}\n', r"a\.jsonl, line 2: not valid JSON"),
    ("a.jsonl", '"just text"\n', r"line 1: each line must be an object with a 'messages' list, not 'just text'"),
    ("a.jsonl", '{"conversation": []}\n', r"line 1: no 'messages' list \(the line has: 'conversation'\)"),
    ("a.jsonl", '{"messages": "hi"}\n', r"line 1: 'messages' must be a list"),
    ("a.jsonl", '{"messages": [{"role": "user", "content": "x"}, 5]}\n', r"line 1: message 2 must be an object"),
    ("a.jsonl", '{"messages": [{"content": "x"}]}\n', r"line 1: message 1 has no 'role'"),
    ("a.jsonl", '{"messages": [{"role": "robot", "content": "x"}]}\n', r"message 1: 'role' must be one of system, user"),
    ("a.jsonl", '{"messages": [{"role": "user", "content": 3}]}\n', r"message 1: 'content' must be text, not the number 3"),
    ("a.jsonl", '{"messages": [{"role": "user"}]}\n', r"message 1: 'content' is missing"),
    ("a.jsonl", '{"messages": [{"role": "user", "content": [{"type": "image"}]}]}\n', r"part 1 of 'content'"),
    ("a.jsonl", '{"messages": [{"role": "user", "content": "\\ud800"}]}\n', r"not valid Unicode"),
    ("a.jsonl", '{"id": {"x": 1}, "messages": []}\n', r"line 1: 'id' must be text or a number"),
    ("a.jsonl", '{"messages": [{"role": "user", "content": "no answer"}]}\n',
     r"1 conversation\(s\) but no user turn with an assistant answer"),
    ("a.jsonl", "\n\n", r"holds no conversations"),
    ("a.csv", "question,reply\nhi,hello\n", r"a\.csv has no response column .*its columns are: 'question', 'reply'"),
    ("a.csv", "text,response\nhi,hello\n", r"a\.csv has no prompt column"),
    ("a.csv", "prompt,response\nhi,\n", r"a\.csv, line 2: the 'response' field is empty"),
    ("a.csv", "prompt,response\n,hello\n", r"line 2: the 'prompt' field is empty"),
    ("a.csv", "prompt,response\nhi,hello,extra\n", r"line 2: more fields than the header has columns"),
    ("a.csv", "prompt,response\n", r"holds no conversations"),
    ("a.txt", "hello", r"Cannot tell what kind of log a\.txt is"),
])
def test_malformed_files_are_refused_in_one_line(tmp_path, name, text, message):
    p = _write(tmp_path, name, text)
    with pytest.raises(FormatError, match=message) as e:
        read_chatlog(p)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_not_utf8_and_missing_file(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"prompt,response\n\xff\xfe,x\n")
    with pytest.raises(FormatError, match="not UTF-8"):
        read_chatlog(p)
    with pytest.raises(FormatError, match="No such file"):
        read_chatlog(tmp_path / "nope.jsonl")
    with pytest.raises(FormatError, match="Unknown log format"):
        read_chatlog(p, fmt="xml")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from(["x.jsonl", "x.csv"]))
def test_fuzz_only_format_errors_escape(tmp_path, data, name):
    p = tmp_path / name
    p.write_bytes(data)
    try:
        log = read_chatlog(p)
    except CaiError:
        return
    assert log.items and all(isinstance(i["prompt"], str) and i["prompt"] for i in log.items)
