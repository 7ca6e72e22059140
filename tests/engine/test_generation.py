import pytest
import torch

from cai_desktop.core.errors import Cancelled, ModelError
from cai_desktop.engine import generation as gen
from cai_desktop.engine.generation import (
    GenerationRequest,
    SamplingSettings,
    generate,
    generate_iter,
    next_token_logprobs,
    score_continuations,
)
from cai_desktop.engine.models import load_model
from cai_desktop.jobs.context import RecordingContext

GREEDY = SamplingSettings(temperature=0, max_new_tokens=10)


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def chat(text, sampling=GREEDY):
    return GenerationRequest(messages=[{"role": "user", "content": text}], sampling=sampling)


PROMPTS = ["hi", "How do I bake bread?", "privacy " * 7, "Which answer is less harmful? (A) or (B)", "yes no maybe " * 3]


def test_batched_greedy_equals_one_at_a_time(lm):
    reqs = [chat(p) for p in PROMPTS]
    batched = generate(lm, reqs, batch_size=4)
    single = [generate(lm, [r], batch_size=1)[0] for r in reqs]
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(r.n_new_tokens > 0 for r in batched)


def test_results_keep_request_order(lm):
    reqs = [chat(p) for p in PROMPTS]
    out = generate(lm, reqs, batch_size=2)
    assert out[1].n_prompt_tokens == len(gen._encode(lm, gen.prompt_text(lm, reqs[1])))


def test_seeds_reproduce_sampled_outputs_whatever_the_batch(lm):
    def reqs(seeds):
        return [chat("tell me a story", SamplingSettings(temperature=1.0, top_p=0.9, max_new_tokens=12, seed=s)) for s in seeds]

    a = generate(lm, reqs([1, 2, 3, 4]), batch_size=4)
    b = generate(lm, reqs([4, 3, 2, 1]), batch_size=2)[::-1]
    alone = generate(lm, reqs([3]))[0]
    assert [r.text for r in a] == [r.text for r in b]
    assert alone.text == a[2].text
    assert len({r.text for r in a}) > 1  # different seeds differ


def test_stop_strings_truncate(lm):
    free = generate(lm, [chat("hi", SamplingSettings(temperature=0, max_new_tokens=16))])[0].text
    assert len(free) > 3
    stop = free[2:4]
    cut = generate(lm, [chat("hi", SamplingSettings(temperature=0, max_new_tokens=16, stop=(stop,)))])[0]
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and free.startswith(cut.text)


def test_out_of_memory_halves_the_batch_and_retries(lm, monkeypatch):
    monkeypatch.setattr(lm, "max_batch", None)  # restored after the test (lm is shared)
    real = gen._generate_batch
    sizes = []

    def flaky(lm_, batch, *a):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(lm_, batch, *a)

    reqs = [chat(p) for p in PROMPTS]
    expected = [r.text for r in generate(lm, reqs, batch_size=5)]
    monkeypatch.setattr(gen, "_generate_batch", flaky)
    ctx = RecordingContext()
    out = generate(lm, reqs, batch_size=5, ctx=ctx)
    assert [r.text for r in out] == expected
    assert sizes[0] == 5 and max(sizes[1:]) <= 2
    assert any("out of memory" in line for line in ctx.logs)
    # the smaller size is remembered: the next call starts at it
    assert lm.max_batch == 2
    sizes.clear()
    generate(lm, reqs, batch_size=5)
    assert max(sizes) <= 2


def test_out_of_memory_with_one_prompt_is_a_clear_error(lm, monkeypatch):
    def always(lm_, batch, *a):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(gen, "_generate_batch", always)
    with pytest.raises(ModelError, match="Out of memory"):
        generate(lm, [chat("hi")], batch_size=1)


def test_cancel_between_batches(lm):
    ctx = RecordingContext(cancel_after_progress=1)
    seen = []
    with pytest.raises(Cancelled):
        for idx, _results in generate_iter(lm, [chat(p) for p in PROMPTS], ctx=ctx, batch_size=2):
            seen.extend(idx)
    assert len(seen) == 2  # the first batch was delivered, nothing after the cancel


def _direct_logprobs(lm, text):
    ids = torch.tensor([gen._encode(lm, text)])
    with torch.no_grad():
        return torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), dim=-1), ids[0].tolist()


def test_score_continuations_matches_a_direct_forward_pass(lm):
    prompts = [chat("hi"), GenerationRequest(text="Human: how are you?\n\nAssistant:")]
    conts = [" fine thanks", " I am well"]
    scores = score_continuations(lm, prompts, conts, batch_size=2)
    for p, c, s in zip(prompts, conts, scores):
        head = gen._encode(lm, gen.prompt_text(lm, p))
        tail = gen._encode(lm, c)
        ids = torch.tensor([head + tail])
        with torch.no_grad():
            lp = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), dim=-1)
        expected = sum(float(lp[len(head) + j - 1, t]) for j, t in enumerate(tail))
        assert s == pytest.approx(expected, abs=1e-4)


