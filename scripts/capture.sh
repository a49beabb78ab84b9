#!/usr/bin/env bash
# Records a server's traffic for SECONDS with MONITOR, as the capture `rbench replay` plays.
#
# Usage:
#   scripts/capture.sh HOST PORT SECONDS OUT
#   REDISCLI_AUTH=secret scripts/capture.sh 10.0.0.5 6379 60 capture.txt
#
# MONITOR makes the server format and send every command it runs to this client: it costs the server
# throughput (up to about half of it on a busy server) for as long as the capture runs. Capture a
# representative window, not a whole day, and not on a server already at its limit.
# The file is redis-cli's MONITOR output: one `TIME [DB CLIENT] "CMD" "ARG"...` line per command.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 HOST PORT SECONDS OUT" >&2
    exit 2
fi
host=$1 port=$2 secs=$3 out=$4
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS must be a positive whole number, got '$secs'" >&2; exit 2; }
command -v redis-cli >/dev/null || { echo "redis-cli not found: bash scripts/setup.sh" >&2; exit 1; }
command -v timeout >/dev/null || { echo "timeout not found (coreutils)" >&2; exit 1; }

echo "capture.sh: warning: MONITOR costs $host:$port throughput while it runs (every command is also sent to this client); capturing for $secs s" >&2
redis-cli -h "$host" -p "$port" ping >/dev/null ||
    { echo "capture.sh: $host:$port does not answer PING" >&2; exit 1; }
# timeout ends redis-cli with SIGINT after SECONDS (exit 124): that is the capture ending as asked.
rc=0
timeout --signal=INT "$secs" redis-cli -h "$host" -p "$port" monitor >"$out" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 130 ]; then
    echo "capture.sh: redis-cli monitor exited $rc" >&2
    exit 1
fi
lines=$(grep -c '^[0-9]' "$out" || true)
echo "capture.sh: $lines commands captured in $out" >&2
