# tap.sh — the TAP helpers the shell suites share (sourced): numbered ok / not ok lines.
#
#   check NAME COMMAND...   one test: ok when the command succeeds
#   eq GOT WANT             succeeds when the two strings are equal, else prints both
#   tap_done                the exit status: 0 when no check failed

n=0
failed=0

check() {
	local name=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}

eq() {
	[ "$1" = "$2" ] || { echo "# got '$1', want '$2'"; return 1; }
}

tap_done() {
	[ "$failed" -eq 0 ]
}
