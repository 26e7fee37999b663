#!/bin/sh
# Runs one test under a time bound (automake's TEST_LOG_COMPILER / SH_LOG_COMPILER),
# so a test that deadlocks FAILS, saying so, instead of hanging `make check`:
#   tests/bounded.sh [INTERPRETER] TEST
# After the bound the test's whole process group gets SIGTERM (its EXIT traps
# clean up), and SIGKILL 10 s later if anything is still there.
#
# Bounds in seconds, per test: at least 5x the slowest of the plain, ASan and
# TSan builds during a parallel `make -j2 check` on a 2-core machine (measured
# the day they were set: the times below), and above the test's own waits.
# FO_TEST_TIMEOUT=SECONDS overrides them all (a slow machine; proving a bound).

[ $# -ge 1 ] || { echo "usage: tests/bounded.sh [INTERPRETER] TEST" >&2; exit 99; }
for last; do :; done
name=$(basename "$last")

case $name in
jobs.sh) bound=300 ;;    # 39 s (TSan)
reload.sh) bound=180 ;;  # 34 s (ASan)
failalloc.sh) bound=180 ;; # 28 s (plain), 34 s (ASan): 221 reloads and 12 job.opens
nspawn.sh) bound=420 ;;  # 15 s (plain); waits up to 180 s for the container's basic.target
package.sh) bound=540 ;; # above its own waits: tools/deb.sh's 300 s and the container's 180 s
			 # (it ran past 120 s beside two fuzz campaigns: a whole package build)
http-downstream.sh) bound=420 ;; # 215 s (TSan, beside two fuzz campaigns), 44 s (plain, same)
*.sh) bound=120 ;;       # gateway.sh 23 s (TSan), api.sh 11 s (ASan), the others under 8 s
*.test) bound=60 ;;      # stream.test 7 s (TSan), the others under 4 s
*) bound=120 ;;
esac
bound=${FO_TEST_TIMEOUT:-$bound}

start=$(date +%s)
timeout --kill-after=10 "$bound" "$@" </dev/null
rc=$?
took=$(($(date +%s) - start))
# 124: ended by the SIGTERM; 137: it had to be SIGKILLed (timeout's own status then).
if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$took" -ge "$bound" ]; }; then
	echo
	echo "FAIL: $name did not finish within its time bound of $bound s (tests/bounded.sh):"
	echo "      killed by timeout(1) after $took s; a unit test's last 'Test:' line above is the one that hung"
	exit 1
fi
echo "time: $name took $took s (bound $bound s)"
exit "$rc"
