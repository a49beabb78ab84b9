#!/usr/bin/env bash
# What the saturation search finds, and whether it holds: against one spawned redis-server (no
# persistence), SEARCHES alternating rounds of
#   1. redis-benchmark -t set, closed loop (its TPS and p99: the number people quote),
#   2. rbench --slo OBJECTIVE -t set (the rate found, its confirmation, the ceiling, the steps it took,
#      its wall time),
#   3. RERUNS fresh rbench --rps runs at the rate found, STEP long each (did each meet the objective?),
# with the same --clients (50) and -P (1) throughout.
#
#   scripts/saturation.sh SEARCHES [OBJECTIVE] [STEP] [RERUNS]
#   scripts/saturation.sh 5 p99=1ms 5s 5
#   RBENCH=/path/to/rbench CONFIRM=2 scripts/saturation.sh 5    # another build; --slo-confirm 2
#
# Prints one line per search, then the medians and the re-runs held over all searches. Run it alone
# on the machine (no build, test or other load): latency objectives measure the machine as much as
# the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
rounds=${1:?searches}
objective=${2:-p99=1ms}
step=${3:-5s}
reruns=${4:-5}
need redis-server redis-benchmark python3
rbench_binary
confirm=()
[ -n "${CONFIRM:-}" ] && confirm=(--slo-confirm "$CONFIRM")
start_redis

for i in $(seq 1 "$rounds"); do
    redis-benchmark -p "$PORT" -t set -n 500000 -c 50 -P 1 --csv 2>/dev/null | tail -1 >"$DIR/rb$i.csv"
    start=$(date +%s.%N)
    "$RB" -p "$PORT" -t set --clients 50 --slo "$objective" --slo-step "$step" "${confirm[@]}" \
        --no-save -q --json "$DIR/s$i.json" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" >"$DIR/t$i"
    found=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['results'][0]['slo']; print(int(s['max_rps'] or 0))" "$DIR/s$i.json")
    [ "$found" -gt 0 ] || continue
    for k in $(seq 1 "$reruns"); do
        "$RB" -p "$PORT" -t set --clients 50 --rps "$found" --duration "$step" --no-save -q \
            --json "$DIR/at$i-$k.json" >/dev/null
    done
done

python3 - "$DIR" "$rounds" "$objective" "$reruns" <<'PY'
import csv, json, os, statistics, sys
tmp, rounds, objective, reruns = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
name, limit = objective.split("=")
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
unit = next(u for u in ("us", "ms", "s") if limit.endswith(u))
limit_ms = float(limit[: -len(unit)]) * scale[unit]
key = {"p50": "p50_ms", "p90": "p90_ms", "p99": "p99_ms", "p999": "p999_ms", "max": "max_ms"}[name]
rows = []
for i in range(1, rounds + 1):
    rb = next(csv.reader(open(f"{tmp}/rb{i}.csv")))
    s = json.load(open(f"{tmp}/s{i}.json"))["results"][0]["slo"]
    t0, t1 = map(float, open(f"{tmp}/t{i}").read().split())
    found = s["max_rps"] or 0
    runs = [r for r in (f"{tmp}/at{i}-{k}.json" for k in range(1, reruns + 1)) if os.path.exists(r)]
    lat = []
    for p in runs:
        r = json.load(open(p))["results"][0]
        ok = r["latency"][key] <= limit_ms and r["achieved_rps"] >= 0.97 * r["target_rps"]
        lat.append((r["latency"][key], ok))
    at = [st for st in s["steps"] if st["rate"] == found]
    rows.append(dict(rb_tps=float(rb[1]), rb_p99=float(rb[6]), found=found, ceiling=s["ceiling_rps"],
                     outcome=s["outcome"], steps=len(s["steps"]), wall=t1 - t0,
                     conf=f"{sum(st['pass'] for st in at)}/{len(at)}", missed=s.get("missed_rps"),
                     held=sum(ok for _, ok in lat), runs=len(lat), lat=[v for v, _ in lat]))
print(f"objective {name} <= {limit_ms} ms; redis-benchmark -t set -c 50 closed loop vs rbench --slo; "
      f"{reruns} fresh runs at the rate found")
print(f"search  rb TPS  rb {name:4}  ceiling    found  confirmed  missed at  steps  wall s  re-runs held  re-run {name} (ms)")
for i, r in enumerate(rows, 1):
    missed = f"{r['missed']:9.0f}" if r["missed"] else "        -"
    lat = " ".join(f"{v:.3f}" for v in r["lat"])
    print(f"{i:6}  {r['rb_tps']:7.0f} {r['rb_p99']:7.3f} {r['ceiling']:8.0f} {r['found']:8.0f}  {r['conf']:>9}  "
          f"{missed}  {r['steps']:5}  {r['wall']:6.1f}  {r['held']:>5}/{r['runs']:<5}  {lat}  ({r['outcome']})")
med = lambda k: statistics.median(r[k] for r in rows)
print(f"median  {med('rb_tps'):7.0f} {med('rb_p99'):7.3f} {med('ceiling'):8.0f} {med('found'):8.0f}  "
      f"{'':9}  {'':9}  {med('steps'):5}  {med('wall'):6.1f}")
held = sum(r["held"] for r in rows)
runs = sum(r["runs"] for r in rows)
good = sum(1 for r in rows if r["runs"] and r["held"] >= r["runs"] - 1)
print(f"re-runs at the rate found that met the objective: {held}/{runs}; "
      f"searches whose rate held in at least {reruns - 1} of {reruns}: {good}/{len(rows)}")
PY
