#!/usr/bin/env bash
# What observing the server costs the measured run: rbench with the server sampler on
# (`--server-stats 1s`, the default) against the same run with it off, redis-benchmark beside them
# as the yardstick, against one local redis-server (spawned on a free loopback port, stopped by PID
# on exit). 50 clients, -r 100000, -n N, -P 1 and -P 16, rbench --threads 1.
#
# Per (test, P) and variant: TPS and p99 (ms, from the --csv line), and client CPU per request, USER
# and SYS apart (µs/request, from the child's rusage via wait4): MEDIANS over ROUNDS rounds, the
# variants' order rotating by round so none always runs first. Measure on a quiet machine.
#
# Usage: scripts/server-stats-cost.sh [N_P1] [N_P16] [ROUNDS]    defaults: 1000000 4000000 3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

N1=${1:-1000000}
N16=${2:-4000000}
ROUNDS=${3:-3}
for v in "$N1" "$N16" "$ROUNDS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "usage: $0 [N_P1] [N_P16] [ROUNDS]  (positive integers)" >&2; exit 2; }
done
[ "$ROUNDS" -ge 3 ] || { echo "ROUNDS must be at least 3" >&2; exit 2; }
need redis-server redis-benchmark
need --hint " (used for free ports and CPU accounting)" python3
rbench_binary
start_redis
COMMON="-p $PORT -r 100000"

cputime_py

VARIANTS="redis-benchmark stats-on stats-off"

# argv VARIANT TEST P N -> the command line; its --csv line is "TEST","rps","avg",...,"p99","max"
argv() {
    local v=$1 t=$2 p=$3 n=$4
    case $v in
    redis-benchmark) printf '%s\0' redis-benchmark $COMMON -c 50 -n "$n" -P "$p" -t "$t" --csv ;;
    stats-on) printf '%s\0' "$RB" $COMMON --clients 50 -n "$n" -P "$p" -t "$t" --threads 1 --csv \
        --no-save --server-stats 1s ;;
    stats-off) printf '%s\0' "$RB" $COMMON --clients 50 -n "$n" -P "$p" -t "$t" --threads 1 --csv \
        --no-save --server-stats off ;;
    esac
}

# measure VARIANT TEST P N -> "tps p99 user_s sys_s"
measure() {
    local out cpu line
    mapfile -d '' cmd < <(argv "$@")
    out=$(python3 "$DIR/cputime.py" "${cmd[@]}" 2>&1 | tr '\r' '\n')
    cpu=$(echo "$out" | awk '/^CPU /{print $2, $3, $4}' | tail -1)
    line=$(echo "$out" | grep -E '^"[A-Z]+","[0-9.]+"' | tail -1 | tr -d '"')
    if [ -z "$line" ] || [ "${cpu##* }" != 0 ]; then
        echo "$1 failed: ${cmd[*]}" >&2; echo "$out" | tail -5 >&2; return 1
    fi
    echo "$line" | awk -F, -v c="${cpu% *}" '{print $2, $7, c}'
}

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; redis-server on 127.0.0.1:$PORT"
echo "# rbench: $RB; rounds: $ROUNDS (medians, order rotating)"
printf '%-4s %3s %-16s %11s %8s %9s %9s %7s\n' test P variant tps p99_ms usr_us sys_us tps_x
for p in 1 16; do
    n=$N1; [ "$p" = 16 ] && n=$N16
    for t in set get; do
        declare -A rows=()
        read -ra vs <<<"$VARIANTS"
        for r in $(seq "$ROUNDS"); do
            for i in $(seq 0 $((${#vs[@]} - 1))); do
                v=${vs[$(((i + r) % ${#vs[@]}))]}
                rows[$v]+="$(measure "$v" "$t" "$p" "$n")"$'\n'
            done
        done
        base=$(printf '%s' "${rows[stats-off]}" | median 1)
        for v in "${vs[@]}"; do
            tps=$(printf '%s' "${rows[$v]}" | median 1)
            p99=$(printf '%s' "${rows[$v]}" | median 2)
            usr=$(printf '%s' "${rows[$v]}" | median 3)
            sys=$(printf '%s' "${rows[$v]}" | median 4)
            awk -v t="${t^^}" -v p="$p" -v v="$v" -v n="$n" -v tps="$tps" -v p99="$p99" -v u="$usr" \
                -v s="$sys" -v b="$base" 'BEGIN{k=1e6/n;
                printf "%-4s %3s %-16s %11.0f %8.3f %9.3f %9.3f %6.3fx\n", t, p, v, tps, p99, u*k, s*k, tps/b }'
        done
        echo "#   rounds (tps p99 usr sys) stats-on: $(printf '%s' "${rows[stats-on]}" | awk '{printf "[%.0f %.3f] ", $1, $2}')"
        echo "#   rounds (tps p99 usr sys) stats-off: $(printf '%s' "${rows[stats-off]}" | awk '{printf "[%.0f %.3f] ", $1, $2}')"
        unset rows
    done
done
echo "usr/sys: client CPU µs per request (medians). tps_x: against rbench with --server-stats off."
