#!/usr/bin/env bash
# A local flame-cache cluster on loopback for tests (issue 13): etcd, SeaweedFS (S3), HAProxy and N replicas.
#
# Usage:
#   scripts/cluster.sh up [--replicas N] [--dir DIR]   start everything (N defaults to 3, DIR to a new temp folder);
#                                                       returns once every replica serves; prints DIR/cluster.env
#   scripts/cluster.sh down --dir DIR                   stop everything it started, by pid; nothing is left running
#                                                       (a second down is a no-op)
#   scripts/cluster.sh add --dir DIR                    one more replica (next index), added to HAProxy (reload)
#   scripts/cluster.sh remove --dir DIR --index I       graceful: out of HAProxy first, then SIGTERM replica-I
#   scripts/cluster.sh start-replica --dir DIR --index I [--wipe]
#                                                       start replica-I again after a kill (same ports and id);
#                                                       --wipe empties its local storage first
#   scripts/cluster.sh restart-service etcd|s3 --dir DIR
#                                                       stop the service (SIGTERM) and start it again on the same
#                                                       ports and data
#
# DIR/cluster.env (KEY=VALUE lines, sourceable; rewritten by every subcommand; mode 600):
#   FLAME_CACHE_ENDPOINT       grpc://127.0.0.1:PORT of the balancer (what clients and ObjectRefs use)
#   FLAME_CACHE_REPLICAS       grpc://127.0.0.1:P,... each replica directly, by index
#   FLAME_CACHE_REPLICA_PIDS   their pids, same order
#   FLAME_CACHE_REPLICA_IDS    their member ids (replica-I; I is the --index of remove/start-replica)
#   FLAME_CACHE_REPLICA_HTTP   http://127.0.0.1:H,... their HTTP side ports (/healthz, /metrics), same order
#   CLUSTER_ETCD_ENDPOINT      http://127.0.0.1:PORT (etcd v3 client URL)    CLUSTER_ETCD_PID
#   CLUSTER_S3_ENDPOINT        http://127.0.0.1:PORT (S3 API, signed requests only)   CLUSTER_S3_PID
#   CLUSTER_S3_BUCKET          flame-cache      CLUSTER_REMOTE  s3://flame-cache/cache (the replicas' tier)
#   CLUSTER_HAPROXY_PID        HAProxy master pid (master-worker mode: SIGUSR2 reloads the configuration)
#   CLUSTER_HAPROXY_STATS      http://127.0.0.1:PORT/stats (HAProxy stats; append ;csv for CSV)
#   CLUSTER_DIR                DIR
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION   the S3 identity generated for this cluster (given to
#                              the replicas through their environment; never on a command line)
# Logs: DIR/etcd.log, DIR/s3.log, DIR/haproxy.log, DIR/replica-I.log. Data: DIR/etcd/, DIR/s3/, DIR/replica-I/.
# Ports are free loopback ports picked at `up` (and `add`) time. Tools come from scripts/tools.sh.
# Replicas run `main.ts serve` with the serve task's permissions plus what the etcd and S3 clients need.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUCKET=flame-cache
REMOTE="s3://$BUCKET/cache"
REGION=us-east-1
# The replicas run with exactly the shipped binary's permissions (scripts/permissions.txt).
mapfile -t PERMISSIONS < <(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$repo/scripts/permissions.txt")
# A cold Deno start on a busy 2-core machine can take a while; CLUSTER_START_TIMEOUT_S overrides it.
START_TIMEOUT_S="${CLUSTER_START_TIMEOUT_S:-90}"
STOP_TIMEOUT_S=15
# weed stops its volume and filer servers within a second of SIGTERM, then its S3 gateway keeps retrying the
# stopped filer for a long while: SIGKILL it after this.
WEED_STOP_TIMEOUT_S=5

say() { echo "cluster.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}
usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- arguments -------------------------------------------------------------------------------------------------
command="${1:-}"
[ -n "$command" ] || usage
shift
replicas=3
dir=""
index=""
wipe=0
service=""
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas="${2:?--replicas needs N}"; shift 2 ;;
    --dir) dir="${2:?--dir needs DIR}"; shift 2 ;;
    --index) index="${2:?--index needs I}"; shift 2 ;;
    --wipe) wipe=1; shift ;;
    etcd | s3) service="$1"; shift ;;
    *) usage ;;
  esac
