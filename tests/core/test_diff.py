from cai_desktop.core.constitution import Constitution, FewShotExample, Principle
from cai_desktop.core.diff import (
    changed_words,
    changes_html,
    constitution_changes,
    html_pair,
    render_html,
    side_text,
    similarity,
    tokenize,
    word_diff,
)


def test_tokenize_round_trips_text():
    text = "Hello,  world!\nIt's 3 o'clock — fine."
    assert "".join(tokenize(text)) == text
    assert tokenize("") == []


def test_word_diff_ops_rebuild_both_sides():
    a = "I can help you pick the lock on your neighbour's door."
    b = "I can't help you get into your neighbour's home without permission."
    ops = word_diff(a, b)
    assert side_text(ops, "a") == a
    assert side_text(ops, "b") == b
    kinds = {op for op, _, _ in ops}
    assert "equal" in kinds and kinds & {"replace", "insert", "delete"}
    assert ops[0] == ("equal", "I ", "I ")


def test_word_diff_identical_and_empty():
    assert word_diff("same words", "same words") == [("equal", "same words", "same words")]
    assert word_diff("", "new text") == [("insert", "", "new text")]
    assert word_diff("old text", "") == [("delete", "old text", "")]
    assert word_diff("", "") == []


def test_pure_insert_and_delete_are_separate_ops():
    ops = word_diff("a b c", "a b X c")
    assert ("insert", "", "X ") in ops or ("insert", "", " X") in ops
    ops = word_diff("a b X c", "a b c")
    assert any(op == "delete" and "X" in at for op, at, _ in ops)


def test_whitespace_only_change_is_not_highlighted():
    ops = word_diff("one two\nthree", "one two three")
    assert all(op == "equal" for op, _, _ in ops)


def test_render_html_marks_and_escapes():
    left, right = html_pair("keep <b>old</b>", "keep <b>new</b>\nline")
    assert "&lt;b&gt;" in left and "<b>" not in left.replace("<br>", "")
    assert "line-through" in left and "old" in left
    assert "#dff3e3" in right and "new" in right and "<br>" in right
    assert "line-through" not in right
    ops = word_diff("x", "y")
    try:
        render_html(ops, "c")
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("bad side accepted")


def test_similarity_and_changed_words():
    assert similarity("a b c", "a b c") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("a b c d", "w x y z") == 0.0
    assert 0 < similarity("a b c d", "a b x y") < 1
    assert changed_words(word_diff("the cat sat", "the dog sat down")) == (1, 2)


def _c(principles, few=()):
    return Constitution(name="c", principles=list(principles), few_shot=list(few)).to_dict()


def test_constitution_changes_added_removed_changed_moved():
    p1 = Principle("harm", "Harm", "Find harm.", "Remove harm.")
    p2 = Principle("honest", "Honesty", "Find lies.", "Fix lies.")
    p3 = Principle("kind", "Kindness", "Find rudeness.", "Be kind.")
    old = _c([p1, p2])
    p1b = Principle("harm", "Harm", "Find any harm.", "Remove harm.", enabled=False)
    new = _c([p3, p2, p1b], [FewShotExample("hi", "hello")])
    changes = constitution_changes(old, new)
    by = {(c["what"], c["key"], c["change"]) for c in changes}
    assert ("principle", "kind", "added") in by
    assert ("principle", "harm", "changed") in by
    assert ("few_shot", "example 1", "added") in by
    harm = next(c for c in changes if c["key"] == "harm")
    fields = {f for f, _, _ in harm["fields"]}
    assert fields == {"critique_request", "enabled"}
    assert not any(c["change"] == "removed" for c in changes)
    moved = next(c for c in changes if c["change"] == "moved")
    assert moved["fields"][0][1:] == ("harm, honest", "honest, harm")
    removed = constitution_changes(new, old)
    assert ("principle", "kind", "removed") in {(c["what"], c["key"], c["change"]) for c in removed}
    html = changes_html(changes, "v1", "v2")
    assert "kind" in html and "any" in html and "v2" in html
    assert constitution_changes(old, old) == []
    assert "No differences" in changes_html([], "v1", "v1")


def test_priority_weight_preamble_and_ranking_changes_show_in_the_diff():
    from dataclasses import replace

    p = Principle("harm", "Harm", "Find harm.", "Remove harm.")
    old = _c([p])
    new_c = Constitution.from_dict(old)
    new = replace(new_c, principles=[replace(p, weight=3.0)], preamble="Why we ask.", ranked=True).to_dict()
    changes = constitution_changes(old, new)
    whole = next(c for c in changes if c["what"] == "constitution")
    assert {f for f, _, _ in whole["fields"]} == {"preamble", "ranked"}
    harm = next(c for c in changes if c["key"] == "harm")
    assert harm["fields"] == [("weight", "", "3.0")]
