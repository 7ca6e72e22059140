"""Hypothesis over every importer: whatever a file holds, only our own error type escapes.

Constitutions (native JSON and YAML, Anthropic, Hugging Face; from data and from files), prompt
files (JSONL, JSON arrays, CSV/TSV, plain text, transcripts) and demonstration files get arbitrary
JSON-ish values, shapes close to the real ones with one wrong value, and arbitrary text. An
import either succeeds with a constitution that survives a round trip, or raises a ``CaiError``.

Each importer gets ``CAI_FUZZ_EXAMPLES`` examples (default 300: the suite takes about 20-30 s); the last line of the run reports cases and failures per importer, e.g.
``importer fuzz: 2400 cases, 0 failures, 350 accepted (importer cases/failures: ...)``. A failure here is an
exception other than ``CaiError``; hypothesis shrinks it and the test fails.
"""

from __future__ import annotations

import json
import os
import string
from collections import Counter
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
import yaml  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cai_desktop.core import formats  # noqa: E402
from cai_desktop.core.errors import CaiError  # noqa: E402
from cai_desktop.core.prompt_files import read_prompts  # noqa: E402
from cai_desktop.jobs.demos import read_demonstrations  # noqa: E402

EXAMPLES = int(os.environ.get("CAI_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every machine: CI never fails by luck
    database=None,  # leave no .hypothesis folder behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

#: importer -> [cases, failures]
COUNTS: dict[str, Counter] = {}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    cases = sum(c["cases"] for c in COUNTS.values())
    failures = sum(c["failures"] for c in COUNTS.values())
    accepted = sum(c["accepted"] for c in COUNTS.values())
    detail = ", ".join(f"{k} {c['cases']}/{c['failures']}" for k, c in sorted(COUNTS.items()))
    line = (f"importer fuzz: {cases} cases, {failures} failures, {accepted} accepted "
            f"(importer cases/failures: {detail})")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - run without pytest's terminal
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def attempt(importer: str, call):
    """Run one import; count it; let only CaiError pass (anything else fails the example)."""
    counts = COUNTS.setdefault(importer, Counter(cases=0, failures=0, accepted=0))
    counts["cases"] += 1
    try:
        result = call()
        counts["accepted"] += 1
        return result
    except CaiError as e:
        message = str(e)
        assert message and "\n" not in message and "Traceback" not in message, message
        return None
    except BaseException:
        counts["failures"] += 1
        raise


# -- strategies ------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**4000), max_value=10**4000),  # (longer ones are in the texts below)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["true", "false", "yes", "no", "maybe", "", " ", "1", "0", "abc", "\ud800"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=20,
)
texts = st.one_of(st.text(max_size=40), st.sampled_from(["Identify harm.", "Rewrite it.", "harm", "Harm"]))
maybe_good = st.one_of(texts, json_values)

PRINCIPLE_FIELDS = ["key", "title", "critique_request", "revision_request", "comparison_question", "tags", "enabled"]
FEW_FIELDS = ["prompt", "response", "critique_request", "critique", "revision_request", "revision", "principle"]
META_FIELDS = ["name", "title", "description", "version", "system_prompt", "few_shot"]


def shaped(fields, value=maybe_good, extra=json_values):
    """An object with some of ``fields`` (each any value) and now and then an unknown key."""
    return st.builds(
        lambda known, unknown: {**known, **unknown},
        st.dictionaries(st.sampled_from(fields), value, max_size=len(fields)),
        st.dictionaries(st.text(max_size=8), extra, max_size=1),
    )


few_shots = st.one_of(st.lists(shaped(FEW_FIELDS), max_size=3), json_values)
native = st.fixed_dictionaries(
    {"name": st.one_of(st.just("sample"), maybe_good),
     "principles": st.one_of(st.lists(shaped(PRINCIPLE_FIELDS), max_size=4), json_values)},
    optional={"version": maybe_good, "format": st.one_of(st.just(formats.NATIVE_TAG), json_values),
              "format_version": maybe_good, "few_shot": few_shots, "title": maybe_good,
              "system_prompt": maybe_good, "description": maybe_good},
)
anthropic_entry = shaped(["prompt", "edit_request", "title", "comparison_question", "tags", "enabled"],
                         value=st.one_of(maybe_good, st.lists(maybe_good, max_size=3)))
anthropic = st.builds(
    lambda entries, meta: {**entries, **meta},
    st.dictionaries(st.one_of(st.text(max_size=10), st.just("_x")), st.one_of(anthropic_entry, json_values),
                    min_size=1, max_size=4),
    st.one_of(st.just({}), st.builds(lambda m: {"_cai_desktop": m},
                                     st.one_of(shaped(META_FIELDS + ["few_shot"]), json_values))),
)
messages = st.lists(st.one_of(shaped(["role", "content"], value=st.one_of(
    st.sampled_from(["user", "assistant", "system"]), maybe_good)), json_values), max_size=7)
hf = st.fixed_dictionaries(
    {"constitutions": st.one_of(
        st.lists(st.one_of(shaped(["critic", "revision", "key", *PRINCIPLE_FIELDS[1:]]), json_values), max_size=4),
        json_values)},
    optional={"system_chat": st.one_of(st.lists(messages, max_size=3), json_values),
              "system_chat_principles": st.one_of(st.lists(maybe_good, max_size=3), json_values),
              "name": maybe_good, "version": maybe_good, "system_prompt": maybe_good, "title": maybe_good,
              "description": maybe_good},
)


def _base(fmt: str) -> dict:
    """A valid constitution in ``fmt``, with two principles and two few-shot examples."""
    from cai_desktop.core.constitution import Constitution, FewShotExample, Principle

    c = Constitution(
        name="sample", title="Sample", version=2, system_prompt="Be kind.",
        few_shot=[FewShotExample(prompt="How?", response="So.", critique_request="Find harm.", critique="None.",
                                 revision_request="Rewrite.", revision="So, kindly.", principle="harm"),
                  FewShotExample(prompt="Q", response="A")],
        principles=[Principle(key="harm", title="Harm", critique_request="Find harm.", revision_request="Remove it.",
                              comparison_question="Which is less harmful?", tags=["safety"]),
                    Principle(key="honesty", critique_request="Find lies.", revision_request="Be honest.",
                              enabled=False)],
    )
    return {"native": formats.write_native, "anthropic": formats.write_anthropic, "hf": formats.write_hf}[fmt](c)


BASES = {fmt: json.dumps(_base(fmt)) for fmt in formats.FORMATS}
ALL_FIELDS = sorted({*PRINCIPLE_FIELDS, *FEW_FIELDS, *META_FIELDS, "format", "format_version", "prompt",
                     "edit_request", "critic", "revision", "role", "content", "constitutions", "system_chat",
                     "system_chat_principles", "principles", "_cai_desktop"})


def _containers(data: dict, fmt: str) -> list:
    if fmt == "native":
        return [data, data["principles"][0], data["principles"][1], data["few_shot"][0]]
    if fmt == "anthropic":
        return [data, data["harm"], data["honesty"], data["_cai_desktop"], data["_cai_desktop"]["few_shot"][0]]
    return [data, data["constitutions"][0], data["constitutions"][1], data["system_chat"][0][0],
            data["system_chat"][0][3]]


def _mutate(fmt: str, where: int, field: str, value, delete: bool) -> tuple:
    """A valid file with one field set to ``value`` (or removed); and where that was."""
    data = json.loads(BASES[fmt])
    containers = _containers(data, fmt)
    where %= len(containers)
    if delete:
        containers[where].pop(field, None)
    else:
        containers[where][field] = value
    return fmt, data, where, field, value, delete


mutated = st.builds(_mutate, st.sampled_from(formats.FORMATS), st.integers(0, 4),
                    st.one_of(st.sampled_from(ALL_FIELDS), st.text(max_size=8)), maybe_good, st.booleans())
any_constitution = st.one_of(native, anthropic, hf, json_values, mutated.map(lambda m: m[1]))
FLAG_WORDS = {"true": True, "yes": True, "false": False, "no": False}

YAML_SNIPPETS = [
    "name: x\nprinciples:\n  - key: a\n    critique_request: c\n    revision_request: r\n    enabled: maybe\n",
    "name: x\nprinciples:\n  - key: a\n    critique_request: c\n    revision_request: r\n    title: 2024-01-01\n",
    "name: x\nprinciples:\n  - key: a\n    critique_request: c\n    revision_request: r\n    title: 2024-13-45\n",
    "name: x\nversion: 1" + "0" * 5000 + "\nprinciples: []\n",
    "a: &a [*a]\n",
    "name: x\nprinciples: &p [{key: a, critique_request: c, revision_request: r, tags: *p}]\n",
    "harm: {prompt: !!set {a, b}, edit_request: r}\n",
    "harm: {prompt: [!!binary aGk=], edit_request: r}\n",
    "? [a, b]\n: c\n",
    "constitutions: [{critic: c, revision: r, enabled: no}]\nsystem_chat: [[{role: user, content: !!float .nan}]]\n",
    "[" * 3000 + "]" * 3000,
    "{" * 200 + "}" * 200,
    "- " * 400 + "x\n",
    "!!python/object/apply:os.system ['true']\n",
    "\ufeffname: x\n",
]


def json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def yaml_text(value) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True)
    except (yaml.YAMLError, UnicodeEncodeError):
        return json_text(value)  # YAML is a superset of JSON


