# tap.sh — the TAP helpers the shell suites share (sourced): numbered ok / not ok lines.
#
#   check NAME COMMAND...       one test: ok when the command succeeds
#   todo WHY NAME COMMAND...    one test of a known bug not fixed yet (TAP "# TODO WHY"): it
#                               runs, and its failure does not fail the suite
#   eq GOT WANT                 succeeds when the two strings are equal, else prints both
#   tap_done                    the exit status: 0 when no check failed

n=0
failed=0

check() {
	local name=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}

todo() {
	local why=$1 name=$2; shift 2
	n=$((n + 1))
	if "$@"; then echo "ok $n - $name # TODO $why"; else echo "not ok $n - $name # TODO $why"; fi
}

eq() {
	[ "$1" = "$2" ] || { echo "# got '$1', want '$2'"; return 1; }
}

tap_done() {
	[ "$failed" -eq 0 ]
}
