"""Hand-made bad files, one per finding of the reliability probe (issue 16) that concerns importers.

Each gives one line of ours (a ``CaiError``) that names the field and the principle, line or item;
none gives a traceback, and none is accepted with a meaning it does not have.
"""

from __future__ import annotations

import json

import pytest

from cai_desktop.core import formats
from cai_desktop.core.errors import CaiError, FormatError, ValidationError
from cai_desktop.core.prompt_files import MAX_FIELD, read_prompts
from cai_desktop.jobs.demos import read_demonstrations


def principle(**kw):
    return {"key": "harm", "critique_request": "Identify harm.", "revision_request": "Remove harm.", **kw}


def native(*principles, **kw):
    return {"name": "x", "principles": list(principles) or [principle()], **kw}


def load(tmp_path, data, suffix=".json", fmt="auto", raw=None):
    path = tmp_path / f"c{suffix}"
    if raw is not None:
        path.write_text(raw, encoding="utf-8")
    else:
        path.write_text(json.dumps(data) if suffix == ".json" else formats.dump_text(data, suffix), encoding="utf-8")
    return formats.load_file(path, fmt)


def one_line(info) -> str:
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    assert isinstance(info.value, CaiError)
    return message


# -- accepted with the wrong meaning ---------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("word, enabled", [("false", False), ("no", False), ("FALSE", False), (" No ", False),
                                           ("true", True), ("yes", True), (False, False), (True, True)])
def test_enabled_words_mean_what_they_say(tmp_path, suffix, word, enabled):
    c = load(tmp_path, native(principle(enabled=word), principle(key="other")), suffix)
    assert c.principles[0].enabled is enabled


@pytest.mark.parametrize("value, shown", [("maybe", "'maybe'"), (0, "the number 0"), (1, "the number 1"),
                                          (None, "empty (null)"), ("", "''"), ([True], "a list")])
def test_enabled_that_is_no_boolean_is_refused_naming_the_principle(tmp_path, value, shown):
    with pytest.raises(ValidationError) as info:
        load(tmp_path, native(principle(key="a"), principle(key="b"), principle(key="c", enabled=value)))
    assert one_line(info) == f"Principle 3: 'enabled' must be true or false, not {shown}."


@pytest.mark.parametrize("fmt", ["anthropic", "hf"])
def test_enabled_words_in_the_foreign_shapes_too(fmt):
    entry = {"prompt": ["Identify harm."], "edit_request": "Remove it."} if fmt == "anthropic" else {
        "critic": "Identify harm.", "revision": "Remove it."}
    data = {"harm": {**entry, "enabled": "no"}, "other": entry} if fmt == "anthropic" else {
        "constitutions": [{**entry, "enabled": "no"}, entry]}
    assert formats.from_data(data, fmt).principles[0].enabled is False
    bad = json.loads(json.dumps(data).replace('"no"', '"maybe"'))
    with pytest.raises(ValidationError, match="'enabled' must be true or false, not 'maybe'"):
        formats.from_data(bad, fmt)


@pytest.mark.parametrize("fmt", ["native", "anthropic", "hf"])
def test_tags_as_one_text_are_not_split_into_letters(fmt):
    c = formats.from_data(native(principle(tags=["a"])))
    data = {"native": formats.write_native, "anthropic": formats.write_anthropic, "hf": formats.write_hf}[fmt](c)
    text = json.dumps(data).replace('"tags": ["a"]', '"tags": "abc"')
    with pytest.raises(ValidationError) as info:
        formats.from_data(json.loads(text), fmt)
    assert one_line(info).endswith("'tags' must be a list of words, not 'abc'.")
    with pytest.raises(ValidationError, match="'tags' item 2 must be text, not the number 3"):
        formats.from_data(json.loads(text.replace('"tags": "abc"', '"tags": ["a", 3]')), fmt)