done
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || die "--replicas must be 1..99, got $replicas"
[ -z "$index" ] || [[ "$index" =~ ^[0-9]+$ ]] || die "--index must be a number, got $index"

# ---- helpers ---------------------------------------------------------------------------------------------------
used_ports=" "
# A loopback TCP port nothing listens on (and not handed out earlier in this run). Ports are taken below the
# kernel's ephemeral range: a port there may be the local end of some outgoing connection (then listen fails with
# EADDRINUSE although nothing listens on it).
free_port() {
  local p low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  [ "$low" -gt 12000 ] || die "the ephemeral port range starts at $low: no room for test ports below it"
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    case "$used_ports" in *" $p "*) continue ;; esac
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
      used_ports="$used_ports$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# True if PID is alive and is one of ours (its command line mentions DIR), so a reused pid is never signalled.
ours() {
  local pid="$1"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/"
}

# Stop PID: SIGTERM, then SIGKILL after TIMEOUT_S (default STOP_TIMEOUT_S). Waits until it is gone.
stop_pid() {
  local pid="$1" what="$2" timeout="${3:-$STOP_TIMEOUT_S}"
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true # a SIGSTOPped process (a fault test) must see the SIGTERM
  for _ in $(seq 1 $((timeout * 10))); do
    ours "$pid" || return 0
    sleep 0.1
  done
  say "$what (pid $pid) did not stop within ${timeout}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    ours "$pid" || return 0
    sleep 0.1
  done
  die "$what (pid $pid) is still running after SIGKILL"
}

# True while PID runs; a zombie (exited, not yet reaped) counts as gone. Not the command line: it reads empty
# for a moment while a large binary (weed is ~230 MB) is being exec'd, which looked like an instant exit.
running() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

