#!/bin/bash
# Container health check for flame-cache (Docker HEALTHCHECK): GET /healthz on
# the HTTP side port, healthy only on "200" (the gRPC health status is SERVING).
# Needs nothing but bash. Port: $FLAME_HEALTH_PORT, default 9091 (`cache.http`
# in packaging/flame-cluster.yaml; bind it to 0.0.0.0 or 127.0.0.1 in a container).
set -u
port="${FLAME_HEALTH_PORT:-9091}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "flame-cache: $status" >&2; exit 1 ;;
esac
