#!/usr/bin/env bash
# The project's test command (`npm test`, README.md), in two steps:
#   1. outside any namespace (needs the network): install missing Debian packages, npm ci, build;
#   2. inside a private network namespace with only `lo`: lint, type-check, vitest.
# Arguments go to vitest; the environment (e.g. ASO_SOAK) passes through. The exit code is the suite's.
set -euo pipefail
cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.."

scripts/install-peers.sh
[[ -d node_modules ]] || npm ci
npm run build

exec scripts/in-netns.sh bash -c 'npm run lint && npm run typecheck && npx vitest run "$@"' vitest "$@"
