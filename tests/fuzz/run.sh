#!/usr/bin/env bash
# run.sh — run every fuzz harness built by `make fuzzers` (build/fuzz/fuzz_*) for
# FUZZ_SECONDS seconds (default 25) and print one TAP line per harness with the
# executions it ran. Each works on build/fuzz/corpus/NAME, seeded from the committed
# tests/fuzz/corpus/NAME, so what it learns is kept between runs and the seeds stay small.
# A finding fails its line and leaves the input as build/fuzz/NAME-crash-* (or -leak-,
# -timeout-, -oom-); reproduce with build/fuzz/fuzz_NAME THAT_FILE.
#
#   make fuzz                   25 s each
#   FUZZ_SECONDS=600 make fuzz  a longer run by hand
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-25}
# one BLAS thread: the harness inputs are small, and threads only add noise to the timing
export OPENBLAS_NUM_THREADS=1
n=0
status=0
for h in build/fuzz/fuzz_*; do
	[ -x "$h" ] || { echo "not ok 1 - no fuzz harness is built (make fuzzers)"; exit 1; }
	name=${h##*/fuzz_}
	n=$((n + 1))
	mkdir -p "build/fuzz/corpus/$name"
	log=build/fuzz/$name.log
	# -timeout: one input taking 10 s is a finding; the rest are libFuzzer's defaults
	"$h" -max_total_time="$secs" -timeout=10 -print_final_stats=1 -artifact_prefix="build/fuzz/$name-" \
		"build/fuzz/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	corpus=$(ls "build/fuzz/corpus/$name" | wc -l)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "ok $n - fuzz_$name: ${execs} executions in ${secs} s (${rate}/s), corpus ${corpus}, nothing found"
	else
		echo "not ok $n - fuzz_$name: exit $rc after ${execs:-?} executions (log: $log)"
		grep -m 1 -E 'ERROR|runtime error|fuzz_[a-z]+: ' "$log" | sed 's/^/#   /'
		ls build/fuzz/"$name"-* 2>/dev/null | sed 's/^/#   input: /'
		status=1
	fi
done
echo "1..$n"
exit $status
