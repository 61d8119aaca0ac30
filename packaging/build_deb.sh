#!/usr/bin/env bash
# Build dist/fsxnat-gui_<version>_<arch>.deb from the bundle that packaging/build.sh made.
#
#   packaging/build.sh && packaging/build_deb.sh
#   FSXNAT_DEB_COMPRESS=gzip packaging/build_deb.sh     # zstd (default) or gzip
#
# zstd takes ~2 s here and needs dpkg >= 1.21.18 (Debian 12, Ubuntu 22.04) to install; gzip is
# readable by any dpkg but takes ~30 s on two cores.
#
# Layout: the bundle under /opt/fsxnat-gui, a /usr/bin/fsxnat-gui symlink, the .desktop file,
# hicolor icons and AppStream metainfo from resources/. No maintainer scripts: dpkg triggers of
# desktop-file-utils and hicolor-icon-theme refresh the menus and icon caches.
# xz compression is deliberately not offered: it takes minutes on two cores for ~200 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FSXNAT_BUILD_VENV:-.venv}
BUNDLE=dist/fsxnat-gui
COMPRESS=${FSXNAT_DEB_COMPRESS:-zstd}
case "$COMPRESS" in gzip | zstd) ;; *) echo "FSXNAT_DEB_COMPRESS must be gzip or zstd" >&2; exit 2 ;; esac
[ -x "$BUNDLE/fsxnat-gui" ] || { echo "build_deb.sh: no $BUNDLE; run packaging/build.sh first" >&2; exit 1; }

# Names and version from the single source (fsxnat_gui/__init__.py), without importing Qt.
read_name() {
  if [ -x "$VENV/bin/python" ]; then PY="$VENV/bin/python"; else PY=python3; fi
  "$PY" -c "import sys; sys.path.insert(0, '.'); import fsxnat_gui; print(fsxnat_gui.$1)"
}
APP_ID=$(read_name APP_ID)
APP_NAME=$(read_name APP_NAME)
VERSION=$(read_name __version__)
ARCH=$(dpkg --print-architecture)
DEB="dist/${APP_NAME}_${VERSION}_${ARCH}.deb"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/fsxnat-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
umask 022

# The bundle, /usr/bin launcher (relative link, so it also works from a `dpkg -x` root).
mkdir -p "$STAGE/opt" "$STAGE/usr/bin"
cp -a "$BUNDLE" "$STAGE/opt/$APP_NAME"
ln -s "../../opt/$APP_NAME/$APP_NAME" "$STAGE/usr/bin/$APP_NAME"

# Desktop integration.
install -D -m 644 "resources/$APP_ID.desktop" "$STAGE/usr/share/applications/$APP_ID.desktop"
sed -i -e "s|^Exec=$APP_NAME |Exec=/usr/bin/$APP_NAME |" -e "s|^TryExec=.*|TryExec=/usr/bin/$APP_NAME|" \
  "$STAGE/usr/share/applications/$APP_ID.desktop"
install -D -m 644 "resources/$APP_ID.metainfo.xml" "$STAGE/usr/share/metainfo/$APP_ID.metainfo.xml"
for png in resources/"$APP_ID"-*.png; do
  size=${png##*-}
  size=${size%.png}
  install -D -m 644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
install -D -m 644 "resources/$APP_ID.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
mkdir -p "$STAGE/usr/share/doc/$APP_NAME"
if [ -f LICENSE ]; then
  install -m 644 LICENSE "$STAGE/usr/share/doc/$APP_NAME/copyright"
else
  printf 'fsxnat-gui\nLicense: BSD-3-Clause\n' > "$STAGE/usr/share/doc/$APP_NAME/copyright"
fi
chmod -R u+rwX,go+rX,go-w "$STAGE"

# Runtime dependencies the bundle does not carry (reference/platform.md §4 and `ldd` on the
# bundle's xcb plugin): OpenGL/EGL (PyInstaller never bundles them), fontconfig's configuration,
# libxcb itself (the xcb-* helper libraries are bundled), and glibc at least as new as the newest
# symbol version any bundled file needs.
glibc=$(find "$STAGE/opt/$APP_NAME" -type f \( -name "*.so*" -o -name "$APP_NAME" \) -print0 \
  | xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | cut -d_ -f2)
DEPENDS="libc6 (>= ${glibc:-2.28}), libgl1, libegl1, libfontconfig1, libxcb1, libxkbcommon-x11-0"
installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)

mkdir -p "$STAGE/DEBIAN"
cat > "$STAGE/DEBIAN/control" <<EOF
Package: $APP_NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: fsxnat-gui developers <fsxnat-gui@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: $DEPENDS
Suggests: gnome-keyring
Section: science
Priority: optional
Description: Import FreeSurfer recon-all results into an XNAT archive
 FreeSurfer to XNAT uploads the results of FreeSurfer recon-all runs to an
 XNAT imaging archive, subject by subject, and verifies what the server stored
 against the local files. Passwords are kept in the desktop keyring (Secret
 Service, for example gnome-keyring).
 .
 This package ships a self-contained build (Python, Qt and all libraries
 included) under /opt/$APP_NAME.
EOF

start=$(date +%s)
mkdir -p dist
dpkg-deb --root-owner-group "-Z$COMPRESS" --build "$STAGE" "$DEB" >/dev/null
echo "build_deb.sh: $DEB ($(du -h "$DEB" | cut -f1), $COMPRESS, $(( $(date +%s) - start ))s)," \
  "installs $(( installed_kb / 1024 )) MB; Depends: $DEPENDS"
