"""Entry point of the frozen bundle: the same `cai-desktop` command as the installed package."""

import multiprocessing

from cai_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # datasets may start worker processes
    raise SystemExit(main())
