#!/usr/bin/env bash
# How often `rbench compare` fails same-code runs, and how often it catches a change of one
# configuration, on real noise: RUNS invocations of a profile (each its own results folder), then
#   - every ordered pair of two runs compared (same code: exit 0 is right, 1 a false alarm, 4 unjudged);
#   - every pair again with the candidate's throughput of one configuration scaled by DROP (all its
#     repeats), and then its p99 scaled by RISE: exit 1 naming that configuration is a detection.
#
#   scripts/verdict-power.sh RUNS [PROFILE] [DROP] [RISE]
#   scripts/verdict-power.sh 12 profiles/persistence.toml 0.8 1.3
#   DATA=/path/with/r01..rNN scripts/verdict-power.sh 0     # judge runs collected before
#   RBENCH=/path/to/rbench ...                               # judge with another build
#
# Run it alone on the machine (no build, test or other load): the noise it measures is the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:?runs}
profile=${2:-profiles/persistence.toml}
drop=${3:-0.8}
rise=${4:-1.3}
bin=${RBENCH:-target/release/rbench}
[ -x "$bin" ] || cargo build --release -q
data=${DATA:-$(mktemp -d)}
for i in $(seq -w 1 "$runs"); do
    start=$(date +%s.%N)
    "$bin" -c "$profile" -q --out "$data/r$i" >/dev/null 2>&1
    echo "r$i $(python3 -c "import time; print(round(time.time() - $start, 1))")" >>"$data/walls"
done
python3 - "$bin" "$data" "$drop" "$rise" <<'PY'
import csv, glob, itertools, os, subprocess, sys, tempfile
bin, data, drop, rise = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
files = sorted(glob.glob(f"{data}/r*/runs.csv"))
tmp = tempfile.mkdtemp()
def compare(a, b):
    return subprocess.run([bin, "compare", a, b], capture_output=True, text=True)
def scaled(path, key, col, factor):
    rows = list(csv.DictReader(open(path)))
    out = os.path.join(tmp, "cand.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rows[0].keys())
        w.writeheader()
        for r in rows:
            if (r["target"], r["test"]) == key:
                r[col] = "%.3f" % (float(r[col]) * factor)
            w.writerow(r)
    return out
keys = sorted({(r["target"], r["test"]) for r in csv.DictReader(open(files[0]))})
pairs = list(itertools.permutations(files, 2))
codes = {}
for a, b in pairs:
    c = compare(a, b).returncode
    codes[c] = codes.get(c, 0) + 1
print(f"same code, {len(pairs)} ordered pairs of {len(files)} runs: " +
      ", ".join(f"exit {k}: {v}" for k, v in sorted(codes.items())))
for col, factor, what in (("rps", drop, f"rps x{drop}"), ("p99_ms", rise, f"p99 x{rise}")):
    hit = {k: 0 for k in keys}; other = 0; n = 0
    for a, b in pairs:
        for k in keys:
            res = compare(a, scaled(b, k, col, factor))
            n += 1
            line = [l for l in res.stdout.splitlines() if l.startswith(k[0]) and f" {k[1]} " in l]
            if res.returncode == 1 and line and "REGRESSION" in line[0]:
                hit[k] += 1
    total = sum(hit.values())
    print(f"{what} in one configuration: flagged {total}/{n} ({100*total/n:.0f}%); per configuration: " +
          ", ".join(f"{t}/{s} {v}/{len(pairs)}" for (t, s), v in hit.items()))
PY
