#!/usr/bin/env bash
# macOS: wrap the one-folder bundle (packaging/build.sh run on a Mac: dist/cai-desktop) into
# "CAI Desktop.app" and a .dmg with hdiutil (part of macOS). Unsigned: Gatekeeper asks once
# (right-click → Open). Not run in this project's environment (Linux only); the CI workflow
# .github/workflows/packages.yml runs it on a macOS runner.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIST=${DIST:-dist}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' cai_desktop/__init__.py)
APP="$DIST/CAI Desktop.app"
rm -rf "$APP" && mkdir -p "$APP/Contents/MacOS" "$APP/Contents/Resources"
cp -R "$DIST/cai-desktop/." "$APP/Contents/MacOS/"
cat > "$APP/Contents/MacOS/CAI Desktop" <<'SH'
#!/bin/sh
exec "$(dirname "$0")/cai-desktop" gui "$@"
SH
chmod +x "$APP/Contents/MacOS/CAI Desktop"
cat > "$APP/Contents/Info.plist" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>CFBundleName</key><string>CAI Desktop</string>
  <key>CFBundleIdentifier</key><string>org.cai-desktop.app</string>
  <key>CFBundleVersion</key><string>$VERSION</string>
  <key>CFBundleShortVersionString</key><string>$VERSION</string>
  <key>CFBundleExecutable</key><string>CAI Desktop</string>
  <key>CFBundleIconFile</key><string>cai-desktop.icns</string>
  <key>LSMinimumSystemVersion</key><string>12.0</string>
  <key>NSHighResolutionCapable</key><true/>
</dict></plist>
PLIST
if command -v sips >/dev/null && command -v iconutil >/dev/null; then
    ICONSET=$(mktemp -d)/cai-desktop.iconset && mkdir -p "$ICONSET"
    for s in 16 32 128 256; do sips -z $s $s packaging/cai-desktop.png --out "$ICONSET/icon_${s}x${s}.png" >/dev/null; done
    iconutil -c icns "$ICONSET" -o "$APP/Contents/Resources/cai-desktop.icns"
fi
DMG="$DIST/CAI-Desktop-$VERSION.dmg"
rm -f "$DMG"
STAGE=$(mktemp -d) && cp -R "$APP" "$STAGE/" && ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "CAI Desktop" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
echo "dmg: $DMG"
