#!/usr/bin/env bash
# `npm run bench [-- NAME… [--full]]`: the benchmarks, inside a private network namespace like the tests
# (the copy benchmarks start XRootD servers on loopback).
set -euo pipefail
cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.."

scripts/install-peers.sh
[[ -d node_modules ]] || npm ci
npm run build

exec scripts/in-netns.sh node --import tsx bench/run.ts "$@"
