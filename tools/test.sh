#!/usr/bin/env bash
# Sets everything up and runs every test: tools/test.sh [--asan|--tsan]
# Plain: build/ and `make check` (unit and integration tests). --asan / --tsan: the same
# under AddressSanitizer+UBSan (with LeakSanitizer: a leaking fanoutd exits non-zero and
# fails its test) or ThreadSanitizer, in build-asan/ or build-tsan/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
"") dir=build args=() ;;
--asan) dir=build-asan args=(--enable-asan) ;;
--tsan) dir=build-tsan args=(--enable-tsan) ;;
*) echo "usage: tools/test.sh [--asan|--tsan]" >&2; exit 2 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
"$top/tools/setup.sh" "$dir" "${args[@]}"
cd "$top/$dir"
if ! make -j"$(nproc)" check; then
	for f in tests/unit/*.log tests/integration/*.log; do
		grep -q "FAILED\|FAIL:\|ERROR\|WARNING: ThreadSanitizer\|leak" "$f" && cat "$f"
	done
	exit 1
fi
