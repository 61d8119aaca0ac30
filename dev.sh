#!/usr/bin/env bash
# fsxnat-gui developer entry point. Two commands do all the set-up on a fresh Debian/Ubuntu machine:
#   ./dev.sh run [app options]   install everything, then start the application
#                                (with a local demo XNAT and sample subjects when no server is configured)
#   ./dev.sh test [pytest args]  install everything, then run the test suite under Xvfb with a private
#                                Secret Service keyring (the command CI runs)
# Other sub-commands: setup (install only), server (the local XNAT with sample data), bench, lint,
# screenshot (docs/screenshot.png from the real window under Xvfb).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${FSXNAT_VENV:-.venv}
PY="$VENV/bin/python"

# Runtime libraries of Qt (offscreen + xcb), Xvfb, and a Secret Service for the keyring tests
# (reference/platform.md, "Recommended CI steps").
APT_PKGS="libglib2.0-0 libgl1 libegl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libxkbcommon0
  libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1
  libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 xvfb xauth dbus gnome-keyring
  slurmctld slurmd slurm-client munge"
# (the last line: a real single-node SLURM for the cluster tests, cluster-and-lab.md §1)

install_apt() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=() p
  for p in $APT_PKGS "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages (once): ${missing[*]}..."
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local stamp="$VENV/.fsxnat-installed" # pip is quick and quiet once this is newer than pyproject
  if [ ! -x "$PY" ]; then
    echo "Creating the Python environment in $VENV and installing fsxnat-gui" \
      "(first run: about a minute)..."
    python3 -m venv "$VENV"
  elif [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing fsxnat-gui and its dependencies into $VENV..."
  fi
  local log="$VENV/pip-install.log"
  if ! { "$PY" -m pip install -q --upgrade pip && "$PY" -m pip install -q -e ".[test]"; } >"$log" 2>&1
  then
    grep -v "^WARNING: Location" "$log" >&2
    echo "pip install failed (full log: $log)" >&2
    exit 1
  fi
  "$PY" -c "import fsxnat_gui, PySide6, pyxnat, keyring" # fail loudly if the install did not work
  # pyxnat pulls in the obsolete PyPI 'pathlib' backport, which blocks PyInstaller (pyxnat.md §0).
  "$PY" -m pip uninstall -y -q pathlib >/dev/null 2>&1 || true
  touch "$stamp"
}

setup() {
  install_apt "$@"
  install_python
}

cmd=${1:-run}
shift || true
case "$cmd" in
  setup)
    setup
    ;;
  run)
    setup
    exec "$VENV/bin/fsxnat-gui" "$@"
    ;;
  server)
    # The local XNAT-compatible server (admin:admin) and sample subjects in demo-data/, for trying
    # the command line: .venv/bin/fsxnat import demo-data/subjects --server URL --user admin ...
    setup
    [ -d demo-data/subjects ] || "$PY" -c \
      "import sys; from fsxnat_gui.samples import make_demo_subjects_dir as m; m(sys.argv[1])" \
      demo-data/subjects
    echo "Sample subjects: demo-data/subjects (synthetic, not real FreeSurfer output)"
    exec "$VENV/bin/fsxnat-localxnat" --root demo-data/archive "$@"
    ;;
  test)
    setup
    export QT_QPA_PLATFORM=xcb
    rc=0
    xvfb-run -a -s "-screen 0 1280x1024x24" tools/with_secret_service.sh \
      "$PY" -m pytest -p no:cacheprovider "$@" || rc=$?
    case $rc in
      0) echo "pytest exited 0" ;;
      5) echo "pytest collected no test: failing" >&2; exit 1 ;;
      *) echo "pytest exited $rc: failing" >&2; exit "$rc" ;;
    esac
    ;;
  bench)
    setup zip
    exec "$PY" benchmarks/run_all.py "$@"
    ;;
  screenshot)
    setup
    exec xvfb-run -a -s "-screen 0 1280x900x24" env QT_QPA_PLATFORM=xcb "$PY" tools/screenshot.py
    ;;
  lint)
    setup
    exec "$VENV/bin/ruff" check .
    ;;
  *)
    echo "usage: ./dev.sh run|test|setup|server|bench|lint|screenshot [args]" >&2
    exit 2
    ;;
esac
