#!/usr/bin/env bash
# The project's test command (`npm test`), in two steps (CONVENTIONS.md "Tests"):
#   1. outside any namespace (needs the network): install missing Debian packages, npm ci, build;
#   2. inside a private network namespace with only `lo` (no reverse-DNS stalls, no port clashes):
#      lint, type-check, vitest. Arguments go to vitest; the environment (e.g. ASO_SOAK) passes through.
# The exit code is the suite's.
set -euo pipefail

SELF="$(realpath "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."

run_suite() {
  npm run lint && npm run typecheck && npx vitest run "$@"
}

# Re-entry inside the namespace (see below).
if [[ "${ASO_TEST_IN_NETNS:-}" == 1 ]]; then
  unset ASO_TEST_IN_NETNS
  run_suite "$@"
  exit $?
fi

scripts/install-peers.sh
[[ -d node_modules ]] || npm ci
npm run build

export ASO_TEST_IN_NETNS=1
if [[ $(id -u) -eq 0 ]]; then
  if unshare -n -- true 2>/dev/null; then
    exec unshare -n -- bash -c 'ip link set lo up && exec "$0" "$@"' "$SELF" "$@"
  fi
  echo "test.sh: WARNING: cannot create a network namespace (unshare -n failed); running without one" >&2
elif unshare -rn -- true 2>/dev/null; then
  # A user namespace makes us uid 0, and xrootd refuses to run as root; so, once lo is up, map back
  # to our own uid in a nested user namespace (the network namespace stays the same).
  exec unshare -rn -- bash -c 'ip link set lo up && exec unshare --map-user="$1" --map-group="$2" -- "${@:3}"' \
    netns "$(id -u)" "$(id -g)" "$SELF" "$@"
else
  echo "test.sh: WARNING: cannot create a network namespace (unshare -rn failed); running without one:" \
    "XRootD calls may stall 5 s on reverse-DNS look-ups" >&2
fi
unset ASO_TEST_IN_NETNS
run_suite "$@"