# wait_until TIMEOUT_S WHAT PID LOG COMMAND...: poll COMMAND until it succeeds; fail early if PID died.
wait_until() {
  local timeout="$1" what="$2" pid="$3" log="$4"
  shift 4
  for _ in $(seq 1 $((timeout * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! running "$pid"; then
      say "$what exited; the end of $log:"
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  say "$what not ready after ${timeout}s; the end of $log:"
  tail -n 30 "$log" >&2
  exit 1
}

state_file() { echo "$dir/state/$1.env"; }
load_state() {
  [ -f "$dir/state/services.env" ] || die "no cluster in $dir (run: scripts/cluster.sh up --dir $dir)"
  # shellcheck disable=SC1091
  . "$dir/state/services.env"
}
save_services() {
  cat >"$dir/state/services.env.tmp" <<EOF
BAL_PORT=$BAL_PORT
STATS_PORT=$STATS_PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
ETCD_PID=${ETCD_PID:-}
S3_PORT=$S3_PORT
S3_PORTS="$S3_PORTS"
S3_PID=${S3_PID:-}
HAPROXY_PID=${HAPROXY_PID:-}
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
EOF
  mv -f "$dir/state/services.env.tmp" "$dir/state/services.env"
}
# Replica indexes in ascending order.
replica_indexes() {
  find "$dir/state" -maxdepth 1 -name 'replica-*.env' -printf '%f\n' 2>/dev/null |
    sed -E 's/^replica-([0-9]+)\.env$/\1/' | sort -n
}
replica_get() { # replica_get I VAR
  (
    # shellcheck disable=SC1090
    . "$(state_file "replica-$1")"
    eval "echo \"\${$2:-}\""
  )
}

write_cluster_env() {
  local urls=() pids=() ids=() https=() i
  for i in $(replica_indexes); do
    urls+=("grpc://127.0.0.1:$(replica_get "$i" PORT)")
    pids+=("$(replica_get "$i" PID)")
    ids+=("replica-$i")
    https+=("http://127.0.0.1:$(replica_get "$i" HTTP)")
  done
  local IFS=,
  umask 077
  cat >"$dir/cluster.env.tmp" <<EOF
FLAME_CACHE_ENDPOINT=grpc://127.0.0.1:$BAL_PORT
FLAME_CACHE_REPLICAS=${urls[*]}
FLAME_CACHE_REPLICA_PIDS=${pids[*]}
FLAME_CACHE_REPLICA_IDS=${ids[*]}
FLAME_CACHE_REPLICA_HTTP=${https[*]}
CLUSTER_ETCD_ENDPOINT=http://127.0.0.1:$ETCD_PORT
CLUSTER_ETCD_PID=$ETCD_PID
CLUSTER_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
CLUSTER_S3_PID=$S3_PID
CLUSTER_S3_BUCKET=$BUCKET
CLUSTER_REMOTE=$REMOTE
CLUSTER_HAPROXY_PID=$HAPROXY_PID
CLUSTER_HAPROXY_STATS=http://127.0.0.1:$STATS_PORT/stats
CLUSTER_DIR=$dir
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$REGION
EOF
  mv -f "$dir/cluster.env.tmp" "$dir/cluster.env"
}

# ---- services --------------------------------------------------------------------------------------------------
start_etcd() {
  local etcd
  etcd="$("$repo/scripts/tools.sh" etcd)"
  local peer="http://127.0.0.1:$ETCD_PEER_PORT" client="http://127.0.0.1:$ETCD_PORT"
  echo "---- start $(date -u +%FT%TZ)" >>"$dir/etcd.log"
  "$etcd" --name flame-cache-test --data-dir "$dir/etcd" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "flame-cache-test=$peer" </dev/null >>"$dir/etcd.log" 2>&1 8>&- &
  ETCD_PID=$!
  wait_until 30 etcd "$ETCD_PID" "$dir/etcd.log" \
    sh -c "curl -sf --max-time 2 '$client/health' | grep -q '\"health\":\"true\"'"
}

s3_curl() { # s3_curl ARGS...: a request signed with the cluster's identity (the key is read from a file, not argv)
  curl -s --max-time 5 --aws-sigv4 "aws:amz:$REGION:s3" -K "$dir/state/s3.curlrc" "$@"
}

start_s3() {
  local weed
  weed="$("$repo/scripts/tools.sh" weed)"
  local p=($S3_PORTS) # master master.grpc volume volume.grpc filer filer.grpc s3.grpc
  mkdir -p "$dir/s3"
  echo "---- start $(date -u +%FT%TZ)" >>"$dir/s3.log"
  "$weed" server -dir="$dir/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" -master.telemetry=false -master.volumeSizeLimitMB=1024 \
    -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" -volume.max=0 -volume.preStopSeconds=0 \
    -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
    -s3 -s3.port="$S3_PORT" -s3.port.grpc="${p[6]}" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/state/s3.json" </dev/null >>"$dir/s3.log" 2>&1 8>&- &
  S3_PID=$!
  # Ready when a signed bucket listing answers 200.
  wait_until 60 SeaweedFS "$S3_PID" "$dir/s3.log" \
    sh -c "curl -s -o /dev/null -w '%{http_code}' --max-time 2 --aws-sigv4 'aws:amz:$REGION:s3' \
      -K '$dir/state/s3.curlrc' 'http://127.0.0.1:$S3_PORT/' | grep -q 200"
}

create_bucket() {
  local code
  for _ in $(seq 1 50); do
    code="$(s3_curl -o "$dir/state/bucket.out" -w '%{http_code}' -X PUT "http://127.0.0.1:$S3_PORT/$BUCKET" || true)"
    case "$code" in
      200 | 409) return 0 ;; # 409: it already exists
    esac
    sleep 0.2
  done
  die "could not create the bucket $BUCKET (HTTP $code: $(cat "$dir/state/bucket.out" 2>/dev/null))"
}

write_haproxy_cfg() {
  local i servers=""
  for i in $(replica_indexes); do
    servers+="  server replica-$i 127.0.0.1:$(replica_get "$i" PORT) check port $(replica_get "$i" HTTP) inter 500 fall 2 rise 1 on-marked-down shutdown-sessions"$'\n'
  done
  cat >"$dir/haproxy.cfg.tmp" <<EOF
# Written by scripts/cluster.sh: a TCP balancer in front of the replicas, as a Kubernetes Service would be.
global
  maxconn 4096
  # Old workers left by a reload finish their streams, but not forever.
  hard-stop-after 60s

defaults
  mode tcp
  option dontlognull
  timeout connect 5s
  # gRPC streams can be long and quiet (a slow download, an idle channel): long client/server timeouts.
  timeout client 1h
  timeout server 1h
  timeout client-fin 30s
  timeout server-fin 30s

frontend flame_cache
  bind 127.0.0.1:$BAL_PORT
  default_backend replicas

backend replicas
  # Connections are long-lived HTTP/2 channels: the replica with the fewest gets the next one.
  # A replica the health check marks down (crashed, or frozen: SIGSTOP, a paused VM) has its connections cut
  # (on-marked-down shutdown-sessions): clients see UNAVAILABLE within ~1.5 s and reconnect to a live one,
  # instead of waiting on a frozen replica until their deadline.
  balance leastconn
  # Health: the replica's HTTP side port answers 200 on /healthz only while it serves (not while it starts or drains).
  option httpchk GET /healthz
  http-check expect status 200
$servers
listen stats
  mode http
  bind 127.0.0.1:$STATS_PORT
  stats enable
  stats uri /stats
  stats refresh 5s
EOF
  "$(command -v haproxy || echo /usr/sbin/haproxy)" -c -q -f "$dir/haproxy.cfg.tmp" >>"$dir/haproxy.log" 2>&1 ||
    die "HAProxy refused the generated configuration (see $dir/haproxy.log)"
  mv -f "$dir/haproxy.cfg.tmp" "$dir/haproxy.cfg"
}

# The backend's servers and their status from the stats CSV, e.g. "replica-0 UP".
haproxy_servers() {
  curl -s --max-time 2 "http://127.0.0.1:$STATS_PORT/stats;csv" |
    awk -F, '$1 == "replicas" && $2 != "BACKEND" { print $2, $18 }'
}
# True when exactly the replicas in the state are listed, all UP.
haproxy_in_sync() {
  local want have
  want="$(for i in $(replica_indexes); do echo "replica-$i UP"; done | sort)"
  have="$(haproxy_servers | sort)"
  [ "$want" = "$have" ]
}

start_haproxy() {
  local haproxy
  haproxy="$("$repo/scripts/tools.sh" haproxy)"
  write_haproxy_cfg
  echo "---- start $(date -u +%FT%TZ)" >>"$dir/haproxy.log"
  # -W: master-worker, so a reload (SIGUSR2) keeps the master's pid.
  "$haproxy" -W -f "$dir/haproxy.cfg" </dev/null >>"$dir/haproxy.log" 2>&1 8>&- &
  HAPROXY_PID=$!
  wait_until 30 HAProxy "$HAPROXY_PID" "$dir/haproxy.log" haproxy_in_sync
}

reload_haproxy() {
  write_haproxy_cfg
  ours "$HAPROXY_PID" || die "HAProxy (pid $HAPROXY_PID) is not running"
  kill -USR2 "$HAPROXY_PID"
  wait_until 30 "HAProxy reload" "$HAPROXY_PID" "$dir/haproxy.log" haproxy_in_sync
}

# ---- replicas --------------------------------------------------------------------------------------------------
# Launch replica I (ports from its state file, or new ones); does not wait.
launch_replica() {
  local i="$1" file port http pid
  file="$(state_file "replica-$i")"
  if [ -f "$file" ]; then
    port="$(replica_get "$i" PORT)"
    http="$(replica_get "$i" HTTP)"
  else
    port="$(free_port)"
    http="$(free_port)"
  fi
  local storage="$dir/replica-$i" log="$dir/replica-$i.log"
  if [ "$wipe" = 1 ]; then rm -rf "$storage"; fi
  mkdir -p "$storage"
  echo "---- start $(date -u +%FT%TZ)" >>"$log"
  local from
  from="$(wc -l <"$log")"
  (
    cd "$repo"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION="$REGION" FLAME_LOG=info
    exec scripts/deno.sh run "${PERMISSIONS[@]}" main.ts serve \
      --storage "$storage" \
      --listen "127.0.0.1:$port" \
      --endpoint "grpc://127.0.0.1:$BAL_PORT" \
      --http "127.0.0.1:$http" \
      --cluster-etcd "http://127.0.0.1:$ETCD_PORT" \
      --cluster-id "replica-$i" \
      --cluster-advertise "grpc://127.0.0.1:$port" \
      --remote "$REMOTE" \
      --remote-endpoint "http://127.0.0.1:$S3_PORT" \
      --remote-region "$REGION" \
      --remote-path-style
  ) </dev/null >>"$log" 2>&1 8>&- &
  pid=$!
  printf 'PORT=%s\nHTTP=%s\nPID=%s\nLOG_FROM=%s\n' "$port" "$http" "$pid" "$from" >"$file"
}

# Wait until replica I has logged "flame-cache started" since its launch.
await_replica() {
  local i="$1" pid from log="$dir/replica-$1.log"
  pid="$(replica_get "$i" PID)"
  from="$(replica_get "$i" LOG_FROM)"
  wait_until "$START_TIMEOUT_S" "replica-$i" "$pid" "$log" \
    sh -c "tail -n +$((from + 1)) '$log' | grep -q '\"msg\":\"flame-cache started\"'"
}

stop_replica() {
  local i="$1"
  stop_pid "$(replica_get "$i" PID)" "replica-$i"
}

# ---- subcommands -----------------------------------------------------------------------------------------------
cmd_up() {
  if [ -z "$dir" ]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/flame-cluster.XXXXXX")"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [[ "$dir" =~ ^[A-Za-z0-9_./-]+$ ]] || die "DIR must be a plain path (letters, digits, _ . / -): $dir"
  [ ! -f "$dir/state/services.env" ] || die "$dir already holds a cluster (scripts/cluster.sh down --dir $dir first)"
  mkdir -p "$dir/state"
  chmod 700 "$dir/state"
  local started=$SECONDS
  # Resolve every tool first, so a missing one fails before anything starts.
  "$repo/scripts/tools.sh" etcd >/dev/null
  "$repo/scripts/tools.sh" haproxy >/dev/null
  "$repo/scripts/tools.sh" weed >/dev/null
  "$repo/scripts/deno.sh" cache "$repo/main.ts" >/dev/null 2>&1 || say "deno cache main.ts failed (continuing)"

  # An identity for this cluster only; the replicas get it through their environment.
  AWS_ACCESS_KEY_ID="flame$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  AWS_SECRET_ACCESS_KEY="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  printf '{"identities":[{"name":"flame-cache","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$dir/state/s3.json"
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$dir/state/s3.curlrc"

  BAL_PORT="$(free_port)"
  STATS_PORT="$(free_port)"
  ETCD_PORT="$(free_port)"
  ETCD_PEER_PORT="$(free_port)"
  S3_PORT="$(free_port)"
  S3_PORTS=""
  for _ in 1 2 3 4 5 6 7; do S3_PORTS="$S3_PORTS $(free_port)"; done
  S3_PORTS="${S3_PORTS# }"
  ETCD_PID="" S3_PID="" HAPROXY_PID=""
  save_services
  # From here on, a failure stops whatever was started.
  trap 'say "up failed: stopping what was started"; cmd_down >/dev/null 2>&1 || true' EXIT

  start_etcd
  save_services
  start_s3
  save_services
  create_bucket
  local i
  for i in $(seq 0 $((replicas - 1))); do launch_replica "$i"; done
  for i in $(seq 0 $((replicas - 1))); do await_replica "$i"; done
  start_haproxy
  save_services
  write_cluster_env
  trap - EXIT
  say "up: $replicas replicas behind grpc://127.0.0.1:$BAL_PORT in $((SECONDS - started))s"
  echo "$dir/cluster.env"
}

cmd_add() {
  load_state
  local i next=0
  for i in $(replica_indexes); do next=$((i + 1)); done
  # If it does not come up, it is not part of the cluster: stop it and forget it.
  trap 'stop_pid "$(replica_get "$next" PID)" "replica-$next"; rm -f "$(state_file "replica-$next")"; write_haproxy_cfg' EXIT
  launch_replica "$next"
  await_replica "$next"
  trap - EXIT
  reload_haproxy
  write_cluster_env
  say "added replica-$next ($(grep '^FLAME_CACHE_REPLICAS=' "$dir/cluster.env"))"
}

cmd_remove() {
  load_state
  [ -n "$index" ] || die "remove needs --index I"
  [ -f "$(state_file "replica-$index")" ] || die "no replica-$index in $dir"
  local file pid
  file="$(state_file "replica-$index")"
  pid="$(replica_get "$index" PID)"
  # Out of the balancer first, so no new connection reaches it, then a graceful stop.
  mv "$file" "$file.removed"
  reload_haproxy
  stop_pid "$pid" "replica-$index"
  rm -f "$file.removed"
  write_cluster_env
  say "removed replica-$index"
}

cmd_start_replica() {
  load_state
  [ -n "$index" ] || die "start-replica needs --index I"
  [ -f "$(state_file "replica-$index")" ] || die "no replica-$index in $dir"
  local pid
  pid="$(replica_get "$index" PID)"
  ! ours "$pid" || die "replica-$index is still running (pid $pid)"
  launch_replica "$index"
  await_replica "$index"
  write_cluster_env
  wait_until 30 "HAProxy health check" "$HAPROXY_PID" "$dir/haproxy.log" haproxy_in_sync
  say "started replica-$index again (pid $(replica_get "$index" PID))"
}

cmd_restart_service() {
  load_state
  case "$service" in
    etcd)
      stop_pid "$ETCD_PID" etcd
      start_etcd
      ;;
    s3)
      stop_pid "$S3_PID" SeaweedFS "$WEED_STOP_TIMEOUT_S"
      start_s3
      ;;
    *) die "restart-service needs etcd or s3" ;;
  esac
  save_services
  write_cluster_env
  say "restarted $service"
}

