"""Several processes, one project: what ``accelerate launch`` needs from the app.

Under ``accelerate launch`` (DDP, or DeepSpeed ZeRO with the shipped configs) every process runs
the same command; each trains on its share of the batches, and only the main process (RANK 0)
writes to the project (the run row, metrics, logs, adapters) and to the run's folder. Process 0
decides (which run, resumed or new, which data) and the others follow what it shares. In a
single process (the GUI, a plain CLI run) every call here is free: no torch import, no
process group.
"""

from __future__ import annotations

import os
from typing import Any


def rank() -> int:
    """This process's rank among all processes (0 when not launched by accelerate/torchrun)."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


def is_main_process() -> bool:
    """Whether this process may write to the project (the only one, or rank 0 of several)."""
    return rank() == 0


def distributed() -> bool:
    return world_size() > 1


def _state() -> Any:
    """accelerate's process state; sets up the process group (gloo on CPUs, NCCL on GPUs) from
    the launcher's environment. The Trainer later finds the same one."""
    import torch
    from accelerate import PartialState

    # without cpu=True a machine with no GPU gets a state that does not communicate
    return PartialState(cpu=not torch.cuda.is_available())


def share(value: Any = None) -> Any:
    """Process 0's ``value`` on every process (others pass anything; it is ignored)."""
    if not distributed():
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    box = [value if is_main_process() else None]
    broadcast_object_list(box, from_process=0)
    return box[0]


def barrier() -> None:
    """Wait until every process gets here (nothing in a single process)."""
    if not distributed():
        return
    _state().wait_for_everyone()
