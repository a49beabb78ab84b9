#!/usr/bin/env bash
# What the saturation search finds, and whether it holds: against one spawned redis-server (no
# persistence), ROUNDS alternating rounds of
#   1. redis-benchmark -t set, closed loop (its TPS and p99: the number people quote),
#   2. rbench --slo OBJECTIVE -t set (the rate found, the ceiling, the steps it took, its wall time),
#   3. rbench --rps at the rate found and at 1.25x it, STEP long each (p99 and the rate delivered),
# with the same --clients (50) and -P (1) throughout.
#
#   scripts/saturation.sh ROUNDS [OBJECTIVE] [STEP]
#   scripts/saturation.sh 3 p99=1ms 5s
#
# Prints one line per round, then the medians. Run it alone on the machine (no build, test or other
# load): latency objectives measure the machine as much as the server.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?rounds}
objective=${2:-p99=1ms}
step=${3:-5s}
bin=target/release/rbench
[ -x "$bin" ] || cargo build --release -q
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done

for i in $(seq 1 "$rounds"); do
    redis-benchmark -p "$port" -t set -n 500000 -c 50 -P 1 --csv 2>/dev/null | tail -1 >"$tmp/rb$i.csv"
    start=$(date +%s.%N)
    "$bin" -p "$port" -t set --clients 50 --slo "$objective" --slo-step "$step" --no-save -q \
        --json "$tmp/s$i.json" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" >"$tmp/t$i"
    found=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['results'][0]['slo']; print(int(s['max_rps'] or 0))" "$tmp/s$i.json")
    for k in at above; do
        rate=$found
        [ "$k" = above ] && rate=$((found * 5 / 4))
        [ "$rate" -gt 0 ] || continue
        "$bin" -p "$port" -t set --clients 50 --rps "$rate" --duration "$step" --no-save -q \
            --json "$tmp/$k$i.json" >/dev/null
    done
done

python3 - "$tmp" "$rounds" "$objective" <<'EOF'
import csv, json, os, statistics, sys
tmp, rounds, objective = sys.argv[1], int(sys.argv[2]), sys.argv[3]
name, limit = objective.split("=")
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
unit = next(u for u in ("us", "ms", "s") if limit.endswith(u))
limit_ms = float(limit[: -len(unit)]) * scale[unit]
key = {"p50": "p50_ms", "p99": "p99_ms", "p999": "p999_ms", "max": "max_ms"}[name]
rows = []
for i in range(1, rounds + 1):
    rb = next(csv.reader(open(f"{tmp}/rb{i}.csv")))
    s = json.load(open(f"{tmp}/s{i}.json"))["results"][0]["slo"]
    t0, t1 = map(float, open(f"{tmp}/t{i}").read().split())
    def rerun(k):
        p = f"{tmp}/{k}{i}.json"
        if not os.path.exists(p):
            return None
        r = json.load(open(p))["results"][0]
        return r["latency"][key], r["achieved_rps"] / r["target_rps"]
    rows.append(dict(rb_tps=float(rb[1]), rb_p99=float(rb[6]), found=s["max_rps"] or 0,
                     ceiling=s["ceiling_rps"], outcome=s["outcome"], steps=len(s["steps"]),
                     wall=t1 - t0, at=rerun("at"), above=rerun("above")))
print(f"objective {name} <= {limit_ms} ms; redis-benchmark -t set -c 50 closed loop vs rbench --slo")
print("round  rb TPS   rb p99  ceiling  found    found/rb  steps  wall s  at found: %s, held   at 1.25x: %s, delivered" % (name, name))
for i, r in enumerate(rows, 1):
    at = r["at"] and f"{r['at'][0]:6.3f} {'yes' if r['at'][0] <= limit_ms else 'no '}"
    ab = r["above"] and f"{r['above'][0]:7.3f} {100 * r['above'][1]:5.1f}%"
    print(f"{i:5}  {r['rb_tps']:7.0f} {r['rb_p99']:7.3f} {r['ceiling']:8.0f} {r['found']:8.0f} "
          f"{r['found'] / r['rb_tps']:8.2f}  {r['steps']:5}  {r['wall']:6.1f}  {at}      {ab}  ({r['outcome']})")
med = lambda k: statistics.median(r[k] for r in rows)
print(f"median {med('rb_tps'):7.0f} {med('rb_p99'):7.3f} {med('ceiling'):8.0f} {med('found'):8.0f} "
      f"{med('found') / med('rb_tps'):8.2f}  {med('steps'):5}  {med('wall'):6.1f}")
held = sum(1 for r in rows if r["at"] and r["at"][0] <= limit_ms)
over = sum(1 for r in rows if r["above"] and (r["above"][0] > limit_ms or r["above"][1] < 0.97))
print(f"the rate found held when run again: {held}/{rounds}; 1.25x it missed: {over}/{rounds}")
EOF
