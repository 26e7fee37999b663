#!/bin/sh
# Runs one test under a time bound (automake's TEST_LOG_COMPILER / SH_LOG_COMPILER),
# so a test that deadlocks FAILS, saying so, instead of hanging `make check`:
#   tests/bounded.sh [INTERPRETER] TEST
# After the bound the test's whole process group gets SIGTERM (its EXIT traps
# clean up), and SIGKILL 10 s later if anything is still there.
#
# Bounds in seconds, per test: about 5x (at least +30 s) what each takes under
# `tools/test.sh --tsan` (the slowest build) during a parallel `make -j2 check`
# on a 2-core machine, and above the test's own internal waits.
# FO_TEST_TIMEOUT=SECONDS overrides them all (e.g. for a slow machine).

[ $# -ge 1 ] || { echo "usage: tests/bounded.sh [INTERPRETER] TEST" >&2; exit 99; }
for last; do :; done
name=$(basename "$last")

case $name in
jobs.sh) bound=300 ;;    # TSan: ~40 s
nspawn.sh) bound=420 ;;  # boots systemd in a container; waits up to 180 s for basic.target itself
gateway.sh | http-limits.sh) bound=180 ;;
*.sh) bound=120 ;;
*.test) bound=90 ;;      # TSan: each under 10 s
*) bound=120 ;;
esac
bound=${FO_TEST_TIMEOUT:-$bound}

start=$(date +%s)
timeout --kill-after=10 "$bound" "$@" </dev/null
rc=$?
took=$(($(date +%s) - start))
# 124: ended by the SIGTERM; 137: it had to be SIGKILLed (timeout's own status then).
if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$took" -ge "$bound" ]; }; then
	echo "FAIL: $name did not finish within its time bound of $bound s (tests/bounded.sh):"
	echo "      killed by timeout(1) after $took s; a unit test's last 'Test:' line above is the one that hung"
	exit 1
fi
echo "time: $name took $took s (bound $bound s)"
exit "$rc"
