#!/usr/bin/env bash
# How many invocations of the persistence profile agree on the write ordering (no AOF > AOF everysec >
# AOF always, by median TPS), for a given sizing: the README's main job is sized by this.
#
#   scripts/persistence-ordering.sh ROUNDS [extra rbench flags...]
#   scripts/persistence-ordering.sh 5 --repeat 3 -n 200000
#
# Prints, per round, each write test's median TPS per target and its spread, whether the ordering held
# and whether the table could name a clear winner; then how many rounds held it, and the wall time of one
# round. Run it alone on the machine (no build, test or other load).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?rounds}
shift
bin=target/release/rbench
[ -x "$bin" ] || cargo build --release -q
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$rounds"); do
    start=$(date +%s.%N)
    "$bin" -c profiles/persistence.toml --no-save -q --json "$tmp/r$i.json" "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" >"$tmp/t$i"
done
python3 - "$tmp" "$rounds" <<'EOF'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
order = ["no-aof", "aof-everysec", "aof-always"]
held, walls = 0, []
for i in range(1, rounds + 1):
    doc = json.load(open(f"{tmp}/r{i}.json"))
    s, e = map(float, open(f"{tmp}/t{i}").read().split())
    walls.append(e - s)
    ok_all = True
    cells = []
    for test in ["SET", "LPUSH", "LPOP", "XADD"]:
        med = {}
        for t in order:
            v = [r["rps"] for r in doc["results"] if r["test"] == test and r["target"] == t]
            med[t] = (statistics.median(v), min(v), max(v))
        ok = med["no-aof"][0] > med["aof-everysec"][0] > med["aof-always"][0]
        clear = med["no-aof"][1] > med["aof-everysec"][2] and med["aof-everysec"][1] > med["aof-always"][2]
        ok_all &= ok
        cells.append(f"{test} " + "/".join(f"{med[t][0]/1000:.0f}k" for t in order)
                     + (" ok" if ok else " FLIPPED") + (" clear" if clear else " overlap"))
    held += ok_all
    print(f"round {i}: " + "; ".join(cells))
print(f"ordering held in {held}/{rounds} rounds; one round takes {statistics.median(walls):.0f} s (median)")
EOF
