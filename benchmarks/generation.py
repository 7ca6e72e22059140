"""Generation throughput: a naive one-prompt-at-a-time loop against the engine, same workload.

Workload: --prompts chat prompts, --new-tokens new tokens each, greedy, the embedded default model
(fp32 on the CPU unless --dtype/--device say otherwise). Both paths force exactly --new-tokens new
tokens per prompt (naive: min_new_tokens = max_new_tokens; engine: ignore_eos=True, which does the
same), so the token counts are equal and the figures compare like with like; only tokens actually
generated are counted. The naive loop runs with torch's default thread count, as a user's script
would; the engine picks its own (see ``generation.cpu_threads``). Last line: ratio=<engine/naive>.

    .venv/bin/python benchmarks/generation.py                       # the full 32 x 64 workload
    .venv/bin/python benchmarks/generation.py --naive-prompts 8     # time the slow loop on 8
    .venv/bin/python benchmarks/generation.py --dtype auto          # the app's own dtype choice
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
    "How can I improve my sleep? I keep waking up at 3 am and can't get back to sleep.",
    "Summarise the plot of Romeo and Juliet.",
    "What should I pack for a weekend hike in the mountains in early spring?",
    "How does compound interest work?",
    "Write a polite email asking my manager for a one-week deadline extension on the report.",
    "What causes the seasons on Earth?", "How do vaccines work?",
    "Suggest a vegetarian dinner for four that takes under an hour.",
    "What is a black hole?", "How do I change a flat tyre?",
    "Explain recursion with an example.", "How can I learn a new language faster?",
    "What are the benefits of regular exercise?",
    "How do I make a monthly budget when my income changes from month to month?",
    "Tell me a fun fact about octopuses.", "How do I remove a coffee stain from a white shirt?",
    "What is machine learning, in two sentences?", "How do airplanes stay in the air?",
    "Give me a short motivational quote and explain it.", "What's a good way to start journaling?",
    "How do I keep houseplants alive in a dark flat?", "What is the capital of Australia and why?",
    "How do I write a good cover letter for a junior developer job?", "Why do cats purr?",
    "How can I be more productive working from home with two small children?",
    "What is the water cycle?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--model", default="default")
    ap.add_argument("--batch-size", type=int, default=None, help="engine batch size (default: the engine's)")
    ap.add_argument("--naive-prompts", type=int, default=None, help="time the naive loop on the first N prompts only")
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None,
                    help="float32 (the default on a CPU, as the targets are stated), bfloat16, float16, or auto "
                         "(the app's choice: bfloat16 on a CPU with native bf16)")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    import torch

    from cai_desktop.engine import generation as gen
    from cai_desktop.engine.models import load_model

    on_cpu = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu"
    dtype = args.dtype or ("float32" if on_cpu else None)
    lm = load_model(args.model, device=args.device, dtype=None if dtype == "auto" else dtype)
    print(f"model: {lm.spec.display_name} on {lm.device} ({lm.dtype}); torch threads={torch.get_num_threads()}, "
          f"engine threads={gen.cpu_threads(lm) if lm.device == 'cpu' else '-'}; load avg={os.getloadavg()[0]:.1f}")
    prompts = (PROMPTS * (args.prompts // len(PROMPTS) + 1))[: args.prompts]
    msgs = [[{"role": "user", "content": p}] for p in prompts]
    n = args.new_tokens
    tok, model = lm.tokenizer, lm.model

    # Naive: one prompt at a time with model.generate.
    naive_tps = None
    if not args.skip_naive:
        naive_msgs = msgs[: args.naive_prompts or len(msgs)]
        t = time.perf_counter()
        naive_tokens = 0
        with torch.inference_mode():
            for m in naive_msgs:
                enc = tok.apply_chat_template(m, add_generation_prompt=True, return_tensors="pt", return_dict=True)
                enc = {k: v.to(lm.device) for k, v in enc.items()}
                out = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                     temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
                naive_tokens += out.shape[1] - enc["input_ids"].shape[1]
        naive_s = time.perf_counter() - t
        naive_tps = naive_tokens / naive_s
        print(f"naive:  {naive_tokens} tokens in {naive_s:.1f}s = {naive_tps:.1f} tokens/s "
              f"({len(naive_msgs)} prompts, one at a time)")

    # Engine: batched, length-sorted, every row forced to n tokens.
    reqs = [gen.GenerationRequest(messages=m, sampling=gen.SamplingSettings(temperature=0, max_new_tokens=n))
            for m in msgs]
    t = time.perf_counter()
    results = gen.generate(lm, reqs, batch_size=args.batch_size, ignore_eos=True)
    engine_s = time.perf_counter() - t
    engine_tokens = sum(r.n_new_tokens for r in results)
    engine_tps = engine_tokens / engine_s
    print(f"engine: {engine_tokens} tokens in {engine_s:.1f}s = {engine_tps:.1f} tokens/s "
          f"(batch {args.batch_size or gen.default_batch_size(lm)}); load avg={os.getloadavg()[0]:.1f}")
    if naive_tps:
        print(f"ratio={engine_tps / naive_tps:.2f}")


if __name__ == "__main__":
    main()
