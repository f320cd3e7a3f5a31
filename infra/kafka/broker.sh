#!/usr/bin/env bash
# Owns a local Kafka broker (KRaft, broker and controller in one JVM) run from Kafka's Maven
# Central jars: fetch them, format storage once, start, stop, status. A single node by default;
# one node of a several-node cluster when asked by environment (app/cluster.py, docs/cluster.md).
# Usage: broker.sh fetch | start | stop | status | console-consumer ARGS...
# A node of a cluster (each node its own TOKENRELAY_BROKER_DIR and ports):
#   TOKENRELAY_BROKER_NODE_ID        this node's id (default 1)
#   TOKENRELAY_BROKER_VOTERS         the static quorum, id@host:controller_port,... (default: this node)
#   TOKENRELAY_BROKER_CLUSTER_ID     the id every node is formatted with (default: a random one)
#   TOKENRELAY_BROKER_REPLICATION    default.replication.factor and the internal topics' (default 1);
#                                    min.insync.replicas is one less (at least 1) unless
#   TOKENRELAY_BROKER_MIN_ISR        says otherwise
#   TOKENRELAY_BROKER_SESSION_TIMEOUT_MS  how soon the controllers fence a silent node (Kafka: 9000)
# Secured listeners beside the PLAINTEXT one, when asked by environment (docs/security.md):
#   TOKENRELAY_BROKER_SASL_SSL_PORT  a SASL_SSL listener: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   TOKENRELAY_BROKER_SSL_PORT       an SSL listener that requires a client certificate
#   TOKENRELAY_BROKER_SSL_KEYSTORE / _KEYSTORE_PASSWORD  the broker's key and certificate (PKCS12)
#   TOKENRELAY_BROKER_SSL_TRUSTSTORE  CA certificates (PEM) client certificates must chain to
#   TOKENRELAY_BROKER_SASL_USERS     name:password,... (PLAIN, and SCRAM, created at format time)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"

# Absolute paths: DIR ends up in the JVM's command line, which is how broker_pid
# recognises our broker, so a relative dir would match only from the same cwd.
CACHE="$(realpath -m "${TOKENRELAY_KAFKA_CACHE:-$HOME/.cache/tokenrelay/kafka-$KAFKA_VERSION}")"
LIBS="$CACHE/libs"
DIR="$(realpath -m "${TOKENRELAY_BROKER_DIR:-$REPO/.tokenrelay/broker}")"
PORT="${TOKENRELAY_BROKER_PORT:-9092}"
CONTROLLER_PORT="${TOKENRELAY_BROKER_CONTROLLER_PORT:-9093}"
HEAP="${TOKENRELAY_BROKER_HEAP:--Xmx512m -Xms256m}"
AUTO_CREATE="${TOKENRELAY_BROKER_AUTO_CREATE:-true}"
SASL_SSL_PORT="${TOKENRELAY_BROKER_SASL_SSL_PORT:-}"
SSL_PORT="${TOKENRELAY_BROKER_SSL_PORT:-}"
KEYSTORE="${TOKENRELAY_BROKER_SSL_KEYSTORE:-}"
KEYSTORE_PASSWORD="${TOKENRELAY_BROKER_SSL_KEYSTORE_PASSWORD:-}"
TRUSTSTORE="${TOKENRELAY_BROKER_SSL_TRUSTSTORE:-}"
SASL_USERS="${TOKENRELAY_BROKER_SASL_USERS:-}"
NODE_ID="${TOKENRELAY_BROKER_NODE_ID:-1}"
VOTERS="${TOKENRELAY_BROKER_VOTERS:-$NODE_ID@127.0.0.1:$CONTROLLER_PORT}"
CLUSTER_ID="${TOKENRELAY_BROKER_CLUSTER_ID:-}"
REPLICATION="${TOKENRELAY_BROKER_REPLICATION:-1}"
MIN_ISR="${TOKENRELAY_BROKER_MIN_ISR:-}"
SESSION_TIMEOUT_MS="${TOKENRELAY_BROKER_SESSION_TIMEOUT_MS:-}"
START_TIMEOUT_S=90
STOP_TIMEOUT_S=30

die() { echo "broker.sh: $*" >&2; exit 1; }

