#!/usr/bin/env bash
# libFuzzer on Herald's inputs. Builds the targets in Fuzz/ with Swift's
# -sanitize=fuzzer,address (release, in .build-fuzz; linked with lld, as gold crashes on
# the sanitized objects), then:
#   scripts/fuzz.sh replay [TARGET...]    runs every committed input (Fuzz/corpus/TARGET:
#       seeds, and each crash ever found, kept as a regression seed) once; prints one line
#       per target, "replay TARGET INPUTS CRASHES"; exits non-zero if any input crashes.
#       Deterministic: this is what `make test` counts.
#   scripts/fuzz.sh SECONDS [TARGET...]   searches for SECONDS per target from the seeds
#       plus what earlier runs found (.build-fuzz/corpus); prints executions, rate, corpus,
#       crashes; a crashing input is kept in .build-fuzz/crashes and printed in base64 (fix
#       it, then commit it to Fuzz/corpus/TARGET); exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-60}
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
# Swift's own crash reporter would trip AddressSanitizer and hide the crash site.
run() { SWIFT_BACKTRACE=enable=no ".build-fuzz/release/$1" -max_len=8192 -timeout=10 -rss_limit_mb=2048 "${@:2}"; }

failed=0
if [ "$mode" = replay ]; then
    for target in "${targets[@]}"; do
        log=.build-fuzz/$target.replay.log
        inputs=$(find "Fuzz/corpus/$target" -type f | wc -l)
        status=0
        run "$target" -runs=0 -artifact_prefix=".build-fuzz/crashes/$target-replay-" "Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
        crashes=$([ "$status" = 0 ] && echo 0 || echo 1)
        echo "replay $target $inputs $crashes"
        if [ "$status" != 0 ]; then
            failed=1
            echo "fuzz: a committed input crashes $target (status $status); the end of $log:"
            grep -v '^#' "$log" | tail -n 30 | sed 's/^/    /'
        fi
    done
    exit "$failed"
fi

seconds=$mode
printf '%-12s %10s %10s %8s %8s\n' target execs "execs/s" corpus crashes
for target in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$target
    mkdir -p "$corpus"
    log=.build-fuzz/$target.log
    status=0
    run "$target" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix=".build-fuzz/crashes/$target-" \
        "$corpus" "Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    crashes=$([ "$status" = 0 ] && echo 0 || echo 1)
    printf '%-12s %10s %10s %8s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "$size" "$crashes"
    if [ "$status" != 0 ]; then
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz: $target crashed (status $status); the end of $log:"
        grep -v '^#' "$log" | tail -n 30 | sed 's/^/    /'
        if [ -n "$artifact" ] && [ -f "$artifact" ]; then
            echo "fuzz: the input, base64 (fix it, then add it to Fuzz/corpus/$target as a regression seed): $(base64 -w0 "$artifact")"
        fi
    fi
done
exit "$failed"