def check_constitution(c) -> None:
    """A constitution that was accepted is usable: it hashes, exports and reads back the same."""
    if c is None:
        return
    c.content_hash()
    for p in c.principles:
        p.snapshot()
    for fmt in formats.FORMATS:
        data = {"native": formats.write_native, "anthropic": formats.write_anthropic, "hf": formats.write_hf}[fmt](c)
        for suffix in (".json", ".yaml"):
            back = formats.from_data(formats.parse_text(formats.dump_text(data, suffix), suffix), fmt)
            assert back == c, (fmt, suffix)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- constitutions -----------------------------------------------------------------------------
def test_the_mutation_bases_are_valid():
    for fmt in formats.FORMATS:
        check_constitution(formats.from_data(json.loads(BASES[fmt]), fmt))


@FUZZ
@given(case=mutated, auto=st.booleans())
def test_constitution_with_one_wrong_field(case, auto):
    """One field of a valid file changed: refused with our message, or still a sound constitution."""
    fmt, data, where, field, value, delete = case
    c = attempt("constitution-mutated", lambda: formats.from_data(data, "auto" if auto else fmt))
    check_constitution(c)
    if c is None or delete or where not in (1, 2) or len(c.principles) != 2:
        return
    # accepted with the meaning it has: a principle's field holds what the file said, nothing guessed
    p = c.principles[where - 1]
    if field == "enabled":
        assert p.enabled is (value if isinstance(value, bool) else FLAG_WORDS[value.strip().lower()])
    elif field == "tags":
        assert p.tags == (value or [])
    elif field in ("title", "comparison_question"):
        assert getattr(p, field) == (value or "")