cmd_down() {
  if [ ! -f "$dir/state/services.env" ]; then
    say "down: no running cluster in $dir (nothing to stop)"
    return 0
  fi
  load_state
  local i pid pids=()
  # Replicas first (graceful, in parallel), then the balancer and the services.
  for i in $(replica_indexes); do
    pid="$(replica_get "$i" PID)"
    if ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do stop_pid "$pid" replica; done
  # HAProxy's workers (including old ones draining after a reload) are the master's children.
  if ours "${HAPROXY_PID:-}"; then
    for pid in $(pgrep -P "$HAPROXY_PID" || true); do pids+=("$pid"); done
  fi
  stop_pid "${HAPROXY_PID:-}" HAProxy
  stop_pid "${S3_PID:-}" SeaweedFS "$WEED_STOP_TIMEOUT_S"
  stop_pid "${ETCD_PID:-}" etcd
  local left=()
  for pid in "${pids[@]}" "${HAPROXY_PID:-}" "${S3_PID:-}" "${ETCD_PID:-}"; do
    if ours "$pid"; then left+=("$pid"); fi
  done
  [ "${#left[@]}" = 0 ] || die "still running after down: ${left[*]}"
  rm -f "$dir/state/services.env" "$dir"/state/replica-*.env
  say "down: everything stopped (logs kept in $dir)"
}

case "$command" in
  up) cmd_up ;;
  down | add | remove | start-replica | restart-service)
    [ -n "$dir" ] || die "$command needs --dir DIR"
    dir="$(cd "$dir" 2>/dev/null && pwd)" || die "no such folder: $dir"
    # Serialize subcommands on one cluster. Every process started below closes fd 8 (8>&-), or it would hold
    # the lock for its whole life.
    exec 8>"$dir/.lock"
    flock 8
    case "$command" in
      down) cmd_down ;;
      add) cmd_add ;;
      remove) cmd_remove ;;
      start-replica) cmd_start_replica ;;
      restart-service) cmd_restart_service ;;
    esac
    ;;
  *) usage ;;
esac
