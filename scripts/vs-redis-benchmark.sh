#!/usr/bin/env bash
# Side-by-side: rbench vs redis-benchmark against one local redis-server, same flags
# (--clients/-c 50, -r 100000, -n N, tests SET and GET, at -P 1 and -P 16). Client CPU time
# (user+sys) comes from /usr/bin/time; prints TPS and client-CPU-per-request ratios
# (rbench / redis-benchmark). Ratios from one run on one machine, never absolute times.
#
#   scripts/vs-redis-benchmark.sh [N_P1] [N_P16] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${1:-200000}
N16=${2:-2000000}
ROUNDS=${3:-2}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found: bash scripts/setup.sh" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install -y time" >&2; exit 1; }
cargo build --release -q
RB=target/release/rbench

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no \
    --logfile "$DIR/redis.log" &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# run TOOL TEST P N -> "tps cpu_seconds"
run() {
    local tool=$1 test=$2 p=$3 n=$4 out cpu tps
    if [ "$tool" = rbench ]; then
        out=$( { /usr/bin/time -f 'CPU %U %S' "$RB" -p "$PORT" --clients 50 -r 100000 -n "$n" -P "$p" \
                   -t "$test" -q --no-save --threads 1; } 2>&1 )
    else
        out=$( { /usr/bin/time -f 'CPU %U %S' redis-benchmark -p "$PORT" -c 50 -r 100000 -n "$n" -P "$p" \
                   -t "$test" -q; } 2>&1 | tr '\r' '\n' )
    fi
    tps=$(echo "$out" | grep -E "^ *${test^^}: [0-9.]+ requests per second" | tail -1 | sed -E 's/^ *[A-Z_]+: ([0-9.]+) .*/\1/')
    cpu=$(echo "$out" | awk '/^CPU /{print $2+$3}')
    echo "$tps $cpu"
}

printf '%-5s %-3s %12s %12s %7s %14s %14s %7s\n' test P rb_tps rbench_tps ratio rb_us/req rbench_us/req ratio
for p in 1 16; do
    n=$N1; [ "$p" = 16 ] && n=$N16
    for t in set get; do
        best_a=""; best_b=""
        for _ in $(seq "$ROUNDS"); do
            # Alternate who goes first so neither always gets the warmer server.
            a=$(run redis-benchmark "$t" "$p" "$n"); b=$(run rbench "$t" "$p" "$n")
            best_a="$best_a$a"$'\n'; best_b="$best_b$b"$'\n'
        done
        # Median-free and simple: sum over rounds (ratios of sums = ratios of means).
        read -r ta ca < <(echo "$best_a" | awk 'NF{t+=$1;c+=$2;k++} END{print t/k, c/k}')
        read -r tb cb < <(echo "$best_b" | awk 'NF{t+=$1;c+=$2;k++} END{print t/k, c/k}')
        awk -v t="${t^^}" -v p="$p" -v n="$n" -v ta="$ta" -v ca="$ca" -v tb="$tb" -v cb="$cb" 'BEGIN{
            ua=ca*1e6/n; ub=cb*1e6/n;
            printf "%-5s %-3s %12.0f %12.0f %6.2fx %14.3f %14.3f %6.2fx\n", t, p, ta, tb, tb/ta, ua, ub, ub/ua }'
    done
done
echo "ratio: rbench / redis-benchmark (TPS: higher is better; CPU per request: lower is better)"
