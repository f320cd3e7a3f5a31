#!/usr/bin/env bash
# Installs the Debian packages tokenrelay needs beside Python, only those missing:
# a JDK and Maven (to assemble and run Kafka from Maven Central), and redis-server (the
# benchmark's peer, vercel's resumable-stream, runs on Redis), PostgreSQL (the test suite
# starts its own server from Debian's binaries: storage tests run on SQLite and PostgreSQL),
# and nginx (its configuration is tested through a real one).
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
# nginx in front of the edges (infra/nginx/; the suite starts its own from the binary) and
# ss, which its keepalive test reads connections with.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v ss >/dev/null || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
# Debian starts a package's service when it installs it (nginx on 0.0.0.0:80, PostgreSQL on
# 5432): nothing here runs them as services, so tell invoke-rc.d not to (exit 101), unless the
# machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
