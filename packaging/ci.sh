#!/usr/bin/env bash
# Packaging CI: validate the desktop metadata, build the bundle and the .deb, and run both
# headless. Works on a fresh Debian 12 machine as root (or with sudo), non-interactively.
#
#   packaging/ci.sh          # ~1.5-3 min on 2 cores once apt and pip have their packages
#
# Steps (each timed; any failure stops the script with a non-zero exit):
#   1. apt packages: the dev set (./dev.sh setup: Qt runtime libraries, Xvfb, gnome-keyring, the
#      venv) plus desktop-file-utils, appstream and binutils (PyInstaller needs objdump/readelf)
#   2. resources/: desktop-file-validate, appstreamcli validate, icon exports complete
#   3. packaging/build.sh -> dist/fsxnat-gui/, checked for size (FSXNAT_MAX_BUNDLE_MB, 200) and for
#      things that must not be in it
#   4. the bundle headless: --bundle-check and --smoke-test offscreen (inside a private Secret
#      Service session when gnome-keyring is available), and --smoke-test on xcb under Xvfb
#   5. packaging/build_deb.sh -> dist/fsxnat-gui_<version>_<arch>.deb; apt resolves its Depends;
#      `dpkg -x` into a throw-away root; the installed metadata validated; --bundle-check and
#      --smoke-test from <root>/opt/fsxnat-gui/fsxnat-gui and through <root>/usr/bin/fsxnat-gui
# The app never sees the real HOME: every run gets a temporary HOME and XDG folders.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
MAX_MB=${FSXNAT_MAX_BUNDLE_MB:-200}
APT_PKGS="desktop-file-utils appstream binutils"
BUNDLE=dist/fsxnat-gui
EXE=$BUNDLE/fsxnat-gui

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fsxnat-packaging-ci.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'echo "packaging/ci.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
T0=$(date +%s)
declare -a SUMMARY=()
step() { echo; echo "=== $* ($(( $(date +%s) - T0 ))s)"; }
note() { SUMMARY+=("$*"); echo "$*"; }

# Run the application with a throw-away HOME and XDG folders: $1 = label, rest = command.
run_app() {
  local label=$1 home
  shift
  home=$(mktemp -d "$TMP/home.XXXXXX")
  echo "--- $label: $*"
  HOME=$home XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data XDG_CACHE_HOME=$home/cache \
    XDG_RUNTIME_DIR=$home/runtime timeout 180 "$@"
}

# The checks every build gets, from a bundle executable $1. The offscreen runs happen inside a
# private D-Bus session with an unlocked gnome-keyring when one can be had (./dev.sh installs
# it), where the bundle must pick the Secret Service backend.
check_bundle() {
  local exe=$1 where=$2
  local -a kr=()
  if command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null; then
    kr=(env FSXNAT_EXPECT_KEYRING=keyring.backends.SecretService tools/with_secret_service.sh)
  fi
  run_app "$where: bundle check (offscreen)" env QT_QPA_PLATFORM=offscreen "${kr[@]}" \
    "$exe" --bundle-check
  run_app "$where: smoke test (offscreen)" env QT_QPA_PLATFORM=offscreen "${kr[@]}" \
    "$exe" --smoke-test
  if command -v xvfb-run >/dev/null; then
    run_app "$where: smoke test (xcb, Xvfb)" xvfb-run -a -s "-screen 0 1280x1024x24" \
      env QT_QPA_PLATFORM=xcb "$exe" --smoke-test
  fi
}

step "1. system packages and the venv"
./dev.sh setup
missing=()
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PY=${FSXNAT_BUILD_VENV:-.venv}/bin/python

step "2. desktop metadata and icons in resources/"
APP_ID=$("$PY" -c "import fsxnat_gui; print(fsxnat_gui.APP_ID)")
desktop-file-validate "resources/$APP_ID.desktop"
appstreamcli validate --no-net --pedantic "resources/$APP_ID.metainfo.xml"
"$PY" packaging/export_icons.py --check
note "metadata: desktop-file-validate OK; appstreamcli validate OK; icon exports complete"

step "3. the bundle"
t=$(date +%s)
packaging/build.sh
build_s=$(( $(date +%s) - t ))
size_mb=$(du -sm "$BUNDLE" | cut -f1)
files=$(find "$BUNDLE" -type f | wc -l)
note "bundle: $BUNDLE, $(du -sh "$BUNDLE" | cut -f1) unpacked ($size_mb MiB), $files files, built in ${build_s}s"
if [ "$size_mb" -gt "$MAX_MB" ]; then
  echo "packaging/ci.sh: the bundle is $size_mb MiB, over the $MAX_MB MiB budget" >&2
  exit 1
fi
unwanted=$(find "$BUNDLE" \( -name 'libQt6Quick*' -o -name 'libQt6Qml*' -o -name 'libQt6WebEngine*' \
  -o -name 'libQt6Pdf*' -o -name 'libqtvirtualkeyboardplugin*' -o -name 'libgtk-3*' \
  -o -name 'libqgtk3*' -o -path '*/pytest*' -o -path '*/_tkinter*' \) -print)
if [ -n "$unwanted" ]; then
  echo "packaging/ci.sh: the bundle contains what it should not:" >&2
  echo "$unwanted" >&2
  exit 1
fi
if find "$BUNDLE" -xtype l | grep -q .; then
  echo "packaging/ci.sh: dangling symlinks in the bundle:" >&2
  find "$BUNDLE" -xtype l >&2
  exit 1
fi

step "4. the bundle, headless"
check_bundle "$EXE" "bundle"
note "bundle: --bundle-check and --smoke-test passed"

step "5. the .deb"
t=$(date +%s)
packaging/build_deb.sh
deb_s=$(( $(date +%s) - t ))
version=$("$PY" -c "import fsxnat_gui; print(fsxnat_gui.__version__)")
DEB=dist/fsxnat-gui_${version}_$(dpkg --print-architecture).deb
note "deb: $DEB, $(du -h "$DEB" | cut -f1), built in ${deb_s}s"
# Every Depends must resolve on this distribution (simulated install, nothing is changed).
apt-get install -s -qq "./$DEB" >/dev/null
ROOT_DIR="$TMP/root"
dpkg -x "$DEB" "$ROOT_DIR"
desktop-file-validate "$ROOT_DIR/usr/share/applications/$APP_ID.desktop"
appstreamcli validate-tree --no-net "$ROOT_DIR"
for f in usr/bin/fsxnat-gui "usr/share/icons/hicolor/scalable/apps/$APP_ID.svg" \
  "usr/share/icons/hicolor/48x48/apps/$APP_ID.png" "usr/share/metainfo/$APP_ID.metainfo.xml"; do
  [ -e "$ROOT_DIR/$f" ] || { echo "packaging/ci.sh: $f is missing from the .deb" >&2; exit 1; }
done
check_bundle "$ROOT_DIR/opt/fsxnat-gui/fsxnat-gui" "deb /opt"
run_app "deb /usr/bin link: smoke test (offscreen)" env QT_QPA_PLATFORM=offscreen \
  "$ROOT_DIR/usr/bin/fsxnat-gui" --smoke-test
note "deb: dependencies resolve; metadata validates; smoke tests passed from a dpkg -x root"

echo
echo "=== packaging/ci.sh passed in $(( $(date +%s) - T0 ))s"
printf '  %s\n' "${SUMMARY[@]}"