@pytest.mark.parametrize("prompt", [{"a": 1}, 5, True, [{"a": 1}], [["nested"]]])
def test_anthropic_prompt_that_is_no_text_is_refused(prompt):
    data = {"harm": {"prompt": prompt, "edit_request": "Remove harm."}}
    with pytest.raises(ValidationError) as info:
        formats.from_data(data, "anthropic")
    message = one_line(info)
    assert message.startswith("Principle 'harm': ") and "'prompt'" in message


def test_anthropic_prompt_as_plain_text_or_one_item_list_still_reads():
    for prompt in ("Identify harm.", ["Identify harm."]):
        c = formats.from_data({"harm": {"prompt": prompt, "edit_request": "Remove harm."}}, "anthropic")
        assert c.principles[0].critique_request == "Identify harm."


# -- `.strip` on non-strings, int()/list() on wrong types, a KeyError, OverflowError -------------
@pytest.mark.parametrize(
    "data, message",
    [
        (native(name=3), "Constitution: 'name' must be text, not the number 3."),
        (native(title=["t"]), "Constitution: 'title' must be text, not a list."),
        (native(principle(key=7)), "Principle 1: 'key' must be text, not the number 7."),
        (native(principle(critique_request={"x": 1})), "Principle 1: 'critique_request' must be text, not an object."),
        (native(principle(revision_request=False)), "Principle 1: 'revision_request' must be text, not false."),
        (native(version="2"), "Constitution: 'version' must be a whole number, not '2'."),
        (native(version=2.5), "Constitution: 'version' must be a whole number, not the number 2.5."),
        (native(version=[1]), "Constitution: 'version' must be a whole number, not a list."),
        (native(version=10**30), "Constitution: 'version' is too large (at most 1000000000)."),
        (native(format_version="1"), "Constitution: 'format_version' must be a whole number, not '1'."),
        (native(principles={"harm": principle()}), "Constitution: 'principles' must be a list, not an object."),
        (native(few_shot="example"), "Constitution: 'few_shot' must be a list, not 'example'."),
        (native(few_shot=["example"]), "Few-shot example 1 must be an object, not 'example'."),
        (native(few_shot=[{"prompt": "p", "response": 2}]), "Few-shot example 1: 'response' must be text, not the number 2."),
        ({"name": "x", "principles": ["harm"]}, "Principle 1 must be an object, not 'harm'."),
    ],
)
def test_native_wrong_types(data, message):
    with pytest.raises(ValidationError) as info:
        formats.from_data(data)
    assert one_line(info) == message


def test_missing_fields_are_validation_messages_not_key_errors():
    with pytest.raises(ValidationError, match="Principle 1 needs a key"):
        formats.from_data({"name": "x", "principles": [{"critique_request": "c", "revision_request": "r"}]})
    with pytest.raises(ValidationError, match="Few-shot example 1 needs a prompt and a response"):
        formats.from_data(native(few_shot=[{"critique": "c"}]))
    with pytest.raises(ValidationError, match="revision request is empty"):
        formats.from_data({"harm": {"prompt": ["c"]}}, "anthropic")
    with pytest.raises(ValidationError, match="Few-shot example 1 needs a prompt"):
        formats.from_data({"harm": {"prompt": ["c"], "edit_request": "r"},
                           "_cai_desktop": {"few_shot": [{"response": "r"}]}}, "anthropic")
    with pytest.raises(FormatError, match="choose the format"):
        formats.from_data(native(), "json")  # an unknown format code, not a KeyError