port_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid in broker.pid counts only if it is still our JVM: after a reboot the number
# may belong to an unrelated process, which we must neither report nor kill.
broker_pid() {
  local pid
  [[ -f "$DIR/broker.pid" ]] || return 1
  pid="$(<"$DIR/broker.pid")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR/server.properties" || return 1
  echo "$pid"
}

# The marker holds the pom's hash, so a half-finished copy or a version bump with a
# fixed TOKENRELAY_KAFKA_CACHE is fetched again. flock keeps two tests starting brokers
# at once from copying into the same dir; it runs in a subshell so the lock's fd is not
# inherited by the broker JVM.
fetch() {
  local want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  [[ "$(cat "$CACHE/fetched" 2>/dev/null)" == "$want" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  mkdir -p "$CACHE"
  (
    flock 8
    [[ "$(cat "$CACHE/fetched" 2>/dev/null)" == "$want" ]] && exit 0
    echo "fetching Kafka $KAFKA_VERSION jars into $LIBS" >&2
    rm -rf "$LIBS" "$CACHE/fetched"
    mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS" \
      >"$CACHE/fetch.log" 2>&1 || die "mvn failed; see $CACHE/fetch.log:"$'\n'"$(tail -n 30 "$CACHE/fetch.log")"
    echo "$want" >"$CACHE/fetched"
  ) 8>"$CACHE/fetch.lock"
}

kafka_java() { java -cp "$LIBS/*" "$@"; }

# A cluster node's settings, checked before anything is written (as the listeners' below).
check_node() {
  [[ "$NODE_ID" =~ ^[0-9]+$ ]] || die "TOKENRELAY_BROKER_NODE_ID must be a number (got '$NODE_ID')"
  [[ "$VOTERS" =~ ^[0-9]+@[^,:@]+:[0-9]+(,[0-9]+@[^,:@]+:[0-9]+)*$ ]] ||
    die "TOKENRELAY_BROKER_VOTERS must be id@host:port[,id@host:port...] (got '$VOTERS')"
  [[ ",$VOTERS" == *",$NODE_ID@"* ]] ||
    die "TOKENRELAY_BROKER_VOTERS ($VOTERS) does not list this node ($NODE_ID)"
  [[ "$REPLICATION" =~ ^[1-9][0-9]*$ ]] ||
    die "TOKENRELAY_BROKER_REPLICATION must be a positive number (got '$REPLICATION')"
  [[ -n "$MIN_ISR" ]] || MIN_ISR=$((REPLICATION > 1 ? REPLICATION - 1 : 1))
  [[ "$MIN_ISR" =~ ^[1-9][0-9]*$ ]] ||
    die "TOKENRELAY_BROKER_MIN_ISR must be a positive number (got '$MIN_ISR')"
  [[ -z "$SESSION_TIMEOUT_MS" || "$SESSION_TIMEOUT_MS" =~ ^[0-9]+$ ]] ||
    die "TOKENRELAY_BROKER_SESSION_TIMEOUT_MS must be a number of milliseconds"
}

# The secured listeners' settings are checked before anything is written, so a typo fails the
# start with its name rather than as a broker that never comes up. Names and passwords are kept
# to characters that need no quoting in JAAS, in StorageTool's --add-scram and in a .properties.
SAFE='[A-Za-z0-9._~+-]+'
check_secure() {
  [[ -n "$SASL_SSL_PORT$SSL_PORT" ]] || return 0
  [[ -n "$KEYSTORE" && -r "$KEYSTORE" ]] ||
    die "TOKENRELAY_BROKER_SSL_KEYSTORE must name a readable PKCS12 file (got '$KEYSTORE')"
  [[ "$KEYSTORE_PASSWORD" =~ ^$SAFE$ ]] ||
    die "TOKENRELAY_BROKER_SSL_KEYSTORE_PASSWORD must be set, of [A-Za-z0-9._~+-]"
  if [[ -n "$SSL_PORT" ]]; then
    [[ -n "$TRUSTSTORE" && -r "$TRUSTSTORE" ]] ||
      die "TOKENRELAY_BROKER_SSL_PORT needs TOKENRELAY_BROKER_SSL_TRUSTSTORE (a PEM CA file)"
  fi
  if [[ -n "$SASL_SSL_PORT" ]]; then
    [[ "$SASL_USERS" =~ ^$SAFE:$SAFE(,$SAFE:$SAFE)*$ ]] ||
      die "TOKENRELAY_BROKER_SASL_USERS must be name:password[,name:password...] of [A-Za-z0-9._~+-]"
  fi
}

# Extra entries of the listener lines; empty without secured listeners, which leaves
# server.properties exactly as it was before they existed.
EXTRA_LISTENERS="" EXTRA_ADVERTISED="" EXTRA_MAP=""
add_listener() {
  EXTRA_LISTENERS+=",$1://127.0.0.1:$2"
  EXTRA_ADVERTISED+=",$1://127.0.0.1:$2"
  EXTRA_MAP+=",$1:$1"
}
secure_listeners() {
  [[ -z "$SASL_SSL_PORT" ]] || add_listener SASL_SSL "$SASL_SSL_PORT"
  [[ -z "$SSL_PORT" ]] || add_listener SSL "$SSL_PORT"
}

# Per-listener settings (listener.name.<lowercase name>.*): the controller and inter-broker
# traffic stay on PLAINTEXT, which keeps a single node free of client credentials of its own.
secure_config() {
  local l user users jaas=""
  for l in ${SASL_SSL_PORT:+sasl_ssl} ${SSL_PORT:+ssl}; do
    cat <<EOF
listener.name.$l.ssl.keystore.type=PKCS12
listener.name.$l.ssl.keystore.location=$KEYSTORE
listener.name.$l.ssl.keystore.password=$KEYSTORE_PASSWORD
EOF
  done
  if [[ -n "$SSL_PORT" ]]; then
    cat <<EOF
listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$TRUSTSTORE
EOF
  fi
  if [[ -n "$SASL_SSL_PORT" ]]; then
    IFS=, read -ra users <<<"$SASL_USERS"
    for user in "${users[@]}"; do jaas+=" user_${user%%:*}=\"${user#*:}\""; done
    cat <<EOF
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$jaas;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
}

write_config() {
  mkdir -p "$DIR"
  secure_listeners
  cat >"$DIR/server.properties" <<EOF
# Written by infra/kafka/broker.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT$EXTRA_LISTENERS
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT$EXTRA_ADVERTISED
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$EXTRA_MAP
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=$AUTO_CREATE
log.retention.hours=168
# One node: internal topics cannot have more replicas than that; a cluster sets its own.
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
# Tests start and stop consumers constantly; don't make each join wait 3 s.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
  if [[ -n "$SESSION_TIMEOUT_MS" ]]; then
    # Heartbeats several times a session, as Kafka's own defaults do (2 s of 9 s).
    cat >>"$DIR/server.properties" <<EOF
broker.session.timeout.ms=$SESSION_TIMEOUT_MS
broker.heartbeat.interval.ms=$((SESSION_TIMEOUT_MS / 4))
EOF
  fi
  if [[ -n "$SASL_SSL_PORT$SSL_PORT" ]]; then
    chmod 600 "$DIR/server.properties"  # it holds the keystore's and the users' passwords
    secure_config >>"$DIR/server.properties"
  fi
  # Without a log4j2 config the broker logs only errors, and start could not see it
  # come up. Everything goes to stdout, which start sends to broker.log.
  cat >"$DIR/log4j2.properties" <<'EOF'
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=out
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOF
}

# Same format as `StorageTool random-uuid` (16 random bytes, base64url, no padding,
# never starting with '-'), minus the 1.2 s JVM start: tests format a broker each run.
random_cluster_id() {
  local id
  while id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"; [[ "$id" == -* ]]; do :; done
  echo "$id"
}

# Static quorum (controller.quorum.voters), so no --standalone. meta.properties in the
# log dir is Kafka's own "already formatted" flag; the cluster id is kept beside it.
# SCRAM users are metadata records: the format writes them into the first snapshot, so a
# broker's SCRAM users are those of TOKENRELAY_BROKER_SASL_USERS when its dir was formatted.
format_once() {
  local scram=() user users mechanism
  [[ -f "$DIR/data/meta.properties" ]] && return 0
  if [[ -n "$CLUSTER_ID" ]]; then
    echo "$CLUSTER_ID" >"$DIR/cluster.id"  # every node of a cluster: the same id
  elif [[ ! -s "$DIR/cluster.id" ]]; then
    random_cluster_id >"$DIR/cluster.id"
  fi
  if [[ -n "$SASL_SSL_PORT" ]]; then
    IFS=, read -ra users <<<"$SASL_USERS"
    for user in "${users[@]}"; do
      for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
        scram+=(--add-scram "$mechanism=[name=${user%%:*},password=${user#*:}]")
      done
    done
  fi
  kafka_java kafka.tools.StorageTool format -t "$(<"$DIR/cluster.id")" \
    -c "$DIR/server.properties" "${scram[@]}" >"$DIR/format.log" 2>&1 \
    || die "formatting storage failed:"$'\n'"$(cat "$DIR/format.log")"
}

# Ready = client port open AND the "Kafka Server started" line. In 4.1 the port opens
# only ~10 ms before that line, but the line is Kafka's own promise that the broker has
# caught up with the metadata log and is unfenced, so we don't rely on the ordering.
wait_ready() {
  local pid="$1" waited=0
  until port_open "$PORT" && grep -q "Kafka Server started" "$DIR/broker.log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$DIR/broker.pid"
      die "broker exited during start-up; last lines of $DIR/broker.log:"$'\n'"$(tail -n 30 "$DIR/broker.log")"
    fi
    if ((waited >= START_TIMEOUT_S * 5)); then
      die "broker not ready after ${START_TIMEOUT_S}s (pid $pid still running); last lines of $DIR/broker.log:"$'\n'"$(tail -n 30 "$DIR/broker.log")"
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}

start() {
  local pid heap port
  if pid="$(broker_pid)"; then
    if ! port_open "$PORT"; then
      echo "broker (pid $pid) is starting; waiting" >&2
      wait_ready "$pid"
    fi
    echo "broker already running on 127.0.0.1:$PORT (pid $pid)"
    return 0
  fi
  port_open "$PORT" && die "127.0.0.1:$PORT is in use by another process"
  port_open "$CONTROLLER_PORT" && die "127.0.0.1:$CONTROLLER_PORT is in use by another process"
  for port in $SASL_SSL_PORT $SSL_PORT; do
    port_open "$port" && die "127.0.0.1:$port is in use by another process"
  done
  check_node
  check_secure
  fetch
  write_config
  format_once
  # Keep the previous run's log for post-mortems; wait_ready greps only this run's.
  [[ -f "$DIR/broker.log" ]] && mv -f "$DIR/broker.log" "$DIR/broker.log.prev"
  read -ra heap <<<"$HEAP"
  nohup java "${heap[@]}" -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" \
    </dev/null >"$DIR/broker.log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$DIR/broker.pid"
  wait_ready "$pid"
  echo "broker running on 127.0.0.1:$PORT (pid $pid, Kafka $KAFKA_VERSION, dir $DIR)"
}

stop() {
  local pid waited=0
  if ! pid="$(broker_pid)"; then
    rm -f "$DIR/broker.pid"
    echo "broker not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT_S * 5)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$DIR/broker.pid"
  echo "broker stopped (was pid $pid)"
}

status() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$PORT"; then
      echo "running on 127.0.0.1:$PORT (pid $pid, dir $DIR)"
      return 0
    fi
    echo "starting on 127.0.0.1:$PORT (pid $pid, dir $DIR), not serving yet"
    return 3
  fi
  echo "stopped (port $PORT, dir $DIR)"
  return 3
}

# Kafka 4 moved the console consumer into kafka-tools as a Java class. Its logging goes
# to stderr at WARN, so stdout carries only the records the test reads.
console_consumer() {
  fetch
  cat >"$CACHE/tools-log4j2.properties.$$" <<'EOF'
appender.err.type=Console
appender.err.name=err
appender.err.target=SYSTEM_ERR
appender.err.layout.type=PatternLayout
appender.err.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.err.ref=err
EOF
  mv -f "$CACHE/tools-log4j2.properties.$$" "$CACHE/tools-log4j2.properties"
  exec java -Dlog4j2.configurationFile="$CACHE/tools-log4j2.properties" -cp "$LIBS/*" \
    org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
}

case "${1:-}" in
  fetch) fetch ;;
  # One start at a time per data dir (e.g. several pytest-xdist workers sharing the
  # default broker): the losers wait here, then find it running. fd 9 is closed for
  # the JVM above so the lock ends with this script, not with the broker.
  start) mkdir -p "$DIR"; exec 9>"$DIR/start.lock"; flock 9; start ;;
  stop) stop ;;
  status) status ;;
  console-consumer) shift; console_consumer "$@" ;;
  *) die "usage: broker.sh fetch | start | stop | status | console-consumer ARGS..." ;;
esac
