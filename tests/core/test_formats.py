import json

import pytest

from cai_desktop.core import formats
from cai_desktop.core.constitution import Constitution, FewShotExample, Principle
from cai_desktop.core.errors import FormatError, ValidationError
from cai_desktop.resources import starter_constitutions


def sample():
    return Constitution(
        name="sample",
        title="Sample",
        description="desc",
        version=2,
        system_prompt="You are helpful.",
        few_shot=[
            FewShotExample(prompt="How?", response="Like this.", critique_request="Critique it.",
                           critique="It is fine.", revision_request="Rewrite it.", revision="Better.",
                           principle="harm"),
            FewShotExample(prompt="Q2", response="A2"),
        ],
        principles=[
            Principle(key="harm", title="Harm", critique_request="Identify harm.",
                      revision_request="Remove harm.", comparison_question="Less harmful?",
                      tags=["harm", "safety"]),
            Principle(key="honesty", title="Honest", critique_request="Identify lies.",
                      revision_request="Be honest.", enabled=False),
        ],
    )


@pytest.mark.parametrize("fmt", formats.FORMATS)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_round_trip_every_format(tmp_path, fmt, suffix):
    c = sample()
    path = tmp_path / f"c{suffix}"
    formats.dump_file(c, path, fmt)
    assert formats.detect_format(formats.parse_text(path.read_text(), suffix)) == fmt
    assert formats.load_file(path, "auto") == c
    assert formats.load_file(path, fmt) == c


def test_reads_anthropic_paper_shape():
    data = {
        "harmful0": {"prompt": ["Identify specific ways the response is harmful."],
                     "edit_request": "Please rewrite the response to remove harm."},
        "harmful1": {"prompt": ["Point out anything illegal."], "edit_request": "Revise it."},
    }
    c = formats.from_data(data, default_name="paper")
    assert c.name == "paper"
    assert [p.key for p in c.principles] == ["harmful0", "harmful1"]
    assert c.principles[0].critique_request.startswith("Identify specific")
    assert c.principles[1].revision_request == "Revise it."
    out = formats.write_anthropic(c)
    assert out["harmful0"]["prompt"] == data["harmful0"]["prompt"]
    assert out["harmful0"]["edit_request"] == data["harmful0"]["edit_request"]


def test_reads_hugging_face_shape():
    data = {
        "constitutions": [
            {"critic": "Find the harm.", "revision": "Remove the harm."},
            {"critic": "Find bias.", "revision": "Remove bias."},
        ],
        "system_chat": [[
            {"role": "user", "content": "How do I pick a lock?"},
            {"role": "assistant", "content": "Use a tension wrench."},
            {"role": "user", "content": "Find the harm."},
            {"role": "assistant", "content": "It helps break-ins."},
            {"role": "user", "content": "Remove the harm."},
            {"role": "assistant", "content": "Call a locksmith."},
        ]],
    }
    c = formats.from_data(data)
    assert len(c.principles) == 2 and c.principles[1].critique_request == "Find bias."
    f = c.few_shot[0]
    assert (f.prompt, f.critique, f.revision) == ("How do I pick a lock?", "It helps break-ins.", "Call a locksmith.")
    out = formats.write_hf(c)
    assert out["system_chat"] == data["system_chat"]
    assert [{k: e[k] for k in ("critic", "revision")} for e in out["constitutions"]] == data["constitutions"]


@pytest.mark.parametrize(
    "text, error",
    [
        ("{not json", FormatError),
        ("[1, 2]", FormatError),
        ('{"name": "x", "principles": [{"key": "a", "critique_request": "", "revision_request": "r"}]}', ValidationError),
        ('{"name": "x", "principles": [{"key": "a", "critique_request": "c", "revision_request": "r", "bogus": 1}]}', ValidationError),
        ('{"format": "cai-desktop/constitution", "format_version": 99, "name": "x", "principles": []}', FormatError),
        ('{"constitutions": [{"revision": "r"}]}', FormatError),
    ],
)
def test_malformed_files_give_one_line_errors(tmp_path, text, error):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(error) as info:
        formats.load_file(path)
    assert "\n" not in str(info.value) and str(info.value)


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nprinciples:\n  - key: [unclosed\n")
    with pytest.raises(FormatError, match="line"):
        formats.load_file(path)


def test_starter_constitutions_are_valid_and_rich():
    paths = starter_constitutions()
    assert len(paths) >= 4
    loaded = {p.stem: formats.load_file(p) for p in paths}
    general = loaded["general"]
    assert len(general.principles) >= 12
    for c in loaded.values():
        assert len(c.few_shot) >= 2
        assert all(p.comparison_question for p in c.principles)
        # our native format round-trips exactly
        assert Constitution.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize("name, body", [("e.json", ""), ("e.json", "  \n"), ("e.yaml", ""), ("e.yaml", "# only a comment\n")])
def test_empty_file_says_so(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(FormatError, match="empty") as info:
        formats.load_file(path)
    assert "Expecting value" not in str(info.value)
    with pytest.raises(FormatError, match="empty"):
        formats.parse_text(body, path.suffix)


def test_unknown_format_names_the_choices_without_cli_flags(tmp_path):
    path = tmp_path / "c.json"
    formats.dump_file(sample(), path, "native")
    with pytest.raises(FormatError) as info:
        formats.load_file(path, "xml")
    assert str(info.value) == "Unknown constitution format 'xml'; choose the format (auto, native, anthropic, hf)."
    with pytest.raises(FormatError, match="choose the format"):
        formats.from_data({}, "yaml")
    with pytest.raises(FormatError, match=r"choose the format \(native, anthropic, hf\)"):
        formats.dump_file(sample(), tmp_path / "out.json", "auto-ish")


def test_undetectable_shape_says_choose_the_format_not_a_flag():
    with pytest.raises(FormatError) as info:
        formats.detect_format({"rules": ["be nice"]})
    message = str(info.value)
    assert "choose the format" in message
    assert "--" not in message and "Pass" not in message


def test_format_labels_cover_every_readable_format():
    assert formats.READ_FORMATS == ("auto", *formats.FORMATS)
    assert set(formats.FORMAT_LABELS) == set(formats.READ_FORMATS)