@FUZZ
@given(data=any_constitution, fmt=st.sampled_from(formats.READ_FORMATS))
def test_constitution_from_data(data, fmt):
    check_constitution(attempt("constitution-data", lambda: formats.from_data(data, fmt)))


@FUZZ
@given(data=any_constitution, suffix=st.sampled_from([".json", ".yaml"]), fmt=st.sampled_from(formats.READ_FORMATS))
def test_constitution_files(folder, data, suffix, fmt):
    path = folder / f"c{suffix}"
    path.write_text(json_text(data) if suffix == ".json" else yaml_text(data), encoding="utf-8", errors="surrogatepass")
    check_constitution(attempt("constitution-file", lambda: formats.load_file(path, fmt)))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.sampled_from(YAML_SNIPPETS),
                      st.builds(lambda a, b: a + b, st.sampled_from(YAML_SNIPPETS), st.text(max_size=20))),
       suffix=st.sampled_from([".json", ".yaml", ".yml"]))
def test_constitution_text(text, suffix):
    check_constitution(attempt("constitution-text", lambda: formats.from_data(formats.parse_text(text, suffix))))


@FUZZ
@given(raw=st.binary(max_size=200), suffix=st.sampled_from([".json", ".yaml"]))
def test_constitution_bytes(folder, raw, suffix):
    path = folder / f"b{suffix}"
    path.write_bytes(raw)
    check_constitution(attempt("constitution-bytes", lambda: formats.load_file(path)))


