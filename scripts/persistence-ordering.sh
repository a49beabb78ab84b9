#!/usr/bin/env bash
# How many invocations of the persistence profile agree on the write ordering (no AOF > AOF everysec >
# AOF always, by median TPS) and on what the table says of it, for a given sizing: the README's main
# job is sized by this.
#
#   scripts/persistence-ordering.sh ROUNDS [extra rbench flags...]
#   scripts/persistence-ordering.sh 5 --repeat 3 -n 200000
#
# Prints, per round, each write test's median TPS per target, whether the ordering held and the table's
# ordering sentence for it (table-<run>.md: `SET: no-aof ≈ aof-everysec ≫ aof-always`); then how many
# rounds held the ordering, how often each sentence came out per test (the table's verdict is only worth
# what it keeps from one invocation to the next), and the wall time of one round. Run it alone on the
# machine (no build, test or other load).
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
    "$bin" -c profiles/persistence.toml --out "$tmp/o$i" -q --json "$tmp/r$i.json" "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" >"$tmp/t$i"
done
python3 - "$tmp" "$rounds" <<'EOF'
import collections, glob, json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
order = ["no-aof", "aof-everysec", "aof-always"]
tests = ["SET", "LPUSH", "LPOP", "XADD"]
held, walls = 0, []
said = {t: collections.Counter() for t in tests}
for i in range(1, rounds + 1):
    doc = json.load(open(f"{tmp}/r{i}.json"))
    s, e = map(float, open(f"{tmp}/t{i}").read().split())
    walls.append(e - s)
    # The table's sentences: "- SET: a ≈ b ≫ c — in words", the compact form kept.
    (md,) = glob.glob(f"{tmp}/o{i}/table-*.md")
    sentences = {}
    for line in open(md, encoding="utf-8"):
        if line.startswith("- ") and ": " in line:
            test, rest = line[2:].rstrip("\n").split(": ", 1)
            sentences[test] = rest.split(" — ")[0]
    ok_all = True
    cells = []
    for test in tests:
        med = {}
        for t in order:
            v = [r["rps"] for r in doc["results"] if r["test"] == test and r["target"] == t]
            med[t] = statistics.median(v)
        ok = med["no-aof"] > med["aof-everysec"] > med["aof-always"]
        ok_all &= ok
        sentence = sentences.get(test, "(no sentence)")
        said[test][sentence] += 1
        cells.append(f"{test} " + "/".join(f"{med[t]/1000:.0f}k" for t in order)
                     + (" ok" if ok else " FLIPPED") + f" [{sentence}]")
    held += ok_all
    print(f"round {i}: " + "; ".join(cells))
print(f"ordering held in {held}/{rounds} rounds")
for test in tests:
    print(f"{test}: " + "; ".join(f"{s} ({n}/{rounds})" for s, n in said[test].most_common()))
print(f"one round takes {statistics.median(walls):.0f} s (median)")
EOF
