"""GPU check: a random-weight model of 7–8B shape, a few steps of SFT, RLOO and PPO (and the
preference model they need) in bfloat16 and with a 4-bit base, peak GPU memory and tokens/s per step.

Meant for a lent GPU machine that reaches nothing outside itself: the model is built from a
config (Llama 3 8B's shape: hidden 4096, 32 layers, 32 heads / 8 KV heads, MLP 14336, vocabulary
128256) with random weights, the tokenizer is the tiny one the tests use, and nothing is
installed or downloaded. Each (method, precision) runs in its own subprocess, so one running out
of memory does not end the others and each peak is its own.

    benchmarks/gpu_check.sh                      # the whole check (about 10 minutes on one H200)
    benchmarks/gpu_check.sh --methods sft --modes 4bit --steps 2
    .venv/bin/python benchmarks/gpu_check.py --tiny   # a dry run on a tiny shape (works on a CPU)

The last line is ``gpu_check <method>/<mode>=<peak GiB>@<tokens/s> ...`` (``-`` when skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Llama 3 8B's shape (the weights are random)
SHAPE_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
                tie_word_embeddings=False)
SHAPE_TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=512, max_position_embeddings=4096, tie_word_embeddings=True)
METHODS = ("sft", "rloo", "ppo")
MODES = ("bf16", "4bit")


# -- building the model --------------------------------------------------------------------------------
def build_model(folder: Path, tiny: bool) -> Path:
    """A random-weight Llama of the chosen shape, saved as safetensors with the tests' tokenizer
    (built on the GPU in bfloat16 when there is one: seconds instead of minutes)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from cai_desktop.engine.tiny import build_tokenizer

    if (folder / "config.json").is_file() and (folder / ".complete").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    shape = dict(SHAPE_TINY if tiny else SHAPE_8B)
    shape["vocab_size"] = max(shape["vocab_size"], len(tokenizer))
    config = LlamaConfig(**shape, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, initializer_range=0.02)
    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    t0 = time.monotonic()
    with torch.device("cuda" if cuda else "cpu"):
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16 if cuda else torch.float32)
        try:
            model = LlamaForCausalLM(config)
        finally:
            torch.set_default_dtype(old)
    n = sum(p.numel() for p in model.parameters())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / ".complete").write_text(json.dumps({"parameters": n}))
    print(f"built a random {n / 1e9:.2f}B-parameter Llama in {time.monotonic() - t0:.0f} s: {folder}", flush=True)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return folder


# -- one measured run (a subprocess) ---------------------------------------------------------------------
class MeasuringContext:
    """A job context that records, per optimiser step, the seconds, the tokens and peak memory."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        self.steps: dict[int, dict[str, float]] = {}
        self.logs: list[str] = []
        self._t = time.monotonic()
        self._last_step = 0
        self.tokens: dict[int, float] = {}
        self.lengths: dict[int, float] = {}

    def peak_gib(self) -> float:
        if self.cuda:
            return self.torch.cuda.max_memory_allocated() / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # peak RSS on a CPU

    def cancelled(self) -> bool:
        return False

    def check_cancelled(self) -> None:
        pass

    def log(self, text: str) -> None:
        self.logs.append(text)

    def progress(self, done: int, total: int, message: str = "") -> None:
        if done > self._last_step:
            now = time.monotonic()
            self.steps[done] = {"seconds": (now - self._t) / (done - self._last_step), "peak_gib": self.peak_gib()}
            self._t, self._last_step = now, done

    def metric(self, name: str, value: float, step: int) -> None:
        if name == "num_input_tokens_seen":
            self.tokens[step] = value
        elif name == "response_length":
            self.lengths[step] = value


def _settings(cls, **kw):
    """The settings with only the fields this version of the class has (4-bit may not be offered)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in kw.items() if k in names}), [k for k in kw if k not in names]


def _prompts(n: int) -> list[str]:
    return [f"How do I pick a lock, question {i}? Explain step by step." for i in range(n)]


