#!/usr/bin/env bash
# Build the one-folder application bundle on Linux: dist/fsxnat-gui/fsxnat-gui
#
#   packaging/build.sh            # uses $FSXNAT_BUILD_VENV, default: the project's .venv
#   FSXNAT_BUILD_VENV=.venv-build packaging/build.sh    # a separate build venv (created if missing)
#
# Installs the project with its "packaging" extra (PyInstaller) into the venv, removes pyxnat's
# obsolete 'pathlib' backport (PyInstaller refuses to run while it is installed), runs the spec,
# and prints the bundle's size and file count. Also writes dist/fsxnat-gui-<version>-linux-<arch>.tar.gz
# when FSXNAT_TARBALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FSXNAT_BUILD_VENV:-.venv}
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  echo "build.sh: creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$PY" -c "import fsxnat_gui, PySide6, pyxnat, keyring" 2>/dev/null; then
  echo "build.sh: installing the project with its packaging extra into $VENV"
  "$PY" -m pip install -q --upgrade pip 2>/dev/null || true
  "$PY" -m pip install -q ".[packaging]" 2>&1 | grep -v "^WARNING: Location" || true
elif ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  # The project is already installed (the dev venv, editable): add only the packaging extra's
  # requirements, read from pyproject.toml, rather than reinstalling the project over it.
  reqs=$("$PY" -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'));
print('\n'.join(d['project']['optional-dependencies']['packaging']))")
  echo "build.sh: installing $(echo "$reqs" | tr '\n' ' ')into $VENV"
  echo "$reqs" | xargs -d '\n' "$PY" -m pip install -q 2>&1 | grep -v "^WARNING: Location" || true
fi
# pyxnat depends on the PyPI 'pathlib' backport, which shadows the standard library and blocks
# PyInstaller ("The 'pathlib' package is an obsolete backport ..."). Remove it (harmless: Python 3
# has pathlib built in).
"$PY" -m pip uninstall -y -q pathlib >/dev/null 2>&1 || true
"$PY" -c "import PyInstaller" # fail loudly if the install did not work

version=$("$PY" -c "import fsxnat_gui; print(fsxnat_gui.__version__)")
start=$(date +%s)
rm -rf dist/fsxnat-gui
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/fsxnat_gui.spec
elapsed=$(( $(date +%s) - start ))

exe=dist/fsxnat-gui/fsxnat-gui
[ -x "$exe" ] || { echo "build.sh: $exe was not produced" >&2; exit 1; }
size=$(du -sh dist/fsxnat-gui | cut -f1)
files=$(find dist/fsxnat-gui -type f | wc -l)
echo "build.sh: built fsxnat-gui $version in ${elapsed}s: dist/fsxnat-gui, $size unpacked, $files files"

if [ "${FSXNAT_TARBALL:-0}" = 1 ]; then
  tarball="dist/fsxnat-gui-$version-linux-$(uname -m).tar.gz"
  tar -C dist -czf "$tarball" fsxnat-gui
  echo "build.sh: $tarball $(du -h "$tarball" | cut -f1)"
fi
