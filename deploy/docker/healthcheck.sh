#!/bin/bash
# Container health check: GET /healthz on the local API listener, plain HTTP, no curl needed.
#
# sealpost-server has no `healthcheck` subcommand, and neither debian:bookworm-slim nor
# distroless ship curl, so this uses bash's /dev/tcp. It reads the port from
# SEALPOST_SERVER_LISTEN (the image sets 0.0.0.0:8080). It does NOT work when the server
# itself terminates TLS (server.tls_cert/tls_key set): then use an orchestrator probe with
# scheme HTTPS, or disable the HEALTHCHECK.
#
# Do not add SEALPOST_* variables for this script: the server refuses unknown SEALPOST_* names.
set -u
listen="${SEALPOST_SERVER_LISTEN:-127.0.0.1:8080}"
port="${listen##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sealpost-healthcheck\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status_line <&3 || exit 1
exec 3<&- 3>&-
case "$status_line" in
  "HTTP/1.1 200"*|"HTTP/1.0 200"*) exit 0 ;;
  *) echo "unhealthy: ${status_line}" >&2; exit 1 ;;
esac
