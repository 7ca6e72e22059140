"""What else is worth trying for CPU generation: threads, torch.compile, int8, bf16.

Runs the same engine workload (greedy, every row forced to --new-tokens) once per variant, on a
fresh copy of the embedded model each time, and prints tokens/s and how many answers are
token-for-token identical to the fp32 baseline (a quality check for the lossy variants).

    .venv/bin/python benchmarks/cpu_options.py                 # all variants
    .venv/bin/python benchmarks/cpu_options.py --only threads  # one group
"""

from __future__ import annotations

import argparse
import copy
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--only", choices=["threads", "compile", "int8", "bf16"], default=None)
    args = ap.parse_args()

    import torch
    from generation import PROMPTS  # benchmarks/generation.py (this script's folder is on sys.path)

    from cai_desktop.engine import generation as gen
    from cai_desktop.engine.models import LoadedModel, load_model

    base = load_model("default", device="cpu", dtype="float32")
    msgs = [[{"role": "user", "content": p}] for p in (PROMPTS * 4)[: args.prompts]]
    reqs = [gen.GenerationRequest(messages=m, sampling=gen.SamplingSettings(temperature=0, max_new_tokens=args.new_tokens))
            for m in msgs]
    cores = len(os.sched_getaffinity(0))

    def run(lm, threads: int, label: str, reference=None, warmup: bool = False):
        os.environ["CAI_DESKTOP_THREADS"] = str(threads)
        if warmup:  # compile happens on the first calls
            gen.generate(lm, reqs[:2], ignore_eos=True)
        t = time.perf_counter()
        out = gen.generate(lm, reqs, batch_size=len(reqs), ignore_eos=True)
        s = time.perf_counter() - t
        toks = sum(r.n_new_tokens for r in out)
        same = "" if reference is None else f", {sum(a.text == b.text for a, b in zip(out, reference))}/{len(out)} identical to fp32"
        print(f"{label:<34} {toks / s:7.1f} tokens/s ({threads} thread{'s' if threads > 1 else ''}){same}", flush=True)
        return out

    print(f"{args.prompts} prompts x {args.new_tokens} new tokens, batch {args.prompts}, {cores} cores, "
          f"load avg {os.getloadavg()[0]:.1f}")
    ref = run(base, 1, "fp32 eager (baseline)")
    if args.only in (None, "threads"):
        for t in range(2, cores + 1):
            run(base, t, "fp32 eager", ref)
    if args.only in (None, "compile"):
        try:
            model = copy.deepcopy(base.model)
            model.forward = torch.compile(model.forward, dynamic=True)
            lm = LoadedModel(model, base.tokenizer, base.spec, "cpu", "float32", base.path, None)
            t = time.perf_counter()
            run(lm, 1, "fp32 torch.compile (after warm-up)", ref, warmup=True)
            print(f"  compile + warm-up + run took {time.perf_counter() - t:.0f}s")
        except Exception as e:  # noqa: BLE001 - a benchmark reports what failed and goes on
            print(f"torch.compile failed: {type(e).__name__}: {str(e)[:200]}")
    if args.only in (None, "int8"):
        model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(base.model), {torch.nn.Linear}, dtype=torch.qint8)
        run(LoadedModel(model, base.tokenizer, base.spec, "cpu", "float32", base.path, None), 1,
            "int8 dynamic (Linear layers)", ref)
    if args.only in (None, "bf16"):
        model = copy.deepcopy(base.model).to(torch.bfloat16)
        run(LoadedModel(model, base.tokenizer, base.spec, "cpu", "bfloat16", base.path, None), 1, "bf16", ref)


if __name__ == "__main__":
    main()
