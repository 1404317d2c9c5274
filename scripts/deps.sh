#!/usr/bin/env bash
# Installs every Debian 12 package certhub's build and tests need.  Idempotent and quiet when
# everything is present; run as root (or with sudo available) on a fresh machine.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev          # libFuzzer and sanitizer runtimes
  libssl-dev openssl                # X.509, keys, PKCS#12, TLS
  libsqlite3-dev sqlite3            # embedded store
  libjansson-dev                    # JSON
  libcmocka-dev                     # unit tests
  libevent-dev                      # certhubd's HTTP server (evhttp + bufferevent_openssl)
  curl                              # integration tests of the REST API
  jq                                # reading JSON responses in integration tests
  python3-yaml                      # reading docs/api/openapi.yaml as YAML in its test
  faketime                          # moving certhubd's clock in renewal tests
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev  # the MQTT broker, its plugin API (mosquitto_broker.h includes mosquitto.h) and clients
  chromium                          # the web console's browser tests (driven by playwright-core)
  libcurl4-openssl-dev              # the CLI as a client of certhubd
  openjdk-17-jdk-headless           # keytool, for JKS/JCEKS/PKCS#12 interop tests
)
# Node.js runs the browser-test driver; the machine's own is used when there is one.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
# `scripts/deps.sh bench`: also what the benchmarks compare against.
if [ "${1:-}" = bench ]; then
  packages+=(golang-cfssl)          # cfssl serve, beside certhubd in bench_https
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
