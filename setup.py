"""Copies the starter constitutions and prompt sets into the wheel (``cai_desktop/data/``).

In a checkout (and an editable install) ``cai_desktop.resources`` finds them beside the package;
an installed wheel carries its own copy, where the same module looks first.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

STARTERS = ("constitutions", "resources")


class BuildWithStarters(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        for name in STARTERS:
            target = Path(self.build_lib) / "cai_desktop" / "data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / name, target)


setup(cmdclass={"build_py": BuildWithStarters})
