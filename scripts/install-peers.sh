#!/usr/bin/env bash
# Installs the Debian packages the test suite's real peers need, when missing.
# Runs outside the test network namespace (it may need the network). Others add packages to PACKAGES.
set -euo pipefail

PACKAGES=(
  xrootd-server
  xrootd-client
  xrootd-client-plugins
  openssl
  iproute2
  util-linux
  activemq
  postgresql
  # gfal2 fallback engine and its tests (docs/storage-notes.md §3); curl for the HTTP-TPC benchmark's baseline
  gfal2
  gfal2-util-scripts
  python3-gfal2-util
  gfal2-plugin-file
  gfal2-plugin-xrootd
  gfal2-plugin-http
  gfal2-plugin-mock
  curl
  # the dashboard's browser tests: Debian's Chromium driven by playwright-core (never a downloaded browser)
  chromium
)

# the Rucio catalog's tests: the real Rucio server in ../shared/peers/rucio (its README lists these), when the
# checkout has it; its start.sh would apt-get them itself, which cannot work inside the tests' network namespace
RUCIO_PEER="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/peers/rucio"
if [[ -d "$RUCIO_PEER" ]]; then
  PACKAGES+=(
    python3-flask python3-werkzeug python3-alembic python3-dogpile.cache python3-dateutil python3-requests
    python3-jsonschema python3-boto3 python3-paramiko python3-google-auth python3-geoip2
    python3-prometheus-client python3-statsd python3-pymemcache python3-packaging python3-urllib3
  )
fi

# the FTS3 double's official-client tests: CERN's FTS REST client in ../shared/peers/fts-rest-client (its README
# lists these), run with Debian's /usr/bin/python3
FTS_CLIENT_PEER="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/peers/fts-rest-client"
if [[ -d "$FTS_CLIENT_PEER" ]]; then
  PACKAGES+=(python3-requests python3-m2crypto python3-dateutil)
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == 'install ok installed' ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-peers: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: missing packages (${missing[*]}) and no apt-get to install them" >&2
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-peers: missing packages (${missing[*]}); run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
}

echo "install-peers: installing ${missing[*]}" >&2
if ! apt_install; then
  # the package lists of a fresh machine may be empty or stale: refresh once, then retry
  echo "install-peers: install failed; running apt-get update once and retrying" >&2
  "${SUDO[@]}" apt-get update
  apt_install
fi
echo "install-peers: installed ${missing[*]}" >&2
