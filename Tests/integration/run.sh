#!/usr/bin/env bash
# Runs every integration test (t_*.sh), each in its own bash with a time limit, and
# prints one line per test and the totals as "N passed, N failed".
cd "$(dirname "$0")"
filter=${1:-}
passed=0
failed=0
failures=()
for test in t_*.sh; do
    name=${test%.sh}
    [ -n "$filter" ] && [[ $name != *$filter* ]] && continue
    log=$(mktemp "/tmp/herald-$name.XXXXXX.log")
    start=$(date +%s)
    if timeout --kill-after=10 300 bash "$test" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name ($(( $(date +%s) - start ))s)"
        rm -f "$log"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL $name ($(( $(date +%s) - start ))s), last lines of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
    fi
done
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
