"""Before the window opens: can Qt's X11 (xcb) platform plugin load on this system?

Qt 6.5+ needs a handful of X11 libraries the base install of many Linux systems lacks
(libxcb-cursor0, libxcb-icccm4, ...). Without them Qt aborts with its own message, one missing
library at a time. This module reads the libraries the plugin and the bundled Qt libraries
need (their ELF ``DT_NEEDED`` entries, without loading Qt), tries to load every one that does not
ship with PySide6, and names all the missing ones at once with the commands that install them.

No PySide6 import here: the check must run before anything Qt is loaded.
``python -m cai_desktop.ui.platform_check`` runs it alone (``make run`` does, before starting).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import struct
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

#: soname -> (Debian/Ubuntu package, Fedora package) for the libraries Qt's xcb plugin needs
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXrender.so.1": ("libxrender1", "libXrender"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so`` (in a checkout's venv or inside the frozen bundle), found without
    importing PySide6."""
    bases = []
    spec = importlib.util.find_spec("PySide6")
    if spec and spec.submodule_search_locations:
        bases += [Path(p) for p in spec.submodule_search_locations]
    if getattr(sys, "_MEIPASS", None):
        bases.append(Path(sys._MEIPASS) / "PySide6")
    for base in bases:
        for sub in ("Qt/plugins/platforms", "plugins/platforms"):
            if (base / sub / "libqxcb.so").is_file():
                return base / sub / "libqxcb.so"
    return None


def elf_needed(path: Path) -> list[str]:
    """The ``DT_NEEDED`` sonames of a 64- or 32-bit little-endian ELF file (empty if unreadable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if data[:4] != b"\x7fELF" or data[5] != 1:  # little-endian only (x86-64, aarch64)
        return []
    is64 = data[4] == 2
    if is64:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, stype, _, _, soff, ssize, link = struct.unpack_from("<IIQQQQI", data, off)
        else:
            _, stype, _, _, soff, ssize, link = struct.unpack_from("<IIIIIII", data, off)
        sections.append((stype, soff, ssize, link))
    names: list[str] = []
    for stype, soff, ssize, link in sections:
        if stype != 6 or link >= len(sections):  # SHT_DYNAMIC
            continue
        _, stroff, _, _ = sections[link]
        fmt, step = ("<qQ", 16) if is64 else ("<iI", 8)
        for off in range(soff, soff + ssize, step):
            tag, val = struct.unpack_from(fmt, data, off)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", stroff + val)
                names.append(data[stroff + val:end].decode("ascii", "replace"))
    return names


def _can_load(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def missing_libraries(plugin: Path, can_load: Callable[[str], bool] = _can_load,
                      needed: Callable[[Path], list[str]] = elf_needed) -> list[str]:
    """The system libraries ``plugin`` needs (directly or through the Qt libraries shipped beside it)
    that cannot be loaded, in the order they were met."""
    qt_lib = plugin.parent.parent.parent / "lib"  # PySide6/Qt/plugins/platforms -> PySide6/Qt/lib
    shipped = {p.name: p for d in (qt_lib, plugin.parent.parent.parent.parent) if d.is_dir()
               for p in d.glob("*.so*")}
    seen: set[str] = set()
    missing: list[str] = []
    todo = [plugin]
    while todo:
        for name in needed(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if name in shipped:
                todo.append(shipped[name])
            elif not can_load(name):
                missing.append(name)
    return missing


def debian_name(soname: str) -> str:
    """Debian's usual package name for a library: ``libfoo.so.6`` -> ``libfoo6``,
    ``libfoo-x11.so.0`` -> ``libfoo-x11-0``."""
    stem, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    stem = stem.lower()
    return stem + ("-" if stem[-1:].isdigit() and major else "") + major


def install_message(missing: list[str]) -> str:
    """One message: which libraries are missing and the commands (Debian/Ubuntu, Fedora) that
    install them."""
    deb, rpm = [], []
    for name in missing:
        d, f = PACKAGES.get(name) or (debian_name(name), f"'{name}()(64bit)'")
        deb += [d] if d not in deb else []
        rpm += [f] if f not in rpm else []
    return (
        "CAI Desktop cannot open its window: Qt's X11 platform plugin (xcb) needs system libraries "
        f"that are not installed: {', '.join(missing)}.\n"
        "Install them, then start CAI Desktop again:\n"
        f"  Debian/Ubuntu:  sudo apt install {' '.join(deb)}\n"
        f"  Fedora:         sudo dnf install {' '.join(rpm)}\n"
        "The commands without a window work as they are (cai-desktop run ..., cai-desktop demo)."
    )


def check_display(env: Mapping[str, str] | None = None, plugin: Path | None = None,
                  can_load: Callable[[str], bool] = _can_load) -> str | None:
    """A message saying why the window cannot open on this system, or None when it can (or when
    this check does not apply: another platform plugin chosen, not Linux, no display)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, ...: Qt's own plugin choice, not checked here
    if not env.get("DISPLAY"):
        if platform or env.get("WAYLAND_DISPLAY"):
            return None  # a Wayland session: Qt picks its wayland plugin first
        return ("CAI Desktop cannot open its window: no display was found (DISPLAY is not set). "
                "Start it from a desktop session, or use the commands without a window "
                "(cai-desktop run ..., cai-desktop demo).")
    plugin = plugin or plugin_path()
    if plugin is None:
        return None  # no xcb plugin in this Qt build: nothing to check
    missing = missing_libraries(plugin, can_load)
    return install_message(missing) if missing else None


def main() -> int:
    message = check_display()
    if message:
        print(message, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