@pytest.mark.parametrize(
    "data, message",
    [
        ({"harm": {"prompt": ["c"], "edit_request": ["r"]}}, "Principle 'harm': 'edit_request' must be text, not a list."),
        ({"harm": {"prompt": ["c"], "edit_request": "r", "title": 1}}, "Principle 'harm': 'title' must be text, not the number 1."),
        ({"harm": {"prompt": ["c"], "edit_request": "r"}, "_cai_desktop": "meta"}, "'_cai_desktop' must be an object, not 'meta'."),
        ({"harm": {"prompt": ["c"], "edit_request": "r"}, "_cai_desktop": {"version": "v2"}},
         "'_cai_desktop': 'version' must be a whole number, not 'v2'."),
        ({"harm": {"prompt": ["c"], "edit_request": "r"}, "_cai_desktop": {"few_shot": {"prompt": "p"}}},
         "'_cai_desktop': 'few_shot' must be a list, not an object."),
        ({"harm": {"prompt": ["c"], "edit_request": "r"}, "_cai_desktop": {"name": ["n"]}},
         "'_cai_desktop': 'name' must be text, not a list."),
    ],
)
def test_anthropic_wrong_types(data, message):
    with pytest.raises(CaiError) as info:
        formats.from_data(data, "anthropic")
    assert one_line(info) == message


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"constitutions": [{"critic": 1, "revision": "r"}]}, "Entry 1 of 'constitutions': 'critic' must be text, not the number 1."),
        ({"constitutions": [{"critic": "c", "revision": "r", "key": ["k"]}]}, "Entry 1 of 'constitutions': 'key' must be text, not a list."),
        ({"system_chat": "chat"}, "Constitution: 'system_chat' must be a list, not 'chat'."),
        ({"system_chat": [[{"role": "user", "content": "q"}, {"role": "assistant", "content": {"t": 1}}]]},
         "'system_chat' entry 1, message 2: 'content' must be text, not an object."),
        ({"system_chat_principles": "harm"}, "Constitution: 'system_chat_principles' must be a list, not 'harm'."),
        ({"version": "1"}, "Constitution: 'version' must be a whole number, not '1'."),
        ({"system_prompt": 5}, "Constitution: 'system_prompt' must be text, not the number 5."),
    ],
)
def test_hugging_face_wrong_types(extra, message):
    data = {"constitutions": [{"critic": "c", "revision": "r"}], **extra}
    with pytest.raises(CaiError) as info:
        formats.from_data(data, "hf")
    assert one_line(info) == message


@pytest.mark.parametrize("raw", ['{"name": "x", "version": Infinity, "principles": []}',
                                 '{"name": "x", "version": 1e400, "principles": []}',
                                 '{"name": "x", "version": NaN, "principles": []}'])
def test_infinite_version_is_refused_not_an_overflow(tmp_path, raw):
    with pytest.raises(ValidationError, match="'version' must be a whole number, not the number"):
        load(tmp_path, None, raw=raw)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_number_of_5000_digits_is_one_line(tmp_path, suffix):
    raw = '{"name": "x", "version": 1' + "0" * 5000 + ', "principles": []}'
    with pytest.raises(FormatError, match="number") as info:
        load(tmp_path, None, suffix, raw=raw)
    assert "set_int_max_str_digits" not in one_line(info)


# -- nesting, size, encodings, YAML's own types ---------------------------------------------------
@pytest.mark.parametrize("suffix, raw", [(".json", "[" * 100_000 + "]" * 100_000),
                                         (".json", '{"a": ' * 60 + "1" + "}" * 60),
                                         (".yaml", "[" * 5000 + "]" * 5000),
                                         (".yaml", "".join("  " * i + "- \n" for i in range(200)))])
def test_deep_nesting_is_refused_with_the_limit(tmp_path, suffix, raw):
    with pytest.raises(FormatError) as info:
        load(tmp_path, None, suffix, raw=raw)
    assert f"nested deeper than {formats.MAX_DEPTH} levels" in one_line(info)


def test_nesting_within_the_limit_reads_as_ever(tmp_path):
    deep = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValidationError, match="'title' must be text, not a list"):  # reached the type check
        formats.from_data(native(principle(title=deep)))


