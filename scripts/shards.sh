#!/usr/bin/env bash
# Does splitting one run over shard processes change what it measures? Against one spawned
# redis-server (no persistence), ROUNDS alternating rounds of
#   1. redis-benchmark -t set -n N -c 48 (closed loop),
#   2. rbench -t set -n N --clients 48 (one process),
#   3. rbench -t set -n N --clients 16 --shard I/3 --start-at (3 processes, 48 clients in all),
#      then rbench merge of their folders,
# with user and sys CPU of each taken apart (the shards' summed). Prints one line per round, then the
# medians: TPS and p50/p99 of each, the merged run's requests (must be N) and how far apart the
# shards' windows started.
#
#   scripts/shards.sh ROUNDS [N]
#
# Run it alone on the machine (no build, test or other load).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
rounds=${1:?rounds}
n=${2:-300000}
need redis-server redis-benchmark /usr/bin/time python3
rbench_binary
bin=$(realpath "$RB")
start_redis
port=$PORT
tmp=$DIR

# Runs a command under /usr/bin/time, appending its "user sys" to the file $1.
timed() {
    local out=$1
    shift
    /usr/bin/time -f "%U %S" -a -o "$out" "$@"
}

for i in $(seq 1 "$rounds"); do
    timed "$tmp/rb$i.cpu" redis-benchmark -p "$port" -t set -n "$n" -c 48 -P 1 -r 100000 --csv 2>/dev/null \
        | tail -1 >"$tmp/rb$i.csv"
    timed "$tmp/one$i.cpu" "$bin" -p "$port" -t set -n "$n" --clients 48 -r 100000 -q \
        --no-save --json "$tmp/one$i.json" >/dev/null
    at=$(($(date +%s) + 2))
    pids=()
    for s in 0 1 2; do
        timed "$tmp/sh$i.cpu" "$bin" -p "$port" -t set -n "$n" --clients 16 -r 100000 -q \
            --shard "$s/3" --start-at "$at" --out "$tmp/sh$i-$s" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
    "$bin" merge "$tmp/sh$i-0" "$tmp/sh$i-1" "$tmp/sh$i-2" --no-save --json "$tmp/m$i.json" \
        >"$tmp/m$i.txt"
done

python3 - "$tmp" "$rounds" "$n" <<'PY'
import csv, json, re, statistics, sys
tmp, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cpu(path):
    u = s = 0.0
    for line in open(path):
        a, b = line.split()[-2:]
        u, s = u + float(a), s + float(b)
    return u, s
rows = []
for i in range(1, rounds + 1):
    rb = next(csv.reader(open(f"{tmp}/rb{i}.csv")))
    one = json.load(open(f"{tmp}/one{i}.json"))["results"][0]
    m = json.load(open(f"{tmp}/m{i}.json"))["results"][0]
    spread = float(re.search(r"within ([0-9.]+) ms", open(f"{tmp}/m{i}.txt").read()).group(1))
    r = {
        "rb_tps": float(rb[1]), "rb_p50": float(rb[4]), "rb_p99": float(rb[6]),
        "one_tps": one["rps"], "one_p50": one["latency"]["p50_ms"], "one_p99": one["latency"]["p99_ms"],
        "sh_tps": m["rps"], "sh_p50": m["latency"]["p50_ms"], "sh_p99": m["latency"]["p99_ms"],
        "sh_req": m["requests"], "spread_ms": spread,
    }
    for k in ("rb", "one", "sh"):
        r[k + "_user"], r[k + "_sys"] = cpu(f"{tmp}/{k}{i}.cpu")
    rows.append(r)
    print(f"round {i}: " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
print("median: " + " ".join(f"{k}={v:.3f}" for k, v in med.items()))
print(f"one/rb TPS {med['one_tps'] / med['rb_tps']:.2f}, shards/rb TPS {med['sh_tps'] / med['rb_tps']:.2f}, "
      f"shards/one TPS {med['sh_tps'] / med['one_tps']:.2f}; merged requests {int(med['sh_req'])} of {n}")
PY
