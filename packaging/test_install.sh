#!/usr/bin/env bash
# Build the .deb and test it on a clean Debian 12 root (debootstrap --variant=minbase), as root:
#   1. the bundle without its package dependencies: starting the window must print the
#      missing-library message (not Qt's abort) and exit 3;
#   2. `apt-get install ./cai-desktop_*.deb` inside the root (its Depends come from Debian);
#   3. `cai-desktop --version`; a project with the starter files and a one-prompt critique job on the
#      embedded model, offline (HF_HUB_OFFLINE=1): the first start converts the model once;
#   4. the window under Xvfb inside the root; its screen saved as $OUT/screenshot.png.
# Prints the package size, install time and first-start time.
#   SKIP_BUILD=1   reuse $DIST/cai-desktop and the .deb      KEEP_ROOT=1  leave the root in place
#   DIST= (dist)   WORK= (build/pyinstaller)   ROOT= (/tmp/cai-cleanroot)   OUT= (dist/test-install)
#   CACHE= where the debootstrap tarball is kept (/tmp/cai-debootstrap)
#   MIRROR= (http://deb.debian.org/debian)   SUITE= (bookworm)
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
WORK=${WORK:-build/pyinstaller}
ROOT=${ROOT:-/tmp/cai-cleanroot}
OUT=${OUT:-$DIST/test-install}
CACHE=${CACHE:-/tmp/cai-debootstrap}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and chroot)" >&2; exit 1; }
mkdir -p "$OUT" "$CACHE"
step() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    step "building the bundle and the .deb"
    DIST=$DIST WORK=$WORK bash packaging/build.sh
    DIST=$DIST bash packaging/build_deb.sh
fi
DEB=$(ls -t "$DIST"/cai-desktop_*.deb | head -1)

step "clean root: $SUITE minbase in $ROOT"
TARBALL=$CACHE/$SUITE-minbase.tgz
if [ ! -s "$TARBALL" ]; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    rm -rf "$CACHE/base"
    debootstrap --variant=minbase "$SUITE" "$CACHE/base" "$MIRROR"
    tar -C "$CACHE/base" -czf "$TARBALL" . && rm -rf "$CACHE/base"
fi
cleanup() {
    for m in dev/pts dev proc; do umount -l "$ROOT/$m" 2>/dev/null || true; done
    [ "${KEEP_ROOT:-0}" = 1 ] || rm -rf "$ROOT"
}
trap cleanup EXIT
rm -rf "$ROOT" && mkdir -p "$ROOT" && tar -C "$ROOT" -xzf "$TARBALL"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    HF_HUB_OFFLINE=1 "$@"; }

step "1. the bundle without its dependencies explains what is missing"
mkdir -p "$ROOT/tmp/nodeps" && dpkg -x "$DEB" "$ROOT/tmp/nodeps"
set +e
in_root DISPLAY=:99 /tmp/nodeps/opt/cai-desktop/cai-desktop > "$OUT/missing-libs.txt" 2>&1
rc=$?
set -e
cat "$OUT/missing-libs.txt"
if [ "$rc" != 3 ] || ! grep -q "sudo apt install" "$OUT/missing-libs.txt" || grep -q "Traceback\|Aborted" "$OUT/missing-libs.txt"; then
    echo "FAIL: expected the missing-library message and exit 3 (got $rc)" >&2; exit 1
fi
rm -rf "$ROOT/tmp/nodeps"

step "2. apt-get install $(basename "$DEB")"
cp "$DEB" "$ROOT/tmp/"
in_root apt-get update -qq
t0=$(now)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/tmp/$(basename "$DEB")" > "$OUT/apt.log" 2>&1 \
    || { tail -20 "$OUT/apt.log"; exit 1; }
t1=$(now)
INSTALL_S=$(secs "$t0" "$t1")
NEW_PKGS=$(grep -c '^Setting up' "$OUT/apt.log" || true)

step "3. --version, a project, a one-prompt job on the embedded model (first start)"
in_root cai-desktop --version | tee "$OUT/version.txt"
grep -q "^cai-desktop " "$OUT/version.txt"
t0=$(now)
in_root cai-desktop project init /root/first.caiproj --starter
in_root cai-desktop run critique /root/first.caiproj --limit 1 --revisions 1 --max-new-tokens 24 \
    --critique-max-new-tokens 24 2>&1 | tee "$OUT/first-job.txt"
t1=$(now)
FIRST_S=$(secs "$t0" "$t1")
in_root cai-desktop project info /root/first.caiproj | tee "$OUT/project-info.txt"
t0=$(now)
in_root cai-desktop run critique /root/first.caiproj --limit 2 --revisions 1 --max-new-tokens 24 \
    --critique-max-new-tokens 24 > "$OUT/second-job.txt" 2>&1
t1=$(now)
SECOND_S=$(secs "$t0" "$t1")

step "4. the window under Xvfb inside the root"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth > "$OUT/apt-xvfb.log" 2>&1
mkdir -p "$ROOT/tmp/fb"
chroot "$ROOT" /bin/sh -c 'Xvfb :99 -screen 0 1400x900x24 -fbdir /tmp/fb -nolisten tcp >/tmp/xvfb.log 2>&1 & echo $! > /tmp/xvfb.pid'
sleep 2
t0=$(now)
chroot "$ROOT" /bin/sh -c 'cd /root && DISPLAY=:99 HOME=/root HF_HUB_OFFLINE=1 cai-desktop gui /root/first.caiproj >/tmp/gui.log 2>&1 & echo $! > /tmp/gui.pid'
WAIT=${GUI_WAIT:-45}
sleep "$WAIT"
GUI_ALIVE=no
chroot "$ROOT" /bin/sh -c 'kill -0 $(cat /tmp/gui.pid)' 2>/dev/null && GUI_ALIVE=yes
cp "$ROOT/tmp/fb/Xvfb_screen0" "$OUT/screen.xwd"
convert "xwd:$OUT/screen.xwd" "$OUT/screenshot.png" 2>/dev/null || python3 - "$OUT" <<'PY' || true
import sys; print("(no ImageMagick here: the screen is in", sys.argv[1] + "/screen.xwd)")
PY
rm -f "$OUT/screen.xwd"
cat "$ROOT/tmp/gui.log" > "$OUT/gui.log" || true
chroot "$ROOT" /bin/sh -c 'kill $(cat /tmp/gui.pid) 2>/dev/null; sleep 2; kill $(cat /tmp/xvfb.pid) 2>/dev/null' || true
[ "$GUI_ALIVE" = yes ] || { echo "FAIL: the window exited; log:" >&2; cat "$OUT/gui.log" >&2; exit 1; }

DEB_MB=$(du -m "$DEB" | cut -f1)
INST_MB=$(du -sm "$ROOT/opt/cai-desktop" | cut -f1)
step "figures"
{
    echo "package: $(basename "$DEB")  ${DEB_MB} MB (.deb), ${INST_MB} MB installed in /opt/cai-desktop"
    echo "install: ${INSTALL_S} s for apt-get install (with ${NEW_PKGS} packages set up, downloads included)"
    echo "first start: ${FIRST_S} s for project init + a one-prompt critique job (embedded model converted once)"
    echo "second job: ${SECOND_S} s for one more prompt (model already converted)"
    echo "window: running after ${WAIT} s under Xvfb; screenshot: $OUT/screenshot.png"
} | tee "$OUT/figures.txt"
echo "PASS"