def test_next_token_logprobs_matches_a_direct_forward_pass(lm):
    prompts = [chat("Which is better? (A) or (B)"), chat("short")]
    got = next_token_logprobs(lm, prompts, ["A", "B"], suffixes=["The answer is: (", "("])
    for p, suffix, g in zip(prompts, ["The answer is: (", "("], got):
        lp, ids = _direct_logprobs(lm, gen.prompt_text(lm, p) + suffix)
        for cand in ("A", "B"):
            tid = gen._encode(lm, cand)[0]
            assert g[cand] == pytest.approx(float(lp[len(ids) - 1, tid]), abs=1e-4)


def test_sampling_settings_round_trip():
    s = SamplingSettings(temperature=0.3, top_p=0.8, max_new_tokens=7, stop=("\n\nHuman:",), seed=5)
    assert SamplingSettings.from_dict(s.to_dict()) == s


def test_request_needs_exactly_one_input():
    with pytest.raises(ValueError):
        GenerationRequest()
    with pytest.raises(ValueError):
        GenerationRequest(messages=[], text="x")


def test_per_row_lengths_and_finish_reasons(lm):
    reqs = [chat("hi", SamplingSettings(temperature=0, max_new_tokens=3)),
            chat("How do I bake bread?", SamplingSettings(temperature=0, max_new_tokens=12))]
    short, long_ = generate(lm, reqs, batch_size=2, ignore_eos=True)
    assert (short.n_new_tokens, short.finish_reason) == (3, "length")
    assert (long_.n_new_tokens, long_.finish_reason) == (12, "length")
    assert short.text == generate(lm, [reqs[0]], batch_size=1, ignore_eos=True)[0].text


def test_eos_ends_a_row_and_is_counted(lm):
    eos = lm.tokenizer.eos_token_id
    # make the model say EOS at once by scoring a request whose greedy answer we force via bias
    bias = torch.zeros(lm.model.config.vocab_size)
    bias[eos] = 1e4
    handle = lm.model.lm_head.register_forward_hook(lambda m, i, o: o + bias)
    try:
        out = generate(lm, [chat("hi"), chat("How do I bake bread?")], batch_size=2)
    finally:
        handle.remove()
    assert all(r.finish_reason == "eos" and r.n_new_tokens == 1 and r.text == "" for r in out)


def test_progress_reports_each_batch(lm):
    ctx = RecordingContext()
    generate(lm, [chat(p) for p in PROMPTS], ctx=ctx, batch_size=2)
    assert [d for d, _, _ in ctx.progress_calls] == [2, 4, 5]
    assert all(t == 5 for _, t, _ in ctx.progress_calls)


def test_next_token_logprobs_without_suffix_and_spaced_candidates(lm):
    prompts = [GenerationRequest(text="Options (A) and (B). The answer is:"), chat("yes no maybe")]
    got = next_token_logprobs(lm, prompts, [" A", " B"], batch_size=2)
    for p, g in zip(prompts, got):
        text = gen.prompt_text(lm, p)
        lp, ids = _direct_logprobs(lm, text)
        for cand in (" A", " B"):
            joined = gen._encode(lm, text + cand)
            tid = joined[len(ids)] if joined[: len(ids)] == ids else gen._encode(lm, cand)[0]
            assert g[cand] == pytest.approx(float(lp[len(ids) - 1, tid]), abs=1e-4)
        assert g[" A"] != g[" B"]


def test_cancel_before_scoring(lm):
    ctx = RecordingContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        score_continuations(lm, [chat("hi")], [" ok"], ctx=ctx)


class FlipAfter(RecordingContext):
    """A ctx whose ``cancelled()`` turns true on its n-th call (as if the user pressed Cancel)."""

    def __init__(self, n):
        super().__init__()
        self.n = n
        self.calls = 0

    def cancelled(self):
        self.calls += 1
        return self.calls >= self.n


def test_cancel_stops_generation_between_decoding_steps(lm):
    forwards = []
    handle = lm.model.register_forward_hook(lambda *a: forwards.append(1))
    ctx = FlipAfter(5)
    seen = []
    long_ = SamplingSettings(temperature=0, max_new_tokens=400)
    try:
        with pytest.raises(Cancelled):
            for idx, _results in generate_iter(lm, [chat(p, long_) for p in PROMPTS[:2]], ctx=ctx,
                                               batch_size=2, ignore_eos=True):
                seen.extend(idx)
    finally:
        handle.remove()
    assert seen == []  # the cut batch is never delivered as a result
    # one check before the batch, then one per decoding step: it stopped right after the flip
    assert ctx.calls == 5
    assert len(forwards) <= 6, "kept decoding after cancel"


def test_cancel_inside_generate_raises_and_returns_nothing(lm):
    ctx = FlipAfter(3)
    with pytest.raises(Cancelled):
        generate(lm, [chat("hi", SamplingSettings(temperature=0.7, max_new_tokens=300, seed=1))], ctx=ctx)
    assert ctx.calls == 3 and ctx.progress_calls == []


def test_uncancelled_ctx_changes_nothing(lm):
    reqs = [chat(p) for p in PROMPTS]
    assert [r.text for r in generate(lm, reqs, batch_size=2, ctx=RecordingContext())] == [
        r.text for r in generate(lm, reqs, batch_size=2)]
