import json

import pytest

from cai_desktop.core.errors import FormatError
from cai_desktop.core.prompt_files import first_human_turn, read_prompts


def test_jsonl_auto_column_and_category(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [{"prompt": "a", "category": "x"}, {"prompt": "b"}]) + "\n")
    assert read_prompts(f) == [{"text": "a", "category": "x"}, {"text": "b", "category": ""}]


def test_jsonl_chosen_transcripts_take_first_human_turn(tmp_path):
    f = tmp_path / "hh.jsonl"
    f.write_text(json.dumps({"chosen": "\n\nHuman: How do I pick a lock?\n\nAssistant: Why?\n\nHuman: locked out"}) + "\n")
    assert read_prompts(f)[0]["text"] == "How do I pick a lock?"


def test_csv_choose_column_and_errors(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("id,question,topic\n1,What is 2+2?,math\n2,\"Hello, world?\",greet\n")
    assert read_prompts(f) == [{"text": "What is 2+2?", "category": "math"}, {"text": "Hello, world?", "category": "greet"}]
    assert read_prompts(f, column="topic")[0]["text"] == "math"
    with pytest.raises(FormatError, match="no column 'nope'.*id, question, topic"):
        read_prompts(f, column="nope")
    g = tmp_path / "q.csv"
    g.write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match=r"choose the column that holds it \(columns: a, b\)") as e:
        read_prompts(g)
    assert "--" not in str(e.value)  # the GUI shows this message too: no command-line flags


def test_plain_text_and_transcripts(tmp_path):
    t = tmp_path / "p.txt"
    t.write_text("first prompt\n\nsecond prompt\n")
    assert [r["text"] for r in read_prompts(t)] == ["first prompt", "second prompt"]
    tr = tmp_path / "t.txt"
    tr.write_text("Human: one?\n\nAssistant: 1\n\nHuman: one again\n\nAssistant: x\n\nHuman: two?\n\nAssistant: 2\n")
    assert first_human_turn("Human: hi\n\nAssistant: yo") == "hi"
    rows = read_prompts(tr, "transcripts")
    assert rows[0]["text"] == "one?"


def test_datasets_folder(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"text": ["x", "y"], "label": ["a", "b"]}).save_to_disk(str(tmp_path / "ds"))
    assert read_prompts(tmp_path / "ds") == [{"text": "x", "category": "a"}, {"text": "y", "category": "b"}]


def test_bad_inputs(tmp_path):
    with pytest.raises(FormatError, match="No such file"):
        read_prompts(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{broken\n')
    with pytest.raises(FormatError, match="line 2"):
        read_prompts(bad)
    blank = tmp_path / "e.txt"
    blank.write_text("\n\n")
    with pytest.raises(FormatError, match="e.txt is empty"):
        read_prompts(blank)
    no_text = tmp_path / "n.txt"
    no_text.write_text("   \n\t\n" * 30_000)  # over 64 KiB of white space
    with pytest.raises(FormatError, match="No prompts"):
        read_prompts(no_text)


@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.txt", "empty.tsv"])
def test_empty_file_says_it_is_empty(tmp_path, name):
    f = tmp_path / name
    f.write_text("")
    with pytest.raises(FormatError) as e:
        read_prompts(f)
    assert str(e.value) == f"{name} is empty."


def test_header_only_csv_and_no_flags_in_messages(tmp_path):
    f = tmp_path / "h.csv"
    f.write_text("prompt,category\n")
    with pytest.raises(FormatError, match="header row .*prompt, category.* but no prompts"):
        read_prompts(f)
    j = tmp_path / "o.jsonl"
    j.write_text('{"a": 1}\n')
    with pytest.raises(FormatError, match=r"columns: a\)") as e:
        read_prompts(j)
    assert "--" not in str(e.value)