def test_yaml_alias_inside_itself_and_billion_laughs(tmp_path):
    with pytest.raises(FormatError, match="contains itself"):
        load(tmp_path, None, ".yaml", raw="name: x\nprinciples: &p [{key: a, tags: *p}]\n")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))
    with pytest.raises(FormatError, match="Cannot tell which constitution format"):  # quickly, not 10^10 items
        load(tmp_path, None, ".yaml", raw=laughs)


@pytest.mark.parametrize("raw, fragment", [
    ("name: x\nprinciples:\n  - {key: a, critique_request: c, revision_request: r, title: 2024-01-01}\n",
     "'title' must be text, not a date (put it in quotes"),
    ("name: x\nprinciples:\n  - {key: a, critique_request: c, revision_request: r, title: 2024-13-45}\n",
     "Not valid YAML: a value cannot be read (month must be in 1..12)"),
    ("name: x\nprinciples:\n  - {key: a, critique_request: !!binary aGk=, revision_request: r}\n",
     "'critique_request' must be text, not binary data"),
    ("name: x\nprinciples:\n  - {key: a, critique_request: c, revision_request: r, tags: !!set {a, b}}\n",
     "'tags' must be a list of words, not a set"),
    ("name: x\n1: one\nprinciples: []\n", "unknown field(s) 1"),
    ("? [a, b]\n: c\n", "Not valid YAML at line 1: found unhashable key"),
    ("!!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    ("name: x\x00\n", "Not valid YAML: unacceptable character"),
])
def test_yaml_own_types_and_errors(tmp_path, raw, fragment):
    with pytest.raises(CaiError) as info:
        load(tmp_path, None, ".yaml", raw=raw)
    assert fragment in one_line(info)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:
        fh.truncate(formats.MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(FormatError, match="larger than 20 MiB"):
        formats.load_file(path)


def test_a_lone_surrogate_is_refused_and_a_byte_order_mark_is_fine(tmp_path):
    with pytest.raises(ValidationError, match="'title' holds characters that are not valid Unicode"):
        load(tmp_path, None, raw='{"name": "x", "principles": [{"key": "a", "title": "\\ud800"}]}')
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(native()).encode())
    assert formats.load_file(path).principles[0].key == "harm"


def test_unknown_format_tag_is_refused():
    with pytest.raises(FormatError, match="not a CAI Desktop constitution"):
        formats.from_data(native(format="someone-else/v3"), "native")


# -- prompt files ----------------------------------------------------------------------------------
def test_csv_field_over_the_limit_names_the_line(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("prompt,category\nfine,a\n\"" + "x" * (MAX_FIELD + 10) + "\",b\n", encoding="utf-8")
    with pytest.raises(FormatError) as info:
        read_prompts(f)
    assert one_line(info) == "p.csv, line 3: a field is longer than 128 KiB (a quote left open, or not a CSV file?)."
    g = tmp_path / "q.csv"
    g.write_text("prompt\n\"an open quote\n" + "y\n" * 70_000, encoding="utf-8")
    with pytest.raises(FormatError, match="longer than 128 KiB"):
        read_prompts(g)


@pytest.mark.parametrize("name, raw", [("deep.jsonl", '{"prompt": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
                                       ("deep.json", "[" * 100_000 + "]" * 100_000),
                                       ("deep2.jsonl", '{"prompt": "a"}\n{"prompt": ' + "[" * 60 + "]" * 60 + "}\n")])
def test_deeply_nested_prompt_json(tmp_path, name, raw):
    f = tmp_path / name
    f.write_text(raw, encoding="utf-8")
    with pytest.raises(FormatError, match=f"nested deeper than {formats.MAX_DEPTH} levels") as info:
        read_prompts(f)
    assert one_line(info).startswith(name)


@pytest.mark.parametrize("record, message", [
    ({"prompt": {"a": 1}}, "p.jsonl, line 2: 'prompt' must be text, not an object."),
    ({"prompt": 42}, "p.jsonl, line 2: 'prompt' must be text, not the number 42."),
    ({"prompt": ["a", "b"]}, "p.jsonl, line 2: 'prompt' must be text or a list of messages, not a list of 'a'."),
    ({"prompt": [{"role": "user", "content": {"t": 1}}]}, "p.jsonl, line 2: the user turn's 'content' must be text, not an object."),
    ({"prompt": "ok", "category": {"c": 1}}, "p.jsonl, line 2: 'category' must be text or a whole number, not an object."),
    ({"prompt": 1}, "p.jsonl, line 2: 'prompt' must be text, not the number 1."),
])
def test_prompt_values_of_the_wrong_type_name_the_line(tmp_path, record, message):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"prompt": "first"}) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(FormatError) as info:
        read_prompts(f)
    assert one_line(info) == message


def test_prompt_json_array_names_the_item_and_labels_may_be_numbers(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"text": "a", "label": 3}, {"text": ["x"]}]), encoding="utf-8")
    with pytest.raises(FormatError, match=r"^p.json, item 2: 'text' must be text or a list of messages"):
        read_prompts(f)
    f.write_text(json.dumps([{"text": "a", "label": 3}]), encoding="utf-8")
    assert read_prompts(f) == [{"text": "a", "category": "3"}]


