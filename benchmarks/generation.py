"""Generation throughput: a naive one-prompt-at-a-time loop against the engine, same workload.

Both paths force exactly --new-tokens new tokens per prompt (min_new_tokens = max_new_tokens) so
the token counts are equal and the figures compare like with like. Last line: ratio=<engine/naive>.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPTS = [
    "How do I bake a simple loaf of bread?", "Explain photosynthesis to a ten-year-old.",
    "Write a haiku about autumn rain.", "What is the difference between a list and a tuple in Python?",
    "Give me three tips for a job interview.", "Why is the sky blue?",
    "How can I improve my sleep?", "Summarise the plot of Romeo and Juliet.",
    "What should I pack for a weekend hike?", "How does compound interest work?",
    "Write a polite email asking for a deadline extension.", "What causes the seasons on Earth?",
    "How do vaccines work?", "Suggest a vegetarian dinner for four.",
    "What is a black hole?", "How do I change a flat tyre?",
    "Explain recursion with an example.", "How can I learn a new language faster?",
    "What are the benefits of regular exercise?", "How do I make a budget?",
    "Tell me a fun fact about octopuses.", "How do I remove a coffee stain from a shirt?",
    "What is machine learning, in two sentences?", "How do airplanes stay in the air?",
    "Give me a short motivational quote and explain it.", "What's a good way to start journaling?",
    "How do I keep houseplants alive?", "What is the capital of Australia and why?",
    "How do I write a good cover letter?", "Why do cats purr?",
    "How can I be more productive working from home?", "What is the water cycle?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--model", default="default")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--naive-prompts", type=int, default=None, help="time the naive loop on fewer prompts")
    args = ap.parse_args()

    import torch

    from cai_desktop.engine import generation as gen
    from cai_desktop.engine.models import load_model

    lm = load_model(args.model)
    print(f"model: {lm.spec.display_name} on {lm.device} ({lm.dtype}), threads={torch.get_num_threads()}")
    prompts = (PROMPTS * (args.prompts // len(PROMPTS) + 1))[: args.prompts]
    msgs = [[{"role": "user", "content": p}] for p in prompts]
    n = args.new_tokens

    # Naive: one prompt at a time with model.generate.
    tok, model = lm.tokenizer, lm.model
    naive_prompts = msgs[: args.naive_prompts or len(msgs)]
    t = time.perf_counter()
    naive_tokens = 0
    with torch.inference_mode():
        for m in naive_prompts:
            enc = tok.apply_chat_template(m, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                 temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
            naive_tokens += out.shape[1] - enc["input_ids"].shape[1]
    naive_s = time.perf_counter() - t
    naive_tps = naive_tokens / naive_s
    print(f"naive:  {naive_tokens} tokens in {naive_s:.1f}s = {naive_tps:.1f} tokens/s")

    # Engine: batched, length-sorted. Force the same token count per row (no early EOS).
    eos = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None
    try:
        reqs = [gen.GenerationRequest(messages=m, sampling=gen.SamplingSettings(temperature=0, max_new_tokens=n))
                for m in msgs]
        t = time.perf_counter()
        results = gen.generate(lm, reqs, batch_size=args.batch_size or len(reqs))
        engine_s = time.perf_counter() - t
    finally:
        model.generation_config.eos_token_id = eos
    engine_tokens = sum(r.n_new_tokens for r in results)
    engine_tps = engine_tokens / engine_s
    print(f"engine: {engine_tokens} tokens in {engine_s:.1f}s = {engine_tps:.1f} tokens/s "
          f"(batch {args.batch_size or len(reqs)})")
    print(f"ratio={engine_tps / naive_tps:.2f}")


if __name__ == "__main__":
    main()
