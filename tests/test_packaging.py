import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_starter_constitutions_and_prompts(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("cai_desktop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (ROOT / "constitutions").glob("*.json"):
        assert f"cai_desktop/data/constitutions/{f.name}" in names
    for f in (ROOT / "resources" / "prompts").glob("*"):
        assert f"cai_desktop/data/resources/prompts/{f.name}" in names


def test_missing_starter_files_give_a_clear_error(monkeypatch, tmp_path):
    from cai_desktop import resources
    from cai_desktop.core.errors import CaiError

    monkeypatch.setattr(resources, "_PKG", tmp_path / "cai_desktop")
    with pytest.raises(CaiError, match="missing from this installation"):
        resources.starter_constitutions()
