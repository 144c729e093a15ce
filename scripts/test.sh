#!/usr/bin/env bash
# `make test`: unit tests (swift test), then the namespace integration tests; ends with
# one line "N passed, N failed" over both.
set -uo pipefail
cd "$(dirname "$0")/.."
# Before anything else: every command the scripts and tests run is installed by
# scripts/install-deps.sh (a missing tool must fail here, not make a test pass or fail
# for the wrong reason).
if ! /usr/bin/python3 scripts/check-deps.py; then
    echo "0 passed, 1 failed"
    exit 1
fi
log=$(mktemp /tmp/herald-swift-test.XXXXXX.log)
swift test 2>&1 | tee "$log"
unit_status=${PIPESTATUS[0]}
unit_total=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .*/\1/p' "$log" | tail -n 1)
unit_failed=$(grep '^✘ Test .* failed after' "$log" | grep -vc '^✘ Test run with' || [ $? = 1 ])
if [ -z "$unit_total" ]; then
    echo "swift test did not finish (status $unit_status)"
    unit_total=1
    unit_failed=1
elif [ "$unit_status" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then
    unit_failed=1
fi
rm -f "$log"

# The fuzz targets: every committed input (seeds and every crash ever found) replayed
# once is a test per target; then a short search, whose findings are reported, not
# counted (an open-ended search must not fail CI at random: make fuzz runs the long one).
fuzz_log=$(mktemp /tmp/herald-fuzz.XXXXXX.log)
bash scripts/fuzz.sh replay 2>&1 | tee "$fuzz_log"
fuzz_passed=$(awk '$1 == "replay" && NF == 4 && $4 == "0"' "$fuzz_log" | wc -l)
fuzz_failed=$((4 - fuzz_passed))
rm -f "$fuzz_log"
smoke_log=$(mktemp /tmp/herald-fuzz-smoke.XXXXXX.log)
if ! bash scripts/fuzz.sh "${HERALD_FUZZ_SMOKE_SECONDS:-20}" >"$smoke_log" 2>&1; then
    echo "fuzz smoke: a NEW crashing input was found (not counted; fix it and commit it to Fuzz/corpus):"
fi
grep -v '^fuzz: building' "$smoke_log"
rm -f "$smoke_log"

# The package the integration tests install (t_package): a release build, then lintian.
rm -f .build/herald_*.deb
echo "make deb"
make -s deb 2>&1 | grep -v -e '^\[' -e 'mktemp' -e 'Compiling\|Building\|Planning\|Write' | tail -n 20

integration=$(mktemp /tmp/herald-integration.XXXXXX.log)
Tests/integration/run.sh 2>&1 | tee "$integration"
integration_passed=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$integration")
integration_failed=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$integration")
rm -f "$integration"
: "${integration_passed:=0}" "${integration_failed:=1}"

passed=$((unit_total - unit_failed + fuzz_passed + integration_passed))
failed=$((unit_failed + fuzz_failed + integration_failed))
echo "unit: $((unit_total - unit_failed)) passed, $unit_failed failed; fuzz: $fuzz_passed passed, $fuzz_failed failed; integration: $integration_passed passed, $integration_failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
