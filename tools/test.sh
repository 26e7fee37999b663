#!/usr/bin/env bash
# Sets everything up and runs every test: tools/test.sh [--asan|--tsan]
# Plain: build/ and `make check`. --asan / --tsan: the unit tests under
# AddressSanitizer+UBSan (with LeakSanitizer) or ThreadSanitizer, in build-asan/ or build-tsan/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
"") dir=build args=() ;;
--asan) dir=build-asan args=(--enable-asan --disable-shared) ;;
--tsan) dir=build-tsan args=(--enable-tsan --disable-shared) ;;
*) echo "usage: tools/test.sh [--asan|--tsan]" >&2; exit 2 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
"$top/tools/setup.sh" "$dir" "${args[@]}"
cd "$top/$dir"
if ! make -j"$(nproc)" check; then
	for f in tests/unit/*.log; do grep -q "FAILED\|ERROR\|WARNING: ThreadSanitizer\|leak" "$f" && cat "$f"; done
	exit 1
fi