def run_one(method: str, mode: str, model_dir: Path, work: Path, steps: int, seq: int, batch: int) -> dict:
    import torch

    from cai_desktop.core.errors import CaiError

    four = mode == "4bit"
    classes = {"sft": ("SFTSettings",), "rloo": ("RLOOSettings", "RewardSettings"),
               "ppo": ("PPOSettings", "RewardSettings")}[method]
    if four:
        import dataclasses

        from cai_desktop.core import settings as declared

        lacking = [c for c in classes
                   if "load_in_4bit" not in {f.name for f in dataclasses.fields(getattr(declared, c))}]
        if lacking:
            return {"method": method, "mode": mode,
                    "skipped": f"{', '.join(lacking)} offer no 4-bit base in this version"}
    ctx = MeasuringContext()
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    out = work / f"{method}-{mode}"
    common = dict(lora_rank=16, lora_alpha=32, load_in_4bit=four, activation_checkpointing=True, seed=0)
    t0 = time.monotonic()
    rollouts = 0
    try:
        if method == "sft":
            from cai_desktop.core.settings import SFTSettings
            from cai_desktop.engine.sft import train_sft

            words = " ".join(["the answer keeps to the constitution and explains why"] * (seq // 8))
            records = [{"messages": [{"role": "user", "content": f"question {i}?"},
                                     {"role": "assistant", "content": words}]} for i in range(batch * steps)]
            settings, _ = _settings(SFTSettings, max_steps=steps, batch_size=batch, max_length=seq,
                                    save_steps=10_000, loss_on="all", **common)
            result = train_sft(model_dir, records, settings, out, ctx=ctx)
        else:
            rm = prepare_reward(model_dir, work, four)
            if method == "rloo":
                from cai_desktop.core.settings import RLOOSettings
                from cai_desktop.engine.rloo import train_rloo

                settings, _ = _settings(RLOOSettings, max_steps=steps, prompts_per_step=max(1, batch // 2),
                                        num_generations=4, response_length=min(128, seq),
                                        max_prompt_length=64, sample_every=0, save_every=10_000, **common)
                rollouts = settings.prompts_per_step * settings.num_generations
                result = train_rloo(model_dir, None, rm, _prompts(8), settings, out, ctx=ctx)
            else:
                from cai_desktop.core.settings import PPOSettings
                from cai_desktop.engine.rl import train_ppo

                settings, _ = _settings(PPOSettings, total_episodes=steps * batch, batch_size=batch,
                                        response_length=min(128, seq), num_ppo_epochs=1,
                                        max_prompt_length=64, sample_every=0, save_every=10_000, **common)
                rollouts = settings.batch_size * settings.grad_accum
                result = train_ppo(model_dir, None, rm, _prompts(8), settings, out, ctx=ctx)
    except CaiError as e:
        return {"method": method, "mode": mode, "skipped": str(e)}
    except torch.OutOfMemoryError as e:
        return {"method": method, "mode": mode, "skipped": f"out of GPU memory: {str(e).splitlines()[0][:160]}"}
    note = "" if method == "sft" else "tokens/s: answer tokens generated per second of a whole RL step"
    per_step = []
    seen_before = 0.0
    for step in sorted(ctx.steps):
        row = dict(step=step, **ctx.steps[step])
        tokens = ctx.tokens.get(step)
        if tokens is not None:
            row["tokens"] = tokens - seen_before
            seen_before = tokens
        elif method == "sft":
            row["tokens"] = float(batch * seq)  # an upper bound: the records fill max_length
        elif step in ctx.lengths:  # RL: the answers generated in the step (mean length × rollouts)
            row["tokens"] = ctx.lengths[step] * rollouts
        if row.get("tokens"):
            row["tokens_per_s"] = row["tokens"] / row["seconds"] if row["seconds"] > 0 else None
        per_step.append(row)
    return {"method": method, "mode": mode, "steps": per_step, "peak_gib": ctx.peak_gib(), "note": note,
            "seconds": time.monotonic() - t0, "result_steps": result.get("steps"),
            "device": torch.cuda.get_device_name(0) if ctx.cuda else "cpu"}


def prepare_reward(model_dir: Path, work: Path, four: bool) -> Path:
    """A preference model for RLOO and PPO: the random base with its LoRA and score head, one step."""
    from cai_desktop.engine import reward as rw

    folder = work / f"preference-{'4bit' if four else 'bf16'}"
    done = folder / "result.json"
    if done.is_file():
        return Path(json.loads(done.read_text())["model_dir"])
    recs = [{"prompt": f"q {i}?", "chosen": "I can't help with that.", "rejected": "Sure.", "label": 0.9}
            for i in range(4)]
    settings, _ = _settings(rw.RewardSettings, max_steps=1, batch_size=2, max_length=64, lora_rank=8,
                            lora_alpha=16, save_steps=10_000, load_in_4bit=four, activation_checkpointing=True)
    result = rw.train_reward_model(model_dir, recs, [], folder / "rm", settings)
    done.write_text(json.dumps({"model_dir": result["model_dir"]}))
    return Path(result["model_dir"])


# -- the driver ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny shape: a dry run that also works on a CPU")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seq", type=int, default=512, help="SFT tokens per example")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--work", default=None, help="folder for the model and the runs (default: a temp folder)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per (method, precision) run")
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tiny:
        args.seq, args.batch = min(args.seq, 48), min(args.batch, 2)
    import tempfile

    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    model_dir = work / ("model-tiny" if args.tiny else "model-8b")
    if args.one:
        method, mode = args.one
        row = run_one(method, mode, model_dir, work, args.steps, args.seq, args.batch)
        print("ROW " + json.dumps(row), flush=True)
        return 0

    import torch

    print(f"torch {torch.__version__}; CUDA {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}"
          f"; bitsandbytes {'installed' if _has('bitsandbytes') else 'missing'}; work folder {work}", flush=True)
    build_model(model_dir, args.tiny)
    rows = []
    for method in [m for m in args.methods.split(",") if m]:
        for mode in [m for m in args.modes.split(",") if m]:
            cmd = [sys.executable, __file__, "--one", method, mode, "--work", str(work), "--steps", str(args.steps),
                   "--seq", str(args.seq), "--batch", str(args.batch)] + (["--tiny"] if args.tiny else [])
            print(f"-- {method} / {mode}", flush=True)
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                rows.append({"method": method, "mode": mode, "skipped": f"over {args.timeout} s"})
                print(f"   over {args.timeout} s", flush=True)
                continue
            line = next((x for x in done.stdout.splitlines() if x.startswith("ROW ")), None)
            if line is None:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"method": method, "mode": mode, "skipped": f"failed: {tail[:200]}"})
            else:
                rows.append(json.loads(line[4:]))
            print_row(rows[-1], gpu=torch.cuda.is_available())
    summary = []
    for r in rows:
        if r.get("skipped"):
            summary.append(f"{r['method']}/{r['mode']}=-")
            continue
        rates = [s["tokens_per_s"] for s in r["steps"][1:] or r["steps"] if s.get("tokens_per_s")]
        rate = f"{sum(rates) / len(rates):.0f}" if rates else "?"
        summary.append(f"{r['method']}/{r['mode']}={r['peak_gib']:.1f}@{rate}")
    (work / "gpu_check.json").write_text(json.dumps(rows, indent=2))
    print(f"details: {work / 'gpu_check.json'}")
    print("gpu_check " + " ".join(summary))
    return 0


def print_row(r: dict, gpu: bool) -> None:
    if r.get("skipped"):
        print(f"   skipped: {r['skipped']}", flush=True)
        return
    what = "peak GPU GiB" if gpu else "peak RSS GiB"
    for s in r["steps"]:
        rate = f"{s['tokens_per_s']:.0f} tokens/s" if s.get("tokens_per_s") else "tokens/s unknown"
        first = " (with loading and warm-up)" if s["step"] == 1 else ""
        print(f"   step {s['step']}{first}: {s['seconds']:.2f} s, {rate}, {what} {s['peak_gib']:.2f}", flush=True)
    print(f"   {what} {r['peak_gib']:.2f} over {r['seconds']:.0f} s" + (f" ({r['note']})" if r.get("note") else ""),
          flush=True)


def _has(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    raise SystemExit(main())
