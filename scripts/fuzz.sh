#!/usr/bin/env bash
# `make fuzz` (and a short pass in `make test`): builds the libFuzzer targets in Fuzz/
# with Swift's -sanitize=fuzzer,address (release, in .build-fuzz; linked with lld, as gold
# crashes on the sanitized objects) and runs each for
# SECONDS, starting from the checked-in seeds (Fuzz/corpus) plus what earlier runs found
# (.build-fuzz/corpus). Prints one line per target: executions, rate, corpus, crashes;
# exits non-zero if any input crashed one (the input is kept in .build-fuzz/crashes).
#   scripts/fuzz.sh SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || :
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzFrames FuzzGossip FuzzConfig FuzzKube)
echo "fuzz: building ${targets[*]} (-sanitize=fuzzer,address, release)"
mkdir -p .build-fuzz/crashes
if ! HERALD_FUZZ=1 swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -g \
        -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
        >.build-fuzz/build.log 2>&1; then
    grep -E 'error' .build-fuzz/build.log | head -n 20
    echo "fuzz: the build failed (.build-fuzz/build.log)"
    exit 1
fi
failed=0
printf '%-12s %10s %10s %8s %8s\n' target execs "execs/s" corpus crashes
for target in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$target
    mkdir -p "$corpus"
    log=.build-fuzz/$target.log
    status=0
    # Swift's own crash reporter would trip AddressSanitizer and hide the crash site.
    SWIFT_BACKTRACE=enable=no ".build-fuzz/release/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=".build-fuzz/crashes/$target-" \
        "$corpus" "Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    crashes=0
    if [ "$status" != 0 ]; then
        crashes=1
        failed=1
    fi
    printf '%-12s %10s %10s %8s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "$size" "$crashes"
    if [ "$status" != 0 ]; then
        echo "fuzz: $target failed (status $status); the end of $log:"
        grep -v '^#' "$log" | tail -n 30 | sed 's/^/    /'
    fi
done
exit "$failed"
