#!/usr/bin/env bash
# Header and symbol hygiene (issue 8), over a source tree and a built tree:
#   tools/check-hygiene.sh SRCDIR BUILDDIR
# 1. Every header's include guard opens first and closes last: nothing is
#    outside it.
# 2. Every global symbol the daemon's and libfanout's objects define is used
#    by another object of the build (daemon, lib, modules, tools, tests) or by
#    a fuzz harness: one used in its own file only is `static`. Exempt: the
#    library's public API (fo_*, declared in include/fanoutd/), main, and a
#    function a header's macro expands to (log_errno -> fod_log_errno).
# Prints each problem and exits 1 if there is any.
set -euo pipefail
src=${1:?usage: check-hygiene.sh SRCDIR BUILDDIR}
build=${2:?usage: check-hygiene.sh SRCDIR BUILDDIR}
bad=0

# ---- 1. include guards
# semaphore-limiter.h is not a header but the body of two modules, included once by each.
while IFS= read -r h; do
	[[ "$h" == */modules/limiter/semaphore-limiter.h ]] && continue
	# The directives: the first two must be #ifndef G / #define G, the last #endif.
	first=$(grep -m1 -E '^[[:space:]]*#' "$h" || true)
	second=$(grep -E '^[[:space:]]*#' "$h" | sed -n 2p)
	last=$(grep -vE '^[[:space:]]*$' "$h" | tail -1)
	guard=${first#\#ifndef }
	if [[ "$first" != "#ifndef "* ]] || [ "$second" != "#define $guard" ]; then
		echo "$h: does not open with an include guard (#ifndef G / #define G): '$first'"
		bad=1
	elif [[ "$last" != "#endif"* ]]; then
		echo "$h: the include guard $guard does not close at the end (last line: '$last')"
		bad=1
	fi
done < <(cd "$src" && find daemon lib include tests/unit tests/faults tools modules -name '*.h' | sort | sed "s|^|$src/|")

# ---- 2. symbols used in one file only
command -v nm >/dev/null || { echo "nm is not installed (binutils)"; exit 1; }
cd "$build"
shopt -s nullglob globstar
# The daemon's objects are its library's (everything but main.c) and main's.
daemon_objs=(daemon/libfanoutd_a-*.o daemon/fanoutd-main.o)
lib_objs=(lib/.libs/*.o)
[ ${#daemon_objs[@]} -gt 1 ] && [ ${#lib_objs[@]} -gt 0 ] ||
	{ echo "no daemon or lib objects in $build: build first"; exit 1; }
defs=("${daemon_objs[@]}" "${lib_objs[@]}")
users=(**/*.o)
# Every undefined reference of every object, as "symbol object".
refs=$(for o in "${users[@]}"; do nm -u "$o" 2>/dev/null | awk -v o="$o" '{print $NF, o}'; done | sort -u)
public=$(cat "$src"/include/fanoutd/*.h)
macros=$(grep -hE '^[[:space:]]*#[[:space:]]*define' "$src"/daemon/*.h "$src"/lib/*.h || true)
for o in "${defs[@]}"; do
	for s in $(nm -g --defined-only "$o" | awk '$2 ~ /[TDBRC]/ {print $3}'); do
		[ "$s" = main ] && continue
		[[ "$s" == __* ]] && continue # the compiler's (ASan's __odr_asan.*)
		[[ "$s" == fo_* ]] && grep -qw "$s" <<<"$public" && continue
		grep -qw "$s" <<<"$macros" && continue
		others=$(awk -v s="$s" -v o="$o" '$1 == s && $2 != o {print $2}' <<<"$refs")
		[ -n "$others" ] && continue
		grep -qlw "$s" "$src"/tests/fuzz/*.c 2>/dev/null && continue
		echo "$o: $s is used in its own file only: make it static"
		bad=1
	done
done
exit $bad
