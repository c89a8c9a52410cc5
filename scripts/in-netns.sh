#!/usr/bin/env bash
# Runs a command inside a private network namespace with only `lo` up (docs/storage-notes.md §0: no reverse-DNS
# stalls, no port clashes, no traffic can leave). As root: `unshare -n`. As a normal user: a user namespace
# maps us to uid 0 to bring `lo` up, then a nested one maps back to our own uid (xrootd refuses uid 0).
# Without namespaces: runs the command as is, with a warning.
set -euo pipefail
if [[ $(id -u) -eq 0 ]]; then
  if unshare -n -- true 2>/dev/null; then
    exec unshare -n -- bash -c 'ip link set lo up && exec "$@"' netns "$@"
  fi
  echo "in-netns: WARNING: cannot create a network namespace (unshare -n failed); running without one" >&2
elif unshare -rn -- true 2>/dev/null; then
  exec unshare -rn -- bash -c 'ip link set lo up && exec unshare --map-user="$1" --map-group="$2" -- "${@:3}"' \
    netns "$(id -u)" "$(id -g)" "$@"
else
  echo "in-netns: WARNING: cannot create a network namespace (unshare -rn failed); running without one:" \
    "XRootD calls may stall 5 s on reverse-DNS look-ups" >&2
fi
exec "$@"
