#!/usr/bin/env bash
# Client memory over a long open-loop run: does rbench's RSS stay flat? Spawns its own redis-server
# on a free loopback port (stopped by PID on exit), runs
#   rbench --mix MIX -d 16-4096 --rps RPS --duration SECONDS --out TMP -q
# (MIX defaults to set=1,get=1,lpush=1,lpop=1; RPS to 20000), samples the client's VmRSS from
# /proc/PID/status every 10 s, prints a table (second, RSS KiB), and the growth after the first
# minute (KiB, and KiB/s over the rest of the run). The lists are trimmed by the LPOPs of the mix.
#
# Usage:
#   scripts/memory-long.sh [SECONDS]             default 1800
#   MIX=set=1,get=1 scripts/memory-long.sh 240   another mix
#   RBENCH=/path/to/rbench scripts/memory-long.sh
#                                                that binary (default: cargo build --release,
#                                                target/release/rbench)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SECONDS_RUN=${1:-1800}
MIX=${MIX:-set=1,get=1,lpush=1,lpop=1}
RPS=${RPS:-20000}
EVERY=${EVERY:-10}
for v in "$SECONDS_RUN" "$RPS" "$EVERY"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS, RPS and EVERY are positive integers" >&2; exit 2; }
done
need redis-server
need --hint " (used for free ports)" python3

rbench_binary
start_redis
OUT="$DIR/out"
mkdir -p "$OUT"
cmd="$RB -p $PORT --mix $MIX -d 16-4096 --rps $RPS --duration $SECONDS_RUN --out $OUT -q"
echo "# server: redis-server $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/') on 127.0.0.1:$PORT"
echo "# rbench: $RB ($("$RB" --version 2>/dev/null | head -1 || true))"
echo "# cpu: $(lscpu 2>/dev/null | sed -nE 's/^Model name: *//p' | head -1)"
echo "# command: $cmd"

# shellcheck disable=SC2086
$cmd >"$DIR/rbench.out" 2>&1 &
RBPID=$!
also_kill "$RBPID"

rss() { awk '/^VmRSS:/{print $2}' "/proc/$RBPID/status" 2>/dev/null || true; }

printf '%8s %10s\n' second rss_kib
start=$(date +%s)
at_minute=""
last=""
last_t=0
while kill -0 "$RBPID" 2>/dev/null; do
    t=$(( $(date +%s) - start ))
    r=$(rss)
    [ -n "$r" ] || break
    printf '%8d %10d\n' "$t" "$r"
    if [ -z "$at_minute" ] && [ "$t" -ge 60 ]; then at_minute=$r; at_minute_t=$t; fi
    last=$r
    last_t=$t
    sleep "$EVERY"
done
code=0
wait "$RBPID" || code=$?
stop_pid "$RBPID"
if [ "$code" != 0 ]; then
    echo "rbench exited $code:" >&2
    tail -5 "$DIR/rbench.out" >&2
fi
if [ -n "$at_minute" ] && [ "$last_t" -gt "$at_minute_t" ]; then
    awk -v a="$at_minute" -v b="$last" -v ta="$at_minute_t" -v tb="$last_t" 'BEGIN{
        printf "growth after the first minute: %d KiB over %d s (%.2f KiB/s); RSS %d -> %d KiB\n",
            b - a, tb - ta, (b - a) / (tb - ta), a, b }'
else
    echo "growth after the first minute: run shorter than a minute and a sample"
fi
tail -3 "$DIR/rbench.out"
