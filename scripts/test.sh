#!/usr/bin/env bash
# The project's test command (`npm test`, README.md), in two steps:
#   1. outside any namespace (needs the network): install missing Debian packages, npm ci, build, and the copies
#      of the tree under Node.js 22 and 24 (scripts/node-smoke.sh);
#   2. inside a private network namespace with only `lo`: lint, type-check, vitest.
# Arguments go to vitest; the environment (e.g. ASO_SOAK) passes through. The exit code is the suite's.
set -euo pipefail
cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.."

scripts/install-peers.sh
[[ -d node_modules ]] || npm ci
npm run build
# Node.js 22 and 24 beside the machine's: node@MAJOR from the registry, a copy of the tree, npm ci and build under
# each (cached in $ASO_NODE_SMOKE_CACHE). It needs the network, so it starts here, and runs while the suite does
# (minutes of npm ci and native compiles on a fresh machine); test/e2e/node-versions.test.ts waits until a
# version's status is no longer "preparing", then runs its smoke inside the namespace
export ASO_NODE_SMOKE_CACHE="${ASO_NODE_SMOKE_CACHE:-${TMPDIR:-/tmp}/aso-node-smoke}"
mkdir -p "$ASO_NODE_SMOKE_CACHE"
for major in 22 24; do echo "preparing" >"$ASO_NODE_SMOKE_CACHE/status-$major"; done
scripts/node-smoke.sh prepare 22 24 >"$ASO_NODE_SMOKE_CACHE/prepare.log" 2>&1 &

exec scripts/in-netns.sh bash -c 'npm run lint && npm run typecheck && npx vitest run "$@"' vitest "$@"
