#!/usr/bin/env bash
# Builds the libFuzzer harness for the socket API (tests/fuzz/api-fuzz.c) with
# clang (ASan + UBSan) and runs it for SECONDS (default 30) starting from the
# committed corpus, tests/fuzz/corpus/. New inputs go to build-fuzz/corpus/,
# crashes to build-fuzz/ (crash-*); any crash fails the run.
#   tools/fuzz.sh [SECONDS]
# Needs the plain build (build/: config.h and the modules): tools/test.sh makes it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
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
mkdir -p "$out/corpus"
d=$top/daemon
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-DFOD_FUZZING -include "$build/config.h" -I"$build" -I"$top/include" -I"$top/lib" -I"$top/tools" -I"$d" \
	$(pkg-config --cflags libconfig msgpack libsystemd) \
	"$top/tests/fuzz/api-fuzz.c" "$d"/{api,wire,job,gen,module,loop,log,metrics,gateway,call,http}.c \
	"$top/tools/procstat.c" "$top"/lib/*.c \
	$(pkg-config --libs libconfig msgpack libsystemd) -lev -lhttp_parser -ldl -lpthread -lm \
	-o "$out/api-fuzz"
cd "$out"
FANOUTD_MODULES=$build/modules/dir ASAN_OPTIONS=detect_leaks=1 ./api-fuzz \
	-max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
	-dict="$top/tests/fuzz/api.dict" corpus "$top/tests/fuzz/corpus" 2>&1 | tail -25
