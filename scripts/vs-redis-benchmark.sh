#!/usr/bin/env bash
# Side-by-side: rbench vs redis-benchmark against one local redis-server (spawned on a free loopback
# port, stopped by PID on exit), with the same flags for both tools:
#   50 clients (rbench --clients 50 / redis-benchmark -c 50), -r 100000, -n N, tests SET and GET,
#   at -P 1 and -P 16; rbench also gets --threads 1 -q --no-save (redis-benchmark: -q).
#
# Measures, per (test, P): TPS of each tool and the client CPU it spent per request, USER and SYS
# separately (µs/request, from the child's rusage, read with wait4), as the MEDIAN over ROUNDS rounds.
# Rounds alternate which tool goes first (odd rounds redis-benchmark first, even rounds rbench
# first), so neither always gets the warmer server. Ratios are rbench / redis-benchmark, computed from
# the medians: TPS higher is better, CPU per request lower is better. A change to the hot path is
# judged by this (ARCHITECTURE.md, "Cross-cutting rules"), on a quiet machine.
#
# Usage:
#   scripts/vs-redis-benchmark.sh [N_P1] [N_P16] [ROUNDS]       defaults: 200000 2000000 3 (ROUNDS >= 3)
#   RBENCH=/path/to/rbench scripts/vs-redis-benchmark.sh ...    use that binary (e.g. to compare two
#                                                               builds); default: cargo build --release
#                                                               and use target/release/rbench
#   TRANSPORT=tcp|unix|tls scripts/vs-redis-benchmark.sh ...  both tools over that transport (default
#                               tcp): unix = -s on the server's unixsocket; tls = --tls --cacert on a
#                               tls-port, with a throwaway CA and server certificate made by openssl
#   KEEPALIVE=0 scripts/vs-redis-benchmark.sh ...   both tools get -k 0 (a new connection per request,
#                               per window with -P): connection cost. Give smaller N: ~15k requests/s.
# Numbers are from one machine at one moment: compare ratios, and rerun before trusting a small change.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

N1=${1:-200000}
N16=${2:-2000000}
ROUNDS=${3:-3}
CLIENTS=50
KEYSPACE=100000
for v in "$N1" "$N16" "$ROUNDS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "usage: $0 [N_P1] [N_P16] [ROUNDS]  (positive integers)" >&2; exit 2; }
done
if [ "$ROUNDS" -lt 3 ]; then
    echo "ROUNDS must be at least 3 (medians of fewer rounds mean little)" >&2
    exit 2
fi
TRANSPORT=${TRANSPORT:-tcp}
KEEPALIVE=${KEEPALIVE:-1}
case "$TRANSPORT" in tcp|unix|tls) ;; *) echo "TRANSPORT must be tcp, unix or tls" >&2; exit 2 ;; esac
case "$KEEPALIVE" in 0|1) ;; *) echo "KEEPALIVE must be 0 or 1" >&2; exit 2 ;; esac
need redis-server redis-benchmark redis-cli
need --hint " (used for free ports and CPU accounting)" python3
[ "$TRANSPORT" != tls ] || need --hint " (makes the throwaway CA for TRANSPORT=tls)" openssl
rbench_binary
SOCK=""
if [ "$TRANSPORT" = unix ]; then
    # Short and outside DIR: a unix socket path has a ~100-byte limit.
    SOCK=$(mktemp -u /tmp/vsrb-XXXXXX.sock)
    start_redis --unixsocket "$SOCK" --unixsocketperm 700
else
    start_redis
fi
CONN="-p $PORT"
case "$TRANSPORT" in
unix) CONN="-s $SOCK" ;;
tls) tls_port; CONN="--tls --cacert $DIR/ca.crt -p $TLS_PORT" ;;
esac
CONN="$CONN -k $KEEPALIVE"

# cputime.py: the child's own rusage from wait4 (µs resolution, unlike /usr/bin/time's 10 ms).
cputime_py

rb_cmd() { # TEST P N -> argv of rbench
    echo "$RB $CONN --clients $CLIENTS -r $KEYSPACE -n $3 -P $2 -t $1 --threads 1 -q --no-save"
}
bm_cmd() { # TEST P N -> argv of redis-benchmark
    echo "redis-benchmark $CONN -c $CLIENTS -r $KEYSPACE -n $3 -P $2 -t $1 -q"
}