# -- prompt files ------------------------------------------------------------------------------
PROMPT_KEYS = ["prompt", "text", "question", "chosen", "category", "label", "messages", "topic"]
prompt_records = st.one_of(shaped(PROMPT_KEYS, value=st.one_of(maybe_good, messages)), json_values)
csv_cells = st.one_of(st.text(alphabet=string.printable + "é\u2028\x00\"", max_size=20), st.just('"'))


def csv_text(rows, delimiter):
    return "\n".join(delimiter.join(row) for row in rows)


prompt_texts = st.one_of(
    st.builds(lambda rs: "\n".join(json_text(r) for r in rs), st.lists(prompt_records, max_size=5)),
    st.builds(json_text, st.lists(prompt_records, max_size=5)),
    st.builds(csv_text, st.lists(st.lists(csv_cells, min_size=1, max_size=4), min_size=1, max_size=5),
              st.sampled_from([",", ";", "\t"])),
    st.builds(lambda a, b: f"Human: {a}\n\nAssistant: {b}\n", st.text(max_size=30), st.text(max_size=30)),
    st.text(max_size=200),
    st.sampled_from(["[" * 3000 + "]" * 3000, '{"prompt": ' + "[" * 100 + "]" * 100 + "}",
                     '{"prompt": 1' + "0" * 5000 + "}", "prompt\n\"" + "x" * 140_000 + "\"\n",
                     "prompt,category\n\"open quote\n" + "y" * 140_000]),
)


@FUZZ
@given(text=prompt_texts, suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".txt"]),
       fmt=st.sampled_from(["auto", "jsonl", "csv", "txt", "transcripts"]),
       column=st.sampled_from([None, "prompt", "text", "nope"]))
def test_prompt_files(folder, text, suffix, fmt, column):
    path = folder / f"p{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rows = attempt("prompt-file", lambda: read_prompts(path, fmt, column))
    for r in rows or []:
        assert isinstance(r["text"], str) and r["text"] and isinstance(r["category"], str)


@FUZZ
@given(raw=st.binary(max_size=200), suffix=st.sampled_from([".jsonl", ".csv", ".txt"]))
def test_prompt_file_bytes(folder, raw, suffix):
    path = folder / f"pb{suffix}"
    path.write_bytes(raw)
    attempt("prompt-bytes", lambda: read_prompts(path))


# -- demonstrations ----------------------------------------------------------------------------
demo_records = st.one_of(
    shaped(["prompt", "response", "answer", "completion", "messages"], value=st.one_of(maybe_good, messages)),
    json_values,
)


@FUZZ
@given(text=st.one_of(st.builds(lambda rs: "\n".join(json_text(r) for r in rs), st.lists(demo_records, max_size=5)),
                      st.text(max_size=200), st.sampled_from(["[" * 3000 + "]" * 3000, '{"prompt": 1' + "0" * 5000 + "}"])))
def test_demonstration_files(folder, text):
    path = folder / "d.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rows = attempt("demonstrations", lambda: read_demonstrations(path))
    for r in rows or []:
        assert isinstance(r["prompt"], str) and r["prompt"] and isinstance(r["response"], str) and r["response"]


def test_no_importer_let_a_foreign_exception_escape():
    """Runs last in this module: every importer was exercised, none failed."""
    assert COUNTS, "the fuzz tests above did not run"
    assert all(c["failures"] == 0 for c in COUNTS.values()), COUNTS
