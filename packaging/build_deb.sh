#!/usr/bin/env bash
# Wrap the one-folder bundle (packaging/build.sh) into a .deb:
#   /opt/cai-desktop/           the bundle (CPU torch, starter files, the embedded model's GGUF)
#   /usr/bin/cai-desktop        -> /opt/cai-desktop/cai-desktop
#   /usr/share/applications/    the desktop entry; /usr/share/icons/hicolor/ the icon
# Depends: the system libraries Qt's xcb plugin and the bundle need on a clean Debian 12 root
# (found by packaging/test_install.sh with ldd inside a debootstrap root).
#   DIST=   folder holding cai-desktop/ (default dist)     OUT= where the .deb goes (default dist)
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
OUT=${OUT:-$DIST}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' cai_desktop/__init__.py)
ARCH=$(dpkg --print-architecture)
test -x "$DIST/cai-desktop/cai-desktop" || { echo "no bundle at $DIST/cai-desktop: run packaging/build.sh" >&2; exit 1; }
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/icons/hicolor/256x256/apps"
cp -a "$DIST/cai-desktop" "$STAGE/opt/cai-desktop"
ln -s /opt/cai-desktop/cai-desktop "$STAGE/usr/bin/cai-desktop"
install -m 644 packaging/cai-desktop.desktop "$STAGE/usr/share/applications/cai-desktop.desktop"
install -m 644 packaging/cai-desktop.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/cai-desktop.svg"
install -m 644 packaging/cai-desktop.png "$STAGE/usr/share/icons/hicolor/256x256/apps/cai-desktop.png"
SIZE_KB=$(du -sk "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: cai-desktop
Version: $VERSION
Architecture: $ARCH
Maintainer: CAI Desktop <cai-desktop@localhost>
Installed-Size: $SIZE_KB
Section: science
Priority: optional
Depends: libc6 (>= 2.36), libgl1, libegl1, libdrm2, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-randr0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libxkbcommon0, libxkbcommon-x11-0, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1
Description: Constitutional AI on one workstation
 A desktop workbench for Constitutional AI: write a constitution, let a small
 model critique and revise its answers, fine-tune it (SFT, DPO, PPO) and
 measure harm avoided, all on this computer. Ships the CPU build of torch and
 the embedded SmolLM2-135M-Instruct model, so it works offline.
CONTROL
mkdir -p "$OUT"
DEB="$OUT/cai-desktop_${VERSION}_${ARCH}.deb"
# zstd (dpkg >= 1.21.18: Debian 12, Ubuntu 21.10 and later): xz -z1 was 405 MB in 12 min on 2 busy
# cores, zstd -z6 was 465 MB in about 2 min
dpkg-deb --root-owner-group -Zzstd -z6 --build "$STAGE" "$DEB" >/dev/null
echo "deb: $DEB ($(du -h "$DEB" | cut -f1))"