echo "# server: redis-server $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/') on 127.0.0.1:$PORT; transport $TRANSPORT, -k $KEEPALIVE"
echo "# rbench: $RB ($("$RB" --version 2>/dev/null | head -1 || true))"
echo "# $(redis-benchmark --version 2>/dev/null || echo redis-benchmark)"
echo "# rounds: $ROUNDS (medians; odd rounds run redis-benchmark first, even rounds rbench first)"
echo "# commands (TEST in set,get; P in 1,16; N = $N1 at P=1, $N16 at P=16):"
echo "#   $(bm_cmd TEST P N)"
echo "#   $(rb_cmd TEST P N)"

# measure TOOL TEST P N -> "tps user_s sys_s"
measure() {
    local tool=$1 test=$2 p=$3 n=$4 out cmd tps cpu code
    if [ "$tool" = rbench ]; then cmd=$(rb_cmd "$test" "$p" "$n"); else cmd=$(bm_cmd "$test" "$p" "$n"); fi
    # shellcheck disable=SC2086  # cmd is a plain word list built above
    out=$(python3 "$DIR/cputime.py" $cmd 2>&1 | tr '\r' '\n')
    cpu=$(echo "$out" | awk '/^CPU /{print $2, $3}' | tail -1)
    code=$(echo "$out" | awk '/^CPU /{print $4}' | tail -1)
    tps=$(echo "$out" | grep -E "^ *${test^^}: [0-9.]+ requests per second" | tail -1 |
          sed -E 's/^ *[A-Z_]+: ([0-9.]+) .*/\1/')
    if [ "$code" != 0 ] || [ -z "$tps" ] || [ -z "$cpu" ]; then
        echo "$tool failed (exit ${code:-?}): $cmd" >&2
        echo "$out" | grep -v '^ *$' | tail -20 >&2
        return 1
    fi
    echo "$tps $cpu"
}

# median over the lines of stdin, column $1 (plain awk: mawk has no asort)
printf '%-4s %3s %11s %11s %6s | %9s %9s %10s %10s | %7s %s\n' \
    test P rb_tps rbench_tps tps_x rb_usr rb_sys rbench_usr rbench_sys cpu_x "(cpu_x per round)"
for p in 1 16; do
    n=$N1; [ "$p" = 16 ] && n=$N16
    for t in set get; do
        a_rows=""; b_rows=""; ratios=""
        for r in $(seq "$ROUNDS"); do
            if [ $((r % 2)) = 1 ]; then
                a=$(measure redis-benchmark "$t" "$p" "$n"); b=$(measure rbench "$t" "$p" "$n")
            else
                b=$(measure rbench "$t" "$p" "$n"); a=$(measure redis-benchmark "$t" "$p" "$n")
            fi
            a_rows+="$a"$'\n'; b_rows+="$b"$'\n'
            ratios+=$(awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," ");
                      printf "%.2f ", (y[2]+y[3])/(x[2]+x[3])}')
        done
        # medians: tps, user, sys, user+sys (each over rounds, independently)
        ta=$(printf '%s' "$a_rows" | median 1); tb=$(printf '%s' "$b_rows" | median 1)
        ua=$(printf '%s' "$a_rows" | median 2); ub=$(printf '%s' "$b_rows" | median 2)
        sa=$(printf '%s' "$a_rows" | median 3); sb=$(printf '%s' "$b_rows" | median 3)
        ca=$(printf '%s' "$a_rows" | awk '{print $2+$3}' | median 1)
        cb=$(printf '%s' "$b_rows" | awk '{print $2+$3}' | median 1)
        awk -v t="${t^^}" -v p="$p" -v n="$n" -v ta="$ta" -v tb="$tb" -v ua="$ua" -v ub="$ub" \
            -v sa="$sa" -v sb="$sb" -v ca="$ca" -v cb="$cb" -v rr="$ratios" 'BEGIN{
            k=1e6/n;
            printf "%-4s %3s %11.0f %11.0f %5.2fx | %9.3f %9.3f %10.3f %10.3f | %6.2fx (%s)\n",
                t, p, ta, tb, tb/ta, ua*k, sa*k, ub*k, sb*k, cb/ca, substr(rr, 1, length(rr)-1) }'
    done
done
echo "rb = redis-benchmark. usr/sys: client CPU in µs per request (median over $ROUNDS rounds)."
echo "tps_x = rbench/rb TPS (higher is better); cpu_x = rbench/rb median total client CPU (lower is better)."
