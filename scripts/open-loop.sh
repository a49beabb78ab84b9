#!/usr/bin/env bash
# Open-loop (--rps) latency curve of rbench against one local redis-server (spawned on a free loopback
# port, stopped by PID on exit).
#
# 1. Capacity: a closed-loop run with the same shape (`-t TEST -r 100000 --clients C -P P --threads T
#    --duration 3s`) gives the TPS this client configuration reaches.
# 2. For target rates at 10%, 20%, ..., 100% of that capacity (or an absolute list), an open-loop run
#    `rbench -t TEST --rps R --duration D --clients C -P P --threads T --json FILE --no-save -q`.
# Prints, per rate: target rps, achieved rps (and % of target), corrected p50/p99 (from the intended
# send time), uncorrected p50/p99 (from the actual send time) and the max schedule lag (ms). On a
# server with headroom, corrected and uncorrected should agree (the client adds no latency of its
# own); a growing gap well below capacity is the client's own scheduling delay.
#
# Usage:
#   scripts/open-loop.sh [--clients C] [-P P] [--threads T] [--test get] [--duration 5s]
#                        [--cap-duration 3s] [--pcts 10,20,...] [--rates 1000,5000,20000] [--rounds N]
# The same settings as environment variables: CLIENTS PIPELINE THREADS TEST DURATION CAP_DURATION
# PCTS RATES ROUNDS (flags win). Defaults: C=50 P=1 T=1, get, 5s per rate, 3s capacity run,
# PCTS=10,20,30,40,50,60,70,80,90,100, ROUNDS=1. RATES (absolute rps) replaces the percentages and
# skips the capacity run. With ROUNDS > 1 every rate is run ROUNDS times (rates interleaved, round by
# round) and each column is the median of its rounds (the capacity too).
# RBENCH=/path/to/rbench picks the binary (default: cargo build --release, target/release/rbench).
# Numbers are from one machine at one moment; the machine must not be busy with anything else.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-1}
THREADS=${THREADS:-1}
TEST=${TEST:-get}
DURATION=${DURATION:-5s}
CAP_DURATION=${CAP_DURATION:-3s}
PCTS=${PCTS:-10,20,30,40,50,60,70,80,90,100}
RATES=${RATES:-}
ROUNDS=${ROUNDS:-1}
KEYSPACE=100000

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS=$2; shift 2 ;;
        -P|--pipeline) PIPELINE=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        -t|--test) TEST=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --cap-duration) CAP_DURATION=$2; shift 2 ;;
        --pcts) PCTS=$2; shift 2 ;;
        --rates) RATES=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --help|-help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
for v in "$CLIENTS" "$PIPELINE" "$THREADS" "$ROUNDS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "clients, pipeline, threads and rounds are positive integers" >&2; exit 2; }
done
[[ "$PCTS" =~ ^[0-9.]+(,[0-9.]+)*$ ]] || { echo "--pcts: a comma-separated list of percentages" >&2; exit 2; }
[ -z "$RATES" ] || [[ "$RATES" =~ ^[0-9.]+(,[0-9.]+)*$ ]] || { echo "--rates: a comma-separated list of rps" >&2; exit 2; }
need redis-server
need --hint " (used for free ports and JSON)" python3
rbench_binary
start_redis

SHAPE="-p $PORT -t $TEST -r $KEYSPACE --clients $CLIENTS -P $PIPELINE --threads $THREADS"
FILL_CMD="$RB -p $PORT -t set -r $KEYSPACE -n $((KEYSPACE * 2)) --clients 50 -P 16 -q --no-save"
CAP_CMD="$RB $SHAPE --duration $CAP_DURATION --json JSON --no-save -q"
RATE_CMD="$RB $SHAPE --rps RATE --duration $DURATION --json JSON --no-save -q"

echo "# server: redis-server $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/') on 127.0.0.1:$PORT"
echo "# rbench: $RB ($("$RB" --version 2>/dev/null | head -1 || true))"
echo "# commands:"
echo "#   fill:     $FILL_CMD"
[ -z "$RATES" ] && echo "#   capacity: $CAP_CMD"
echo "#   per rate: $RATE_CMD"

