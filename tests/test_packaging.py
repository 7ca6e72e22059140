"""Packaging and the first start: the embedded model's one-time conversion shows as job progress,
and the packaging files agree with each other."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    def __init__(self):
        self.progress_calls, self.logs = [], []

    def progress(self, done, total, message=""):
        self.progress_calls.append((done, total, message))

    def log(self, message):
        self.logs.append(message)

    def check_cancel(self):
        pass


def test_first_use_of_the_embedded_model_reports_preparing_it_as_progress(monkeypatch, tmp_path):
    from cai_desktop.engine import models

    monkeypatch.setenv("CAI_DESKTOP_CACHE", str(tmp_path / "cache"))

    def fake_convert(gguf, out, ctx=None):  # the real one takes a minute: the same reports, no weights
        ctx.progress(0, 3, f"reading {gguf.name}")
        ctx.progress(1, 3, "converting weights (once)")
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text("{}")
        ctx.progress(3, 3, "converted")

    monkeypatch.setattr(models, "convert_gguf", fake_convert)
    monkeypatch.setattr(models, "ensure_chat_template", lambda folder, template: None)
    ctx = Recorder()
    folder = models.embedded_model_dir(ctx)
    assert (folder / "config.json").exists()
    assert ctx.progress_calls and all(m.startswith("Preparing the embedded model (one time)…")
                                      for _d, _t, m in ctx.progress_calls)
    assert ctx.progress_calls[1] == (1, 3, "Preparing the embedded model (one time)… converting weights (once)")
    again = Recorder()
    assert models.embedded_model_dir(again) == folder and again.progress_calls == []  # once only


def test_the_deb_declares_the_libraries_the_platform_check_names():
    """Every Debian package the missing-library message can name for Qt's xcb plugin is a Depends
    of the .deb (or arrives with one: libxcb-* through libxcb1's siblings)."""
    import re

    from cai_desktop.ui.platform_check import PACKAGES

    control = (ROOT / "packaging" / "build_deb.sh").read_text()
    depends = set(re.findall(r"[a-z0-9.+-]+", re.search(r"^Depends: (.*)$", control, re.M).group(1)))
    must = {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0",
            "libxcb-randr0", "libxcb-shape0", "libxkbcommon-x11-0", "libegl1", "libgl1", "libfontconfig1",
            "libdbus-1-3"}
    assert must <= depends
    assert must <= {deb for deb, _rpm in PACKAGES.values()}


def test_desktop_entry_opens_the_window_with_a_project():
    entry = (ROOT / "packaging" / "cai-desktop.desktop").read_text()
    assert "Exec=cai-desktop gui %f" in entry and "Icon=cai-desktop" in entry
    from cai_desktop.cli import build_parser

    assert build_parser().parse_args(["gui", "x.caiproj"]).project == "x.caiproj"