def test_prompt_file_odd_but_valid_inputs(tmp_path):
    f = tmp_path / "p.jsonl"  # U+2028 is legal inside a JSON string: one record, not two broken lines
    f.write_text(json.dumps({"prompt": "a\u2028b"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_prompts(f) == [{"text": "a\u2028b", "category": ""}]
    g = tmp_path / "p.csv"
    g.write_bytes(b"\xef\xbb\xbfprompt,category\nhello,x\n")  # Excel's UTF-8 with a byte-order mark
    assert read_prompts(g) == [{"text": "hello", "category": "x"}]
    h = tmp_path / "n.jsonl"
    h.write_text('{"prompt": 1' + "0" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(FormatError, match="n.jsonl, line 1: the JSON holds a number longer than"):
        read_prompts(h)
    with pytest.raises(FormatError, match="is a folder"):
        read_prompts(tmp_path, "jsonl")
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as fh:
        fh.truncate(300 * 2**20)
    with pytest.raises(FormatError, match="larger than 200 MiB"):
        read_prompts(big)


def test_odd_column_names_are_quoted_on_one_line(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text('"a\nb",c\n1,2\n', encoding="utf-8")
    with pytest.raises(FormatError) as info:
        read_prompts(f)
    assert "(columns: 'a\\nb', c)" in one_line(info)


# -- demonstrations --------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, fragment", [
    ('{"prompt": "p", "response": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "line 1: the JSON is nested deeper than 50 levels"),
    ('{"prompt": "p", "response": 1' + "0" * 5000 + "}\n", "line 1: the JSON holds a number longer than"),
    ('{"prompt": "p", "response": {"text": "r"}}\n', "line 1: needs a text \"prompt\""),
    ('{"prompt": "p", "response": "\\udc00"}\n', "line 1: the text holds characters that are not valid Unicode"),
])
def test_bad_demonstration_files(tmp_path, raw, fragment):
    f = tmp_path / "d.jsonl"
    f.write_text(raw, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_demonstrations(f)
    assert fragment in one_line(info)


def test_demonstration_with_a_line_separator_inside_a_string(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"prompt": "p\u2028q", "response": "r"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_demonstrations(f) == [{"prompt": "p\u2028q", "response": "r"}]


# -- found by the fuzz suite -----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_hugging_face_export_keeps_a_revision_without_a_critique(tmp_path, suffix):
    data = native(few_shot=[{"prompt": "How?", "response": "So.", "critique_request": "Find harm.",
                             "revision_request": "Rewrite.", "revision": "So, kindly."}])
    c = formats.from_data(data)
    path = tmp_path / f"c{suffix}"
    formats.dump_file(c, path, "hf")
    assert formats.load_file(path, "hf") == c
