#!/usr/bin/env bash
# Builds one libFuzzer harness with clang (ASan + UBSan, leak checks on) and
# runs it for SECONDS (default 30) from its committed corpus and dictionary:
#   api     tests/fuzz/api-fuzz.c     the socket API (frames, commands, jobs)
#   http    tests/fuzz/http-fuzz.c    an HTTP client's bytes, split and timed
#   config  tests/fuzz/config-fuzz.c  arbitrary text as the configuration file
# New inputs go to build-fuzz/HARNESS-corpus/, crashes to build-fuzz/
# (crash-*, leak-*, timeout-*); any of them fails the run. Extra arguments go
# to libFuzzer (e.g. -runs=10000000 -max_total_time=3600).
#   tools/fuzz.sh [api|http|config] [SECONDS] [LIBFUZZER-ARGS...]
#   tools/fuzz.sh SECONDS                    (the api harness, as before)
# Needs the plain build (build/: config.h and the modules): tools/test.sh makes it.
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
build=$top/build
out=$top/build-fuzz
for p in clang libclang-rt-14-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=" $p"
done
if [ -n "${missing:-}" ]; then
	sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -f "$build/config.h" ] && [ -d "$build/modules/dir" ] || { echo "fuzz: build/ first (tools/test.sh)" >&2; exit 2; }
fuzz=$top/tests/fuzz
# Leaks are checked after every input that allocated more than it freed, except
# for config: libconfig's own parse-error leak (lsan.supp) and new metric names
# make that nearly every input, and the scans cost 3/4 of the time. Its leaks
# are caught by the check at exit instead (the run fails; rerun the corpus with
# -detect_leaks=1 to find the input).
leaks=1
case $harness in
api) corpus=$fuzz/corpus dict=$fuzz/api.dict max_len=4096 ;;
http) corpus=$fuzz/corpus-http dict=$fuzz/http.dict max_len=20000 ;;
config) corpus=$fuzz/corpus-config dict=$fuzz/config.dict max_len=8192 leaks=0 ;;
esac
mkdir -p "$out/$harness-corpus"
d=$top/daemon
flags=(-g -O1 -fno-sanitize-recover=all -DFOD_FUZZING -DFUZZ_SHIPPED_CONF="\"$top/etc/fanoutd.conf\""
	-include "$build/config.h" -I"$build" -I"$top/include" -I"$top/lib" -I"$top/tools" -I"$d"
	$(pkg-config --cflags libconfig msgpack libsystemd))
# The harness itself is not coverage-instrumented: only the daemon's paths guide the fuzzer.
clang "${flags[@]}" -fsanitize=address,undefined -c "$fuzz/$harness-fuzz.c" -o "$out/$harness-fuzz.o"
clang "${flags[@]}" -fsanitize=fuzzer,address,undefined "$out/$harness-fuzz.o" \
	"$d"/{api,wire,job,gen,conf,module,loop,log,metrics,gateway,query,call,http,router,endpoints,simsrv}.c \
	"$top/tools/procstat.c" "$top"/lib/*.c \
	$(pkg-config --libs libconfig msgpack libsystemd) -lev -lhttp_parser -ldl -lpthread -lm \
	-o "$out/$harness-fuzz"
cd "$out"
# The first corpus directory takes the new inputs; the committed one is only read.
FANOUTD_MODULES=$build/modules/dir ASAN_OPTIONS=detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$fuzz/lsan.supp:print_suppressions=0 "./$harness-fuzz" \
	-max_total_time="$secs" -max_len="$max_len" -timeout=30 -print_final_stats=1 -detect_leaks=$leaks \
	-dict="$dict" "$@" "$harness-corpus" "$corpus" >"$harness.log" 2>&1 || { tail -60 "$harness.log"; exit 1; }
tail -25 "$harness.log"
