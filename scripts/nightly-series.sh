#!/usr/bin/env bash
# How trustworthy is `rbench nightly` on this machine? Runs a series of same-code nights and then
# candidate nights made slower on purpose, each with `rbench nightly -c profiles/nightly.toml`, and
# prints every night's exit code and verdict, plus the spread of each test over the nights.
#
# Usage:
#   scripts/nightly-series.sh [NIGHTS] [OUTDIR]      defaults: 10 nights, a new temp dir
#     1. NIGHTS same-code nights into OUTDIR (the first one creates the baseline, so NIGHTS-1 are
#        judged); "same-code nights exiting non-zero" is the false-alarm count.
#     2. On copies of OUTDIR (the series' history stays clean), one candidate night each:
#        - hog:    a CPU-bound process busy on one core for the whole night;
#        - halfhog: the same process busy only half the time (50 ms on, 50 ms off): a milder drop;
#        - always: the aof-everysec target spawned with --appendfsync always (writes fsync each
#                  command), the same target name so its rows meet the baseline's.
#        Both should exit 1 and name the affected tests.
#   RBENCH=/path/to/rbench ...   use that binary (default: cargo build --release)
#   SLOW=no ...                  skip step 2
#   NIGHTLY_ARGS="..."           extra flags for every `rbench nightly` (e.g. --max-drop 10%)
#
# Take the figures on a quiet machine: nothing else building, testing or measuring.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

NIGHTS=${1:-10}
[[ "$NIGHTS" =~ ^[0-9]+$ ]] && [ "$NIGHTS" -ge 2 ] || { echo "usage: $0 [NIGHTS>=2] [OUTDIR]" >&2; exit 2; }
need python3
rbench_binary
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
# shellcheck disable=SC2206  # NIGHTLY_ARGS is a plain word list
EXTRA=(${NIGHTLY_ARGS:-})
trap 'exit 130' INT TERM

night() { # DIR PROFILE LABEL -> prints "LABEL exit=N <summary line>"
    local code=0 log
    log=$("$RB" nightly -c "$2" --out "$1" "${EXTRA[@]}" 2>&1) || code=$?
    echo "$3 exit=$code $(echo "$log" | grep '^nightly:' | tail -1)"
    echo "$log" | grep -E 'REGRESSION \(' | sed 's/^/    /' || true
}

echo "# $NIGHTS same-code nights into $OUT ($("$RB" --version | head -1))"
for i in $(seq "$NIGHTS"); do
    night "$OUT" profiles/nightly.toml "night $i"
done

echo
echo "# spread over the nights: median rps / p99 per night, then the range over nights relative"
echo "# to their median, and the typical within-night range of the repeats"
python3 - "$OUT/history.csv" <<'EOF'
import csv, sys, statistics as st, collections
rows = list(csv.DictReader(open(sys.argv[1])))
g = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    g[(r['target'], r['test'])][r['run_id']].append((float(r['rps']), float(r['p99_ms'])))
print(f"{'target':14} {'test':6} {'nights':>6} {'rps med':>9} {'rps range':>9} {'rps within':>10} {'p99 med':>8} {'p99 range':>9}")
for k, nights in sorted(g.items()):
    rps = [st.median(a for a, _ in v) for v in nights.values()]
    p99 = [st.median(b for _, b in v) for v in nights.values()]
    within = st.median((max(a for a, _ in v) - min(a for a, _ in v)) / st.median(a for a, _ in v) for v in nights.values())
    m, mp = st.median(rps), st.median(p99)
    print(f"{k[0]:14} {k[1]:6} {len(rps):6} {m:9.0f} {(max(rps)-min(rps))/m*100:8.1f}% {within*100:9.1f}% {mp:8.3f} {(max(p99)-min(p99))/mp*100:8.1f}%")
EOF

[ "${SLOW:-yes}" = no ] && exit 0
echo
echo "# candidate nights made slower (on copies of the history)"
HOG=""
stop_hog() { if [ -n "$HOG" ]; then kill "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true; HOG=""; fi; }
trap 'stop_hog' EXIT
cp -r "$OUT" "$OUT.hog"
python3 -c 'while True: pass' &
HOG=$!
night "$OUT.hog" profiles/nightly.toml "hog   "
stop_hog

cp -r "$OUT" "$OUT.halfhog"
python3 -c '
import time
while True:
    end = time.monotonic() + 0.05
    while time.monotonic() < end: pass
    time.sleep(0.05)' &
HOG=$!
night "$OUT.halfhog" profiles/nightly.toml "halfhog"
stop_hog

cp -r "$OUT" "$OUT.always"
sed 's/"--appendfsync", "everysec"/"--appendfsync", "always"/' profiles/nightly.toml >"$OUT.always/nightly.toml"
night "$OUT.always" "$OUT.always/nightly.toml" "always"
