#!/usr/bin/env bash
# Installs the Debian packages tokenrelay needs beside Python, only those missing:
# a JDK and Maven (to assemble and run Kafka from Maven Central), and redis-server (the
# benchmark's peer, vercel's resumable-stream, runs on Redis), and PostgreSQL (the test suite
# starts its own server from Debian's binaries: storage tests run on SQLite and PostgreSQL).
set -euo pipefail

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
# The Kafka TLS tests make their CA, certificates and the broker's PKCS12 keystore with it.
command -v openssl >/dev/null || need+=(openssl)
# Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/<version>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null ||
  need+=(postgresql)
# The browser client: Node and npm (npm ci, node --test), and Chromium for the e2e tests.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
