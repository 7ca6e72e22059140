"""The first start explains a missing Qt platform library instead of Qt's abort."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cai_desktop.ui import platform_check as pc

PLUGIN = pc.plugin_path()
needs_plugin = pytest.mark.skipif(PLUGIN is None or not sys.platform.startswith("linux"),
                                  reason="PySide6 without its xcb plugin (not Linux)")


@needs_plugin
def test_reads_the_libraries_the_real_xcb_plugin_needs():
    needed = pc.elf_needed(PLUGIN)
    assert "libQt6XcbQpa.so.6" in needed and "libxcb-cursor.so.0" in needed
    assert pc.elf_needed(Path(__file__)) == []  # not an ELF file: nothing, no error


@needs_plugin
def test_a_missing_xcb_library_gives_one_message_with_both_install_commands():
    gone = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    message = pc.check_display({"DISPLAY": ":0"}, PLUGIN, can_load=lambda name: name not in gone)
    assert message is not None
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in message
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4\n" in message
    assert "sudo dnf install xcb-util-cursor xcb-util-wm\n" in message
    assert "Traceback" not in message


@needs_plugin
def test_a_library_the_real_loader_cannot_find_is_named(tmp_path):
    """A plugin folder without the Qt libraries beside it: the real dlopen fails for them."""
    platforms = tmp_path / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    shutil.copy(PLUGIN, platforms / "libqxcb.so")
    missing = pc.missing_libraries(platforms / "libqxcb.so")
    assert "libQt6XcbQpa.so.6" in missing
    message = pc.install_message(missing)
    assert "'libQt6XcbQpa.so.6()(64bit)'" in message and "libqt6xcbqpa6" in message


def test_unknown_libraries_get_debian_style_names():
    assert pc.debian_name("libfoo.so.6") == "libfoo6"
    assert pc.debian_name("libfoo-x11.so.0") == "libfoo-x11-0"


def test_no_check_for_other_platforms_and_a_message_without_a_display(tmp_path):
    never = tmp_path / "absent.so"
    assert pc.check_display({"QT_QPA_PLATFORM": "offscreen"}, never) is None
    assert pc.check_display({"WAYLAND_DISPLAY": "wayland-0"}, never) is None
    if sys.platform.startswith("linux"):
        assert "no display was found" in pc.check_display({}, never)


@needs_plugin
def test_all_present_means_no_message():
    assert pc.check_display({"DISPLAY": ":0"}, PLUGIN, can_load=lambda name: True) is None


def test_run_app_prints_the_message_and_exits_non_zero(monkeypatch, capsys):
    from cai_desktop.ui import app

    monkeypatch.setattr(pc, "check_display", lambda: "CAI Desktop cannot open its window: test")
    assert app.run_app() == 3
    assert "cannot open its window: test" in capsys.readouterr().err


def test_the_module_runs_alone_as_make_run_does():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "cai_desktop.ui.platform_check"], env=env,
                          capture_output=True, text=True, timeout=60)
    if sys.platform.startswith("linux"):
        assert done.returncode == 3 and "no display was found" in done.stderr
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([sys.executable, "-m", "cai_desktop.ui.platform_check"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
