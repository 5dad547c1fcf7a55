#!/usr/bin/env bash
# run.sh — relvec-deviced, the daemon that owns the Vulkan device for a whole server, as
# real processes on the first Vulkan device present (lavapipe in CI), each daemon in a
# directory of its own as in a data directory: bad arguments; the hello with and without
# a device; TOPK and DIST of every metric equal, bit for bit, the bridge run in the test
# client on the same device, and the nearest row is among the candidates; concurrent
# TOPKs of 8 processes share one rv_resident_topk call and get their lone answers; a new
# state of an index replaces the old; a small budget refuses an upload and evicts the
# least recently used index; malformed requests are refused without harm; a client that
# leaves before its reply; a device lost in a request (the test hook) fails that request
# and drops the index, and a new upload serves again; SIGTERM and the death of the parent
# end the daemon cleanly.
# The client is build/tests/deviced_client (tests/deviced/client.c). TAP output.
#
# RVD_DAEMON, RVD_DAEMON_HOOKS (the daemon built with its test hook) and RVD_CLIENT name
# other builds, RVD_PRELOAD what they (and only they, not the shell) run with in
# LD_PRELOAD (make deviced-asan-test: libasan, lavapipe);
# RVD_KEEP=1 keeps the temporary directory with the daemons' logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
DAEMON=$(realpath "${RVD_DAEMON:-build/relvec-deviced}")
HOOKS=$(realpath "${RVD_DAEMON_HOOKS:-build/tests/relvec-deviced-hooks}")	# -DRVD_TEST_HOOKS
CLIENT=${RVD_CLIENT:-build/tests/deviced_client}
for p in "$DAEMON" "$HOOKS" "$CLIENT"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make deviced-test)"; exit 1; }
done
# how the daemon and the client run: with RVD_PRELOAD; the client's leaks are a test's
DENV=(env) CENV=(env)
if [ -n "${RVD_PRELOAD:-}" ]; then
	DENV=(env LD_PRELOAD="$RVD_PRELOAD")
	CENV=(env LD_PRELOAD="$RVD_PRELOAD" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0")
fi
DEV=$("${CENV[@]}" "$CLIENT" devices)
[ -n "$DEV" ] || { echo "1..0 # SKIP no Vulkan device"; exit 0; }
T=$(mktemp -d /tmp/relvec-deviced.XXXXXX)
SOCK=relvec_device.sock			# RVD_SOCKET_NAME, relative to the daemon's directory
KEY=1:1:5000:64					# rel:change:n:dims (client.c)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${RVD_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# start NAME ARGS...: a daemon (the program $BIN, by default $DAEMON) in $T/NAME with these
# arguments after --socket; its pid in $pid once its socket is there
start() {
	local name=$1 i
	shift
	mkdir -p "$T/$name"
	(cd "$T/$name" && exec "${DENV[@]}" "${BIN:-$DAEMON}" --socket $SOCK "$@" 2>log) &
	pid=$!
	PIDS+=("$pid")
	for i in $(seq 200); do
		[ -S "$T/$name/$SOCK" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# daemon $name did not start: $(cat "$T/$name/log")"
	return 1
}
cl() { "${CENV[@]}" "$CLIENT" "$1" "$T/$2/$SOCK" "${@:3}"; }		# cl COMMAND NAME ARGS...
field() { cl "$1" "$2" | sed -n "s/^$3 //p"; }			# field hello|stats NAME FIELD
at_least() { [ "$1" -ge "$2" ] 2>/dev/null || { echo "# got '$1', want at least $2"; return 1; }; }
# gone PID: the process ended (a zombie of a reaper that does not reap counts as ended)
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
wait_gone() { local i; for i in $(seq 100); do gone "$1" && return 0; sleep 0.05; done; return 1; }

echo "1..37"

# --- arguments ----------------------------------------------------------------------------
bad_args() {
	local a rc
	for a in "--socket x --device vulkan:0" "--socket x --device bogus --memory-mb 8" \
		"--socket x --device cpu --memory-mb 0" "--socket x --device cpu --memory-mb 8 --nope" \
		"--socket x --device cpu --memory-mb 8 --batch-wait-us -1" "--device cpu --memory-mb 8"; do
		# shellcheck disable=SC2086
		"${DENV[@]}" "$DAEMON" $a 2>"$T/args.err"; rc=$?
		if [ "$rc" -ne 2 ] || ! grep -q "relvec-deviced\|Usage" "$T/args.err"; then
			echo "# '$a': exit $rc, $(cat "$T/args.err")"
			return 1
		fi
	done
}
check "bad arguments: a message and exit 2" bad_args

# --- the hello, with and without a device ---------------------------------------------------
start main --device "vulkan:$DEV" --memory-mb 64 --batch-wait-us 200000 || { echo "Bail out! no daemon"; exit 1; }
MAIN=$pid
check "hello: has_device 1" eq "$(field hello main has_device)" 1
check "hello: the device's index and name" eq "$(field hello main device_index):$(field hello main device | grep -c .)" "$DEV:1"
check "hello: the daemon's pid" eq "$(field hello main pid)" "$MAIN"
check "start-up logged with the device" grep -q "^relvec-deviced: serving on .*vulkan:$DEV" "$T/main/log"
start cpu --device cpu --memory-mb 8
check "--device cpu: has_device 0, device_index -1" eq "$(field hello cpu has_device):$(field hello cpu device_index)" "0:-1"
check "--device cpu: TOPK gets RVD_NODEVICE" cl topk cpu $KEY nodevice
check "--device cpu: UPLOAD gets RVD_NODEVICE" cl upload cpu 2:1:100:8 nodevice

# --- resident corpora: parity with the bridge -----------------------------------------------
check "TOPK before the upload: RVD_MISSING" cl topk main $KEY missing
check "UPLOAD 5,000 x 64: RVD_OK" cl upload main $KEY ok
check "the same key again: RVD_OK, one copy" eq "$(cl upload main $KEY ok && field stats main resident)" 1
check "TOPK and DIST of every metric equal the bridge here; nearest row among candidates" \
	cl parity main $KEY "$DEV"

# --- dynamic batching -----------------------------------------------------------------------
# 37 dimensions: rows that are not whole vec4s, batches of odd nq x dims floats
check "UPLOAD 3,001 x 37: RVD_OK" cl upload main 2:1:3001:37 ok
check "8 processes at once: every answer equals its lone answer" cl batch main 2:1:3001:37 "$DEV" 8
check "STATS: at least one batch" at_least "$(field stats main batches)" 1
check "STATS: a batch of at least 2" at_least "$(field stats main largest_batch)" 2
check "STATS: TOPK and DIST requests counted" at_least "$(field stats main requests)" 70

# --- replacement and the budget -------------------------------------------------------------
check "a new state of the index: RVD_OK" cl upload main 1:2:5000:64 ok
check "it replaced the old one: two resident" eq "$(field stats main resident)" 2
check "the old state: RVD_MISSING; the new: RVD_OK" eval "cl topk main $KEY missing && cl topk main 1:2:5000:64 ok"
start small --device "vulkan:$DEV" --memory-mb 1
check "1 MB budget: an upload of 1.28 MB gets RVD_FULL" cl upload small $KEY full
check "... and a TOPK of that key gets RVD_FULL, not MISSING (no upload asked for)" cl topk small $KEY full
lru() {
	cl upload small 10:1:1000:64 ok && cl upload small 11:1:1000:64 ok &&
		cl topk small 10:1:1000:64 ok && cl upload small 12:1:2200:64 ok
}
check "two 256 kB indexes and a 563 kB one in 1 MB: uploaded" lru
check "STATS: an eviction" at_least "$(field stats small evictions)" 1
check "the least recently used is gone, the others stay" \
	eval "cl topk small 11:1:1000:64 missing && cl topk small 10:1:1000:64 ok && cl topk small 12:1:2200:64 ok"

# --- malformed requests and clients that leave ----------------------------------------------
bad_requests() {
	local c fails=0
	for c in magic size kc0 kcbig metric dims0 op overflow upload-size huge short mid-upload; do
		cl bad main "$c" >"$T/bad.out" || { echo "# case $c:"; cat "$T/bad.out"; fails=1; }
	done
	return $fails
}
check "12 malformed requests: RVD_FAILED or the connection closed" bad_requests
check "then a fresh client: the same daemon answers" eq "$(field hello main pid)" "$MAIN"
check "and its index is still there" cl topk main 1:2:5000:64 ok
check "STATS: the failures counted" at_least "$(field stats main failures)" 8
check "a TOPK whose client leaves before the reply" cl cancel main 1:2:5000:64
check "then the daemon serves others" eval "cl topk main 1:2:5000:64 ok && [ \"\$(field hello main pid)\" = $MAIN ]"

# --- a device lost in a request ------------------------------------------------------------
lost() {
	BIN=$HOOKS start lost --device "vulkan:$DEV" --memory-mb 8 || return 1
	cl upload lost 3:1:1000:64 ok && cl topk lost 3:1:1000:64 ok || return 1
	kill -USR1 "$pid"
	sleep 0.2
	cl topk lost 3:1:1000:64 failed
}
check "a device lost in a TOPK: RVD_FAILED" lost
check "the loss and the dropped index logged" eval "grep -q 'top-k failed: .*device' $T/lost/log && grep -q 'device lost: dropped index 1663/5/3' $T/lost/log"
check "then the index is missing; uploaded again it serves" \
	eval "cl topk lost 3:1:1000:64 missing && cl upload lost 3:1:1000:64 ok && cl topk lost 3:1:1000:64 ok"

# --- ending -----------------------------------------------------------------------------------
sigterm() {
	local rc
	kill -TERM "$MAIN"
	wait "$MAIN"; rc=$?
	[ "$rc" -eq 0 ] || { echo "# exit status $rc"; return 1; }
	[ ! -e "$T/main/$SOCK" ] || { echo "# the socket is still there"; return 1; }
	grep -q "^relvec-deviced: exiting" "$T/main/log"
}
check "SIGTERM: exit 0, the socket removed" sigterm
orphan() {
	local wrapper dpid
	mkdir -p "$T/orphan"
	(cd "$T/orphan" && exec bash -c '"$@" --socket '$SOCK' --device cpu --memory-mb 8 2>log & echo $! >pid; wait' \
		- "${DENV[@]}" "$DAEMON") &
	wrapper=$!
	for _ in $(seq 200); do [ -S "$T/orphan/$SOCK" ] && [ -s "$T/orphan/pid" ] && break; sleep 0.05; done
	dpid=$(cat "$T/orphan/pid")
	kill -KILL "$wrapper"
	wait "$wrapper" 2>/dev/null
	wait_gone "$dpid" || { echo "# the daemon outlived its parent"; kill "$dpid"; return 1; }
	[ ! -e "$T/orphan/$SOCK" ] || { echo "# the socket is still there"; return 1; }
}
check "the parent dies: the daemon exits and removes its socket" orphan
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait
	! grep -l 'Sanitizer\|runtime error' "$T"/*/log
}
check "every daemon ended without a sanitizer report" stop_all

if ! tap_done; then
	for f in "$T"/*/log; do sed "s|^|# $(basename "$(dirname "$f")"): |" "$f"; done
	exit 1
fi
