from cai_desktop.core.constitution import Constitution, FewShotExample, Principle
from cai_desktop.core.prompting import (
    Turn,
    answer_messages,
    chain_messages,
    chain_transcript,
    clean_critique,
    clean_revision,
)

P1 = Principle(key="harm", critique_request="CRIT-1?", revision_request="REV-1.")
P2 = Principle(key="honest", critique_request="CRIT-2?", revision_request="REV-2.")
C = Constitution(
    name="c", system_prompt="SYS", principles=[P1, P2],
    few_shot=[FewShotExample(prompt="FQ", response="FA", critique_request="FCR", critique="FC",
                             revision_request="FRR", revision="FR")],
)


def test_chat_critique_then_revision_messages():
    msgs = chain_messages(C, "Q", "A0", [], P1, "critique")
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("system", "SYS"), ("user", "FQ"), ("assistant", "FA"), ("user", "FCR"), ("assistant", "FC"),
        ("user", "FRR"), ("assistant", "FR"), ("user", "Q"), ("assistant", "A0"), ("user", "CRIT-1?"),
    ]
    msgs = chain_messages(C, "Q", "A0", [Turn(P1, "C1")], P1, "revision", few_shot=0)
    assert [m["content"] for m in msgs] == ["SYS", "Q", "A0", "CRIT-1?", "C1", "REV-1."]
    msgs = chain_messages(C, "Q", "A0", [Turn(P1, "C1", "R1")], P2, "critique", few_shot=0)
    assert [m["content"] for m in msgs] == ["SYS", "Q", "A0", "CRIT-1?", "C1", "REV-1.", "R1", "CRIT-2?"]
    assert answer_messages(C, "Q") == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q"}]


def test_transcript_text_form():
    text = chain_transcript(C, "Q", "A0", [Turn(P1, "C1", "R1")], P2, "critique")
    assert text == (
        "Human: FQ\n\nAssistant: FA\n\nCritiqueRequest: FCR\n\nCritique: FC\n\nRevisionRequest: FRR\n\n"
        "Revision: FR\n\n-----\n\n"
        "Human: Q\n\nAssistant: A0\n\nCritiqueRequest: CRIT-1?\n\nCritique: C1\n\nRevisionRequest: REV-1.\n\n"
        "Revision: R1\n\nCritiqueRequest: CRIT-2?\n\nCritique:"
    )
    text = chain_transcript(C, "Q", "A0", [Turn(P2, "C2")], P2, "revision", few_shot=False)
    assert text.endswith("CritiqueRequest: CRIT-2?\n\nCritique: C2\n\nRevisionRequest: REV-2.\n\nRevision:")
    assert text.startswith("Human: Q")


def test_revision_with_open_critique_is_required():
    import pytest

    with pytest.raises(ValueError):
        chain_messages(C, "Q", "A0", [], P1, "revision")


def test_clean_revision_preambles():
    cases = {
        "Sure, here is a revised response: Call a locksmith.": "Call a locksmith.",
        "Here's the revised response:\nCall a locksmith.": "Call a locksmith.",
        "Revised response: Call a locksmith.": "Call a locksmith.",
        "Revision: Call a locksmith.": "Call a locksmith.",
        "Certainly! Here is a rewritten version of the response that removes the harm: Call a locksmith.": "Call a locksmith.",
        '"Call a locksmith."': "Call a locksmith.",
    }
    for raw, expected in cases.items():
        assert clean_revision(raw) == (expected, True), raw
    assert clean_revision("Call a locksmith.") == ("Call a locksmith.", False)
    assert clean_revision("Here is a recipe for bread: flour, water.")[0].startswith("Here is a recipe")
    assert clean_revision("Sure, here is a revised response:") == ("Sure, here is a revised response:", False)
    assert clean_critique("Critique: It is unsafe.") == "It is unsafe."


def test_revision_flaws_are_recognised():
    from cai_desktop.core.prompting import revision_flaw

    crit = "The response explains how to pick a lock, which helps burglary. It should decline."
    assert revision_flaw(crit + " It should refuse.", crit) == "repeats the critique"
    assert revision_flaw("The response cuts the filler and keeps the substance.") is not None
    assert revision_flaw("The assistant's revised response is more polite.") is not None
    assert revision_flaw("  ") == "empty"
    for good in ("I can't help you get into a house that isn't yours, but a locksmith can help if it's yours.",
                 "The answer depends on where you live: check your local rules.",
                 "This is a great question! Start by boiling water."):
        assert revision_flaw(good, crit) is None, good
