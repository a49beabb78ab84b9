#!/usr/bin/env bash
# Fuzzes rbench's streaming reply classifier (src/resp/scan.rs): the property tests of
# src/resp/scan/tests.rs — generated RESP2/RESP3 streams split anywhere, corrupted anywhere, and
# arbitrary bytes — judged against redis-protocol's decoders, for CASES cases per property
# (default 3.4 million: 10^7 over the three). Release build; exits non-zero on the first failure,
# which proptest shrinks to the smallest failing stream and prints.
#
#   scripts/fuzz-replies.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-3400000}
start=$(date +%s)
PROPTEST_CASES=$cases cargo test --release --lib -- --exact \
    resp::scan::tests::valid_streams_classify_as_the_decoder_does \
    resp::scan::tests::corrupted_streams_are_errors_where_the_decoder_finds_them \
    resp::scan::tests::arbitrary_bytes_are_safe
echo "fuzz-replies: 3 properties x $cases cases passed in $(( $(date +%s) - start )) s"
