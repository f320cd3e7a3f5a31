#!/usr/bin/env bash
# Installs the Debian packages tokenrelay needs beside Python, only those missing.
# Usage: system-packages.sh [run|cluster|all]
#   run  what `make run` needs: Node and npm (the page's libraries), and a JDK and Maven to
#        assemble and run Kafka from Maven Central (not when TOKENRELAY_KAFKA names a broker)
#   cluster  what `make cluster` needs: run's, the JDK and Maven always (it starts its own
#        brokers), and nginx (in front of its edges)
#   all  (default; `make test`, `make bench`) also redis-server (the benchmark's peer, vercel's
#        resumable-stream, runs on Redis), PostgreSQL (storage tests run on SQLite and on a
#        server the suite starts from Debian's binaries), Chromium (e2e), nginx (its
#        configuration is tested through a real one), openssl and ss (TLS and keepalive tests)
set -euo pipefail
profile="${1:-all}"

need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ "$profile" != run ] || [ -z "${TOKENRELAY_KAFKA:-}" ]; then
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
fi
if [ "$profile" = cluster ]; then
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
elif [ "$profile" != run ]; then
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v openssl >/dev/null || need+=(openssl)
  # Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/<version>/bin.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null ||
    need+=(postgresql)
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v ss >/dev/null || need+=(iproute2)
fi
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
