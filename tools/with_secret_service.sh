#!/usr/bin/env bash
# Usage: with_secret_service.sh <command...>
# Runs <command> inside a private D-Bus session bus with a freshly created, unlocked
# gnome-keyring Secret Service. Keyring files go to a throw-away folder, never to $HOME.
set -eu
KR_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fsxnat-keyring.XXXXXX")
mkdir -m 700 "$KR_TMP/data" "$KR_TMP/runtime"
export XDG_DATA_HOME="$KR_TMP/data" XDG_RUNTIME_DIR="$KR_TMP/runtime"
rc=0
dbus-run-session -- sh -c '
  eval "$(printf "ci" | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  export FSXNAT_SECRET_SERVICE=1
  exec "$@"
' sh "$@" 2> >(grep -v "Failed to set fd limit" >&2) || rc=$?
rm -rf "$KR_TMP"
exit $rc
