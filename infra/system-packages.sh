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
#        configuration is tested through a real one), openssl and ss (TLS and keepalive tests),
#        systemd-analyze and Go (the deployment files' checks: infra/systemd/, infra/compose.yaml)
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
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || need+=(golang-go)
fi

# infra/compose.yaml's validator: compose-go's own command, the loader and Compose
# Specification schema that `docker compose config` runs, built once from the Go module proxy
# (about a minute) into a cache shared by checkouts (tests/integration/test_deploy_files.py).
COMPOSE_GO=v2.16.2
compose_check() {
  local dir="${TOKENRELAY_TOOLS:-$HOME/.cache/tokenrelay/tools}/compose-go-$COMPOSE_GO"
  [ -x "$dir/cmd" ] && return 0
  local go
  go="$(command -v go || echo /usr/local/go/bin/go)"
  echo "building the compose file validator (compose-go $COMPOSE_GO) into $dir"
  mkdir -p "$dir"
  # A Debian Go older than the module's minimum fetches the toolchain it names.
  GOTOOLCHAIN=auto GOBIN="$dir" GOFLAGS=-buildvcs=false \
    "$go" install "github.com/compose-spec/compose-go/v2/cmd@$COMPOSE_GO"
}

if [ ${#need[@]} -eq 0 ]; then
  [ "$profile" = run ] || compose_check
  exit 0
fi

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
[ "$profile" = run ] || compose_check