# run ARGS... -> the JSON file's path on stdout; dies with rbench's output if it fails
n_run=0
run() {
    n_run=$((n_run + 1))
    local json="$DIR/run-$n_run.json" out
    # shellcheck disable=SC2068
    if ! out=$("$@" --json "$json" 2>&1); then
        echo "rbench failed: $*" >&2
        echo "$out" | tail -20 >&2
        exit 1
    fi
    echo "$json"
}

# fields JSON -> "target achieved p50 p99 up50 up99 max_lag errors requests rps own99 ownmax"
fields() {
    python3 - "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
r = doc["results"][0]
lat = r.get("latency") or {}
unc = r.get("latency_uncorrected") or {}
own = r.get("client_lag") or {}
def f(v):
    return "nan" if v is None else repr(float(v))
print(" ".join(f(x) for x in (
    r.get("target_rps"), r.get("achieved_rps"), lat.get("p50_ms"), lat.get("p99_ms"),
    unc.get("p50_ms"), unc.get("p99_ms"), r.get("max_lag_ms"), r.get("errors"), r.get("requests"),
    r.get("rps"), own.get("p99_ms"), own.get("max_ms"))))
EOF
}

median() { # median of the numbers on stdin (one per line)
    sort -g | awk 'NF{v[++n]=$1} END{
        if (n==0) print "nan"; else if (n%2) print v[(n+1)/2]; else print (v[n/2]+v[n/2+1])/2 }'
}

# shellcheck disable=SC2086
if ! out=$($FILL_CMD 2>&1); then
    echo "rbench failed: $FILL_CMD" >&2
    echo "$out" | tail -20 >&2
    exit 1
fi

if [ -z "$RATES" ]; then
    caps=""
    for _ in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2086
        j=$(run $RB $SHAPE --duration "$CAP_DURATION" --no-save -q)
        caps+="$(fields "$j" | awk '{print $10}')"$'\n'
    done
    CAP=$(printf '%s' "$caps" | median)
    echo "# closed-loop capacity: $(printf '%.0f' "$CAP") rps (median of $ROUNDS)"
    RATE_LIST=$(echo "$PCTS" | tr ',' '\n' | awk -v c="$CAP" 'NF{r=int(c*$1/100+0.5); if (r<1) r=1; print r}')
else
    RATE_LIST=$(echo "$RATES" | tr ',' '\n' | awk 'NF{print int($1+0.5)}')
fi
echo "# rates: $(echo $RATE_LIST | tr ' ' ','); $ROUNDS round(s), $DURATION each"

# Rounds interleave the rates so a slow moment of the machine does not hit one rate's every round.
for r in $(seq "$ROUNDS"); do
    for rate in $RATE_LIST; do
        # shellcheck disable=SC2086
        j=$(run $RB $SHAPE --rps "$rate" --duration "$DURATION" --no-save -q)
        echo "$rate $(fields "$j")" >>"$DIR/rows"
    done
done

printf '%10s %11s %6s | %9s %9s | %9s %9s | %9s %9s | %11s %7s\n' \
    target_rps achieved %tgt p50_ms p99_ms unc_p50 unc_p99 own_p99 own_max max_lag_ms errors
for rate in $RATE_LIST; do
    rows=$(awk -v r="$rate" '$1==r' "$DIR/rows")
    col() { echo "$rows" | awk -v c="$1" '{print $c}' | median; }
    ach=$(col 3); p50=$(col 4); p99=$(col 5); u50=$(col 6); u99=$(col 7); lag=$(col 8)
    o99=$(col 12); omax=$(col 13)
    errs=$(echo "$rows" | awk '{s+=$9} END{print s+0}')
    awk -v t="$rate" -v a="$ach" -v p50="$p50" -v p99="$p99" -v u50="$u50" -v u99="$u99" -v lag="$lag" \
        -v o99="$o99" -v omax="$omax" -v e="$errs" 'BEGIN{
        printf "%10d %11.1f %5.1f%% | %9.3f %9.3f | %9.3f %9.3f | %9.3f %9.3f | %11.3f %7d\n",
            t, a, 100*a/t, p50, p99, u50, u99, o99, omax, lag, e }'
done
echo "p50/p99: corrected (from the intended send time); unc_*: uncorrected (from the actual send);"
echo "own_*: the client's own delay from a request's due time to taking it while a window slot was free."
[ "$ROUNDS" -gt 1 ] && echo "Each column is the median over $ROUNDS rounds; errors is the sum." || true
