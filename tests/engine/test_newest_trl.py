"""The non-PPO trainers (SFT, DPO, the preference model, RLOO) on the newest TRL of the package index.

TRL is pure Python: the newest release is installed without its dependencies into a temporary
folder (seconds) and put first on the path of a subprocess, which trains each a few steps on the
tiny random model. PPO is not tried: upstream TRL deleted it (engine/rl.py keeps it behind its own
version boundary). Skipped, with the reason, when the package index cannot be reached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, sys
from pathlib import Path

import trl

from cai_desktop.core.settings import DPOSettings, SFTSettings
from cai_desktop.engine.dpo import train_dpo
from cai_desktop.engine.sft import train_sft
from cai_desktop.engine.tiny import make_tiny_model
from cai_desktop.jobs.context import RecordingContext

out = Path(sys.argv[1])
model = make_tiny_model(out / "tiny")
done = {"trl": trl.__version__, "trl_file": trl.__file__}
records = [{"messages": [{"role": "user", "content": f"question {i}?"},
                         {"role": "assistant", "content": "I can't help with that, but here is a safer idea."}]}
           for i in range(4)]
small = dict(lora_rank=4, lora_alpha=8, max_steps=2, batch_size=2, max_length=64, save_steps=2)
sft = train_sft(model, records, SFTSettings(**small), out / "sft", ctx=RecordingContext())
done["sft"] = {"steps": sft["steps"], "adapter": (Path(sft["adapter"]) / "adapter_config.json").is_file()}
pairs = [{"prompt": f"q {i}?", "chosen": "Sure, a safe answer.", "rejected": "No."} for i in range(4)]
dpo = train_dpo(model, sft["adapter"], pairs, DPOSettings(**small), out / "dpo", ctx=RecordingContext())
done["dpo"] = {"steps": dpo["steps"], "adapter": (Path(dpo["adapter"]) / "adapter_config.json").is_file()}

from cai_desktop.engine import reward as rw

recs = [{"prompt": f"q {i}?", "chosen": "I can't help with that.", "rejected": "Sure.", "label": 0.9}
        for i in range(4)]
rm = rw.train_reward_model(model, recs, [], out / "rm", rw.RewardSettings(
    max_steps=2, batch_size=2, learning_rate=5e-3, max_length=64, lora_rank=4, lora_alpha=8, device="cpu",
    save_steps=50))
done["reward"] = {"steps": rm["steps"]}
try:
    from cai_desktop.engine.rloo import train_rloo
except ImportError as e:
    done["rloo"] = {"skipped": f"cai_desktop.engine.rloo does not import ({e})"}
else:
    from cai_desktop.core.settings import RLOOSettings

    r = train_rloo(model, sft["adapter"], rm["model_dir"], ["How do I pick a lock?", "How do I bake bread?"],
                   RLOOSettings(max_steps=2, prompts_per_step=2, num_generations=2, response_length=6,
                                sample_every=0, save_every=5, lora_rank=4, lora_alpha=8, max_prompt_length=32),
                   out / "rloo", ctx=RecordingContext())
    done["rloo"] = {"steps": r["steps"], "adapter": (Path(r["adapter"]) / "adapter_config.json").is_file()}
print("RESULT " + json.dumps(done))
'''


def _newest_trl(target: Path) -> str:
    """Install the newest TRL (no dependencies) into ``target``; its version, or skip."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--disable-pip-version-check",
           "--upgrade", "--target", str(target), "trl"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"the package index could not be reached to fetch the newest TRL ({type(e).__name__})")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        pytest.skip(f"the package index could not be reached to fetch the newest TRL: {last}")
    (info,) = target.glob("trl-*.dist-info")
    return info.name[len("trl-"):-len(".dist-info")]


@pytest.mark.slow
def test_sft_dpo_reward_and_rloo_run_on_the_newest_trl(tmp_path):
    import trl

    site = tmp_path / "newest-trl"
    version = _newest_trl(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "work")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["trl"] == version and Path(result["trl_file"]).is_relative_to(site), (result, trl.__version__)
    assert result["sft"] == {"steps": 2, "adapter": True}
    assert result["dpo"] == {"steps": 2, "adapter": True}
    assert result["reward"]["steps"] == 2
    if "skipped" in result["rloo"]:
        pytest.skip(f"SFT, DPO and the preference model ran on TRL {version}; RLOO: {result['rloo']['skipped']}")
    assert result["rloo"] == {"steps": 2, "adapter": True}
