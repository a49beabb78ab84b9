#!/usr/bin/env bash
# What a command of your own costs the client against the built-in test that sends the same bytes:
# `rbench -t set` vs `rbench --command 'tset=SET key:__rand_int__ __data__'` (and GET), with
# redis-benchmark beside them as the yardstick, against one local redis-server (spawned on a free
# loopback port, stopped by PID on exit). Same flags as scripts/vs-redis-benchmark.sh: 50 clients,
# -r 100000, -n N, -P 1 and -P 16, rbench --threads 1 -q --no-save.
#
# Per (test, P) and variant: TPS and client CPU per request, USER and SYS apart (µs/request, from
# the child's rusage via wait4), MEDIANS over ROUNDS rounds; the variants' order rotates by round so
# none always runs first. RBENCH_OLD=/path adds a fourth variant: another build's `-t` (before and
# after a change). Measure on a quiet machine: nothing else running on either core.
#
# Usage: scripts/template-cost.sh [N_P1] [N_P16] [ROUNDS]    defaults: 200000 2000000 3
#        RBENCH=/path RBENCH_OLD=/path scripts/template-cost.sh ...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

N1=${1:-200000}
N16=${2:-2000000}
ROUNDS=${3:-3}
for v in "$N1" "$N16" "$ROUNDS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "usage: $0 [N_P1] [N_P16] [ROUNDS]  (positive integers)" >&2; exit 2; }
done
[ "$ROUNDS" -ge 3 ] || { echo "ROUNDS must be at least 3" >&2; exit 2; }
need redis-server redis-benchmark redis-cli
need --hint " (used for free ports and CPU accounting)" python3
rbench_binary
start_redis
COMMON="-p $PORT -r 100000"

cputime_py

VARIANTS="redis-benchmark builtin template"
[ -n "${RBENCH_OLD:-}" ] && VARIANTS="$VARIANTS old"

# argv VARIANT TEST P N -> the command line; its -q line starts with NAME:
argv() {
    local v=$1 t=$2 p=$3 n=$4 tmpl
    case $t in set) tmpl="SET key:__rand_int__ __data__" ;; get) tmpl="GET key:__rand_int__" ;; esac
    case $v in
    redis-benchmark) printf '%s\0' redis-benchmark $COMMON -c 50 -n "$n" -P "$p" -t "$t" -q ;;
    builtin) printf '%s\0' "$RB" $COMMON --clients 50 -n "$n" -P "$p" -t "$t" --threads 1 -q --no-save ;;
    old) printf '%s\0' "$RBENCH_OLD" $COMMON --clients 50 -n "$n" -P "$p" -t "$t" --threads 1 -q --no-save ;;
    template) printf '%s\0' "$RB" $COMMON --clients 50 -n "$n" -P "$p" --command "t$t=$tmpl" \
        --threads 1 -q --no-save ;;
    esac
}

# measure VARIANT TEST P N -> "tps user_s sys_s"
measure() {
    local out cpu tps
    mapfile -d '' cmd < <(argv "$@")
    out=$(python3 "$DIR/cputime.py" "${cmd[@]}" 2>&1 | tr '\r' '\n')
    cpu=$(echo "$out" | awk '/^CPU /{print $2, $3, $4}' | tail -1)
    tps=$(echo "$out" | grep -E '^ *[A-Za-z_]+: [0-9.]+ requests per second' | tail -1 |
          sed -E 's/^ *[A-Za-z_]+: ([0-9.]+) .*/\1/')
    if [ -z "$tps" ] || [ "${cpu##* }" != 0 ]; then
        echo "$1 failed: ${cmd[*]}" >&2; echo "$out" | tail -5 >&2; return 1
    fi
    echo "$tps ${cpu% *}"
}

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; redis-server on 127.0.0.1:$PORT"
echo "# rbench: $RB${RBENCH_OLD:+; old: $RBENCH_OLD}; rounds: $ROUNDS (medians, order rotating)"
printf '%-4s %3s %-16s %11s %9s %9s %7s %7s\n' test P variant tps usr_us sys_us tps_x cpu_x
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
        base_tps=$(printf '%s' "${rows[redis-benchmark]}" | median 1)
        base_cpu=$(printf '%s' "${rows[redis-benchmark]}" | awk '{print $2+$3}' | median 1)
        for v in "${vs[@]}"; do
            tps=$(printf '%s' "${rows[$v]}" | median 1)
            usr=$(printf '%s' "${rows[$v]}" | median 2)
            sys=$(printf '%s' "${rows[$v]}" | median 3)
            cpu=$(printf '%s' "${rows[$v]}" | awk '{print $2+$3}' | median 1)
            awk -v t="${t^^}" -v p="$p" -v v="$v" -v n="$n" -v tps="$tps" -v u="$usr" -v s="$sys" \
                -v c="$cpu" -v bt="$base_tps" -v bc="$base_cpu" 'BEGIN{k=1e6/n;
                printf "%-4s %3s %-16s %11.0f %9.3f %9.3f %6.2fx %6.2fx\n", t, p, v, tps, u*k, s*k, tps/bt, c/bc }'
        done
        unset rows
    done
done
echo "usr/sys: client CPU µs per request (medians). tps_x, cpu_x: against redis-benchmark's medians."
