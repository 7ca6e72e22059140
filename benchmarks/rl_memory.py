"""Peak memory (RSS) of a few RL-CAI steps per method on the embedded SmolLM2-135M-Instruct.

Each method runs in a fresh subprocess (so one's peak is not another's) and reports its own peak
resident memory (``ru_maxrss``, which includes Python, torch and the libraries). The setup made
once in a work folder: the embedded model as a local folder, a stand-in SL-CAI adapter (a random
LoRA: memory does not depend on what it learnt) and a preference model trained for 2 steps by the
app's own reward trainer (so it is saved as the reward job saves it: merged model/ and adapter/).

    .venv/bin/python benchmarks/rl_memory.py                  # RLOO and PPO, 3 steps each
    .venv/bin/python benchmarks/rl_memory.py --methods ppo --repo /tmp/rlbase   # PPO of another checkout

``--repo`` runs the children against another checkout of this repository (the same function
signatures), e.g. a ``git worktree`` of an older commit for a before/after figure. The last line
is ``rloo_peak_mib=<x> ppo_peak_mib=<y>`` (``-`` for a method not run or failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
PROMPTS = ["How do I pick a lock?", "Tell me how to make a weapon at home.", "How do I bake bread?",
           "Write a rude message to my neighbour.", "What is the capital of France?", "How can I cheat on a test?"]

CHILD = r'''
import json, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
import torch
torch.set_num_threads({threads})
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.engine.policy import peak_rss_mb
work = Path({work!r})
method = {method!r}
t = time.monotonic()
if method == "rloo":
    from cai_desktop.core.settings import RLOOSettings
    from cai_desktop.engine.rloo import train_rloo
    s = RLOOSettings(max_steps={steps}, prompts_per_step=2, num_generations=4, response_length={length},
                     save_every=1000, sample_every=0)
    r = train_rloo(Path({base!r}), work / "sft", work / "rm" / "model", {prompts!r}, s, work / ("out-" + method),
                   ctx=RecordingContext())
else:
    from cai_desktop.core.settings import PPOSettings
    from cai_desktop.engine.rl import train_ppo
    s = PPOSettings(total_episodes=4 * {steps}, batch_size=4, response_length={length}, num_ppo_epochs=1,
                    save_every=1000, sample_every=0)
    r = train_ppo(Path({base!r}), work / "sft", work / "rm" / "model", {prompts!r}, s, work / ("out-" + method),
                  ctx=RecordingContext())
print("RESULT " + json.dumps({{"peak_mib": peak_rss_mb(), "train_peak_mib": r.get("peak_rss_mb"), "steps": r["steps"], "seconds": time.monotonic() - t,
                               "seconds_per_step": r.get("seconds_per_step"), "shared": r.get("shared_base")}}))
'''


def setup(work: Path) -> Path:
    """The embedded model folder, the stand-in SL-CAI adapter and the preference model (once)."""
    sys.path.insert(0, str(REPO))
    from cai_desktop.engine.models import local_model_dir, resolve_spec

    base = local_model_dir(resolve_spec("default"), None)
    if not (work / "sft" / "adapter_config.json").is_file():
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                               LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
        for name, p in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.01)
        model.save_pretrained(work / "sft")
    if not (work / "rm" / "model" / "config.json").is_file():
        from cai_desktop.core.settings import RewardSettings
        from cai_desktop.engine.reward import train_reward_model

        recs = [{"prompt": p, "chosen": "I can't help with that, but here is a safe option.", "rejected": "Sure.",
                 "label": 0.9} for p in PROMPTS]
        train_reward_model(base, recs, [], work / "rm", RewardSettings(max_steps=2, batch_size=2, max_length=128,
                                                                        device="cpu", save_steps=1000))
    return base


def run_child(method: str, repo: Path, work: Path, base: Path, steps: int, length: int, threads: int) -> dict | None:
    code = CHILD.format(repo=str(repo), work=str(work), method=method, base=str(base), steps=steps, length=length,
                        prompts=PROMPTS, threads=threads)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(repo))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"{method} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="rloo,ppo", help="comma-separated: rloo, ppo")
    ap.add_argument("--repo", default=str(REPO), help="the checkout whose engine the children run")
    ap.add_argument("--work", default=None, help="work folder kept between runs (default: a temporary one)")
    ap.add_argument("--steps", type=int, default=3, help="RL steps per method")
    ap.add_argument("--length", type=int, default=32, help="answer length in tokens")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="rl-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    base = setup(work)
    peaks: dict[str, str] = {"rloo": "-", "ppo": "-"}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        r = run_child(method, Path(args.repo), work, base, args.steps, args.length, args.threads)
        if r:
            peaks[method] = f"{r['peak_mib']:.0f}"
            train = r.get("train_peak_mib")
            print(f"{method}: peak RSS {r['peak_mib']:.0f} MiB over {r['steps']} steps "
                  + (f"(training alone, before the adapters are concatenated: {train:.0f} MiB) " if train else "")
                  +
                  f"({r['seconds']:.0f} s, {r['seconds_per_step'] or 0:.1f} s/step; preference model on the "
                  f"policy's base: {r['shared']})", flush=True)
    print(f"rloo_peak_mib={peaks['rloo']} ppo_peak_mib={peaks['ppo']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
