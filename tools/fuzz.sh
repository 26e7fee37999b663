#!/usr/bin/env bash
# Builds one libFuzzer harness (configure --enable-fuzz: clang, ASan + UBSan,
# the daemon's objects coverage-instrumented) in build-fuzz/ and runs it for
# SECONDS (default 30) from its committed corpus and dictionary, leak checks on:
#   api     tests/fuzz/api-fuzz.c     the socket API (frames, commands, jobs)
#   http    tests/fuzz/http-fuzz.c    an HTTP client's bytes, split and timed
#   config  tests/fuzz/config-fuzz.c  arbitrary text as the configuration file
# New inputs go to build-fuzz/HARNESS-corpus/, crashes to build-fuzz/
# (crash-*, leak-*, timeout-*; the run's output in fuzz-HARNESS.log); any of
# them fails the run. Extra arguments go
# to libFuzzer (e.g. -runs=10000000 -max_total_time=3600).
#   tools/fuzz.sh [api|http|config] [SECONDS] [LIBFUZZER-ARGS...]
#   tools/fuzz.sh SECONDS                    (the api harness, as before)
# The harnesses and the modules they load are built by automake (Makefile.am,
# "libFuzzer harnesses"), from the same daemon library as fanoutd.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
harness=api
case "${1:-}" in
api | http | config) harness=$1 && shift ;;
'' | [0-9]*) ;;
*) echo "usage: tools/fuzz.sh [api|http|config] [SECONDS] [LIBFUZZER-ARGS...]" >&2 && exit 2 ;;
esac
secs=${1:-30}
shift || true
out=$top/build-fuzz
"$top/tools/need-packages.sh" clang libclang-rt-14-dev
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi
mkdir -p "$out/$harness-corpus"
cd "$out"
# -O1: fast enough to fuzz, close enough to the source for the sanitizers' reports.
args="--enable-fuzz CC=clang CFLAGS=-g -O1"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$args" ]; then
	"$top/configure" --enable-fuzz CC=clang CFLAGS="-g -O1" >configure.out 2>&1 ||
		{ tail -20 configure.out; exit 1; }
	echo "$args" >.configure-args
fi
# The harness, and the modules it loads (modules/dir, made by all-local).
make -j2 "tests/fuzz/$harness-fuzz" all-local >make.out 2>&1 || { tail -40 make.out; exit 1; }
fuzz=$top/tests/fuzz
# Leaks are checked after every input that allocated more than it freed, except
# for config: libconfig's own parse-error leak (lsan.supp) and new metric names
# make that nearly every input, and the scans cost 3/4 of the time. Its leaks
# are caught by the check at exit instead (the run fails; rerun the corpus with
# -detect_leaks=1 to find the input).
# The same scanner leak (a few bytes per refused file, kept by ASan with its
# chunk header) grows a config campaign's RSS by ~130 bytes an input: past
# libFuzzer's default 2 GB limit before 10 M inputs, hence 4 GB for config.
leaks=1 rss=2048
case $harness in
api) corpus=$fuzz/corpus dict=$fuzz/api.dict max_len=4096 ;;
http) corpus=$fuzz/corpus-http dict=$fuzz/http.dict max_len=20000 ;;
config) corpus=$fuzz/corpus-config dict=$fuzz/config.dict max_len=8192 leaks=0 rss=4096 ;;
esac
# The first corpus directory takes the new inputs; the committed one is only read.
saved_before=$(find "$harness-corpus" -type f | wc -l)
FANOUTD_MODULES=$out/modules/dir ASAN_OPTIONS=detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$fuzz/lsan.supp:print_suppressions=0 "./tests/fuzz/$harness-fuzz" \
	-max_total_time="$secs" -max_len="$max_len" -timeout=30 -rss_limit_mb=$rss -print_final_stats=1 -detect_leaks=$leaks \
	-dict="$dict" "$@" "$harness-corpus" "$corpus" >"fuzz-$harness.log" 2>&1 || { tail -60 "fuzz-$harness.log"; exit 1; }
tail -25 "fuzz-$harness.log"
# A harness that shadows libc's file calls can keep libFuzzer from writing
# (the config harness once lost every input it found): new inputs must land.
# (With -jobs, the jobs' logs are copied into this one: their counts are summed.)
added=$(sed -n 's/^stat::new_units_added: *//p' "fuzz-$harness.log" | awk '{n += $1} END {print n + 0}')
saved=$(($(find "$harness-corpus" -type f | wc -l) - saved_before))
if [ "${added:-0}" -gt 0 ] && [ "$saved" -eq 0 ]; then
	echo "fuzz: libFuzzer found $added new inputs but none was saved in $out/$harness-corpus" >&2
	exit 1
fi
