#!/bin/bash
# Container health check without curl: exit 0 when GET /healthz on
# 127.0.0.1:$DSMIL_HEALTH_PORT (default 8080) answers 200.
exec 3<>"/dev/tcp/127.0.0.1/${DSMIL_HEALTH_PORT:-8080}" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 line <&3 || exit 1
[[ $line == "HTTP/1."[01]" 200"* ]]
