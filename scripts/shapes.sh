#!/usr/bin/env bash
# Rate-shape accuracy of rbench's open loop against one local redis-server (spawned on a free
# loopback port, stopped by PID on exit): for each shape, one run
#   rbench -t TEST --rps SHAPE --clients C --threads T --out DIR
# then, from its timeline CSV, every whole second's achieved rate (replies: ok + errors, all the
# phase's commands) against the shape's mean over that second (the timeline's target_rps column).
# Prints a table per shape (second, target, achieved, error %) and a summary line: the seconds
# within 2 % of their target, the largest error, and the run's p50/p99.
#
# Usage: scripts/shapes.sh [SHAPE...]
# Default shapes: ramp:1000..50000/30s, and a file: shape with a step (2000 → 10000 rps at 5 s) and
# a spike (30000 rps from 10 s to 12 s) over 20 s. Environment: TEST (set), CLIENTS (50), THREADS
# (1), QUIET=1 prints only the summary lines. RBENCH=/path/to/rbench picks the binary (default:
# cargo build --release, target/release/rbench). Keep the shapes below the closed-loop capacity of
# the configuration (scripts/open-loop.sh measures it), and measure with nothing else running.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

TEST=${TEST:-set}
CLIENTS=${CLIENTS:-50}
THREADS=${THREADS:-1}
QUIET=${QUIET:-0}
need redis-server redis-cli python3
rbench_binary
start_redis

shapes=("$@")
if [ ${#shapes[@]} -eq 0 ]; then
    cat > "$DIR/step-spike.csv" <<'CSV'
t_s,rps
0,2000
5,2000
5,10000
10,10000
10,30000
12,30000
12,10000
20,10000
CSV
    shapes=("ramp:1000..50000/30s" "file:$DIR/step-spike.csv")
fi

for shape in "${shapes[@]}"; do
    out="$DIR/out-$RANDOM"
    "$RB" -p "$PORT" -t "$TEST" --rps "$shape" --clients "$CLIENTS" --threads "$THREADS" \
        -r 100000 -q --out "$out" >/dev/null
    python3 - "$out" "$shape" "$QUIET" <<'PY'
import csv, glob, sys
out, shape, quiet = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
rows = list(csv.DictReader(open(glob.glob(out + "/timeline-*.csv")[0])))
run = list(csv.DictReader(open(out + "/runs.csv")))[0]
secs = {}
for r in rows:
    k = int(r["elapsed_s"])
    done, target, span = int(r["ok"]) + int(r["errors"]), float(r["target_rps"]), float(r["span_s"])
    a = secs.setdefault(k, [0, target, span])
    a[0] += done
whole = [(k, v) for k, v in sorted(secs.items()) if v[2] >= 0.999 and k <= int(float(run["duration_s"]))]
errs = []
if not quiet:
    print(f"{shape}: second, target rps, achieved rps, error %")
for k, (done, target, _) in whole:
    e = 100.0 * (done - target) / target
    errs.append(abs(e))
    if not quiet:
        print(f"  {k:4d} {target:10.1f} {done:10d} {e:+7.2f}")
within = sum(1 for e in errs if e <= 2.0)
print(f"{shape}: {within}/{len(errs)} whole seconds within 2% of target, max error {max(errs):.2f}%, "
      f"requests {run['requests']}, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, short seconds {run['short_seconds']}")
PY
done
