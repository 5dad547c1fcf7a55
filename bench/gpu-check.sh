#!/usr/bin/env bash
# gpu-check.sh — the GPU check in one command: the Vulkan devices (a GPU must be what "auto"
# picks), every tests/gpu parity test on them, and the figures of the issue on the GPU, on the
# CPU twin and, as the anchor, with PyTorch on the same GPU, printed as one table with the
# targets (README, "GPU check").
#
#   bench/gpu-check.sh --prepare     here (Debian 12 with the build tools): build, and fill the
#                                    ignored folder .gpucheck/ with what the bare GPU machine
#                                    lacks: the Vulkan loader packages (gl/), OpenBLAS and
#                                    LAPACKE runtime packages (debs/), the test and bench
#                                    binaries built here (bin/), the SPIR-V headers (spv/) and
#                                    the C headers (include/) for a build there if the
#                                    binaries do not start
#   bench/gpu-check.sh               on the GPU machine, as root, from the working tree with
#                                    .gpucheck carried: the whole check, results under $OUT
#   bench/gpu-check.sh --rehearse    here, on lavapipe (vulkan:0), scaled down; never touches /
#   bench/gpu-check.sh --rehearse --from-source   the same, building the binaries the way the
#                                    GPU machine would if the carried ones did not start
#
# Sizes: RELVEC_GPUCHECK_ROWS (1,000,000; rehearsal 10,000), RELVEC_GPUCHECK_SIM_ROWS
# (100,000; 2,000), RELVEC_GPUCHECK_REPS (20; 5), RELVEC_GPUCHECK_DEVICE (auto; vulkan:0).
# Results: $OUT (the device tool's folder) or ./gpucheck-out: gpucheck.log (everything),
# devices.txt, tests.log, bench.json, setup_driver_cache.txt, torch.json, table.txt.
# Exit status 1 when a parity test fails, when "auto" does not pick a GPU (on the GPU
# machine), when the device's exact top-k differs from the CPU's, or when a step cannot run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PACK=.gpucheck
LOADER_DEBS="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
LIB_DEBS="libopenblas0-pthread liblapacke libgfortran5 libquadmath0 libtmglib3"
GLIBC_NEEDED=""

die() { echo "gpu-check: $*" >&2; exit 1; }
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - T0))"; }

# Seconds a step may take: its own limit, or what is left of the budget
# (RELVEC_GPUCHECK_BUDGET, 450 s: the device tool's command limit is 600 s) less a reserve
# for the steps after it; at least 1.
limit() {
	local want=$1 reserve=$2 left
	left=$((T0 + ${RELVEC_GPUCHECK_BUDGET:-450} - SECONDS - reserve))
	[ "$left" -lt "$want" ] && want=$left
	[ "$want" -lt 1 ] && want=1
	echo "$want"
}

# The sources the carried binaries are built from (a stale .gpucheck is refused).
source_hash() {
	find bridge shaders tests/gpu tests/unit/testhost.c tests/unit/testhost.h tests/unit/tap.h \
		bench/bench_gpucheck.c bench/bench_util.h -type f | LC_ALL=C sort | xargs sha256sum |
		sha256sum | cut -c1-16
}

# The newest GLIBC_x.y symbol version any of the given ELF files needs.
glibc_needed() {
	objdump -T "$@" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' |
		sort -t. -k1,1n -k2,2n -u | tail -1
}

prepare() {
	local o gpu_tests f
	T0=$SECONDS
	step "build"
	make -s -j2 || die "make failed"
	gpu_tests=$(ls tests/gpu/test_*.c | sed 's,tests/gpu/\(.*\)\.c,build/tests/gpu_\1,')
	# shellcheck disable=SC2086
	make -s -j2 $gpu_tests build/bench/bench_gpucheck || die "make of the test and bench binaries failed"

	step "packages (apt-get download, amd64)"
	rm -rf "$PACK"
	mkdir -p "$PACK"/gl "$PACK"/debs "$PACK"/bin "$PACK"/spv "$PACK"/include/vulkan "$PACK"/include/vk_video
	mkdir -p /tmp/amd64/partial
	o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
	# shellcheck disable=SC2086
	apt-get $o -qq update || die "apt-get update failed"
	# shellcheck disable=SC2086
	(cd "$PACK/gl" && apt-get $o -qq download $LOADER_DEBS 2>&1 | grep -v "unsandboxed") || true
	# shellcheck disable=SC2086
	(cd "$PACK/debs" && apt-get $o -qq download $LIB_DEBS 2>&1 | grep -v "unsandboxed") || true
	for f in $LOADER_DEBS; do ls "$PACK"/gl/"${f}"_*.deb >/dev/null 2>&1 || die "missing $f"; done
	for f in $LIB_DEBS; do ls "$PACK"/debs/"${f}"_*.deb >/dev/null 2>&1 || die "missing $f"; done

	step "binaries, SPIR-V and headers"
	cp build/tests/gpu_test_* build/bench/bench_gpucheck "$PACK/bin/"
	cp build/spv/*.spv.h "$PACK/spv/"
	cp /usr/include/vulkan/vulkan.h /usr/include/vulkan/vulkan_core.h /usr/include/vulkan/vk_platform.h \
		"$PACK/include/vulkan/"
	cp /usr/include/vk_video/*.h "$PACK/include/vk_video/"
	cp -L /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
		/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h /usr/include/lapacke*.h \
		"$PACK/include/"
	GLIBC_NEEDED=$(glibc_needed "$PACK"/bin/* /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so \
		/usr/lib/x86_64-linux-gnu/libgfortran.so.5 /usr/lib/x86_64-linux-gnu/liblapacke.so.3 \
		/usr/lib/x86_64-linux-gnu/libvulkan.so.1)
	{
		echo "source_hash $(source_hash)"
		echo "glibc_needed $GLIBC_NEEDED"
		echo "built_on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1)"
		echo "prepared $(date -u +%Y-%m-%dT%H:%MZ)"
		echo "commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+changes')"
		for f in "$PACK"/gl/*.deb "$PACK"/debs/*.deb; do echo "deb $(basename "$f")"; done
	} >"$PACK/MANIFEST"
	cat "$PACK/MANIFEST"

	step "size of what travels"
	local pack tree
	pack=$(du -sb "$PACK" | cut -f1)
	tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
	printf '.gpucheck %.1f MiB + tracked tree %.1f MiB = %.1f MiB (limit 64 MiB)\n' \
		"$(echo "$pack / 1048576" | bc -l)" "$(echo "$tree / 1048576" | bc -l)" \
		"$(echo "($pack + $tree) / 1048576" | bc -l)"
	[ $((pack + tree)) -lt $((60 * 1048576)) ] || die "what travels is over 60 MiB"
	echo "ready: run bench/gpu-check.sh on the GPU machine with .gpucheck carried (README, GPU check)"
}

# Unpack a .deb into dir, with dpkg -x or, without dpkg, ar and tar.
unpack_deb() {
	local f=$1 dir=$2 member
	if command -v dpkg >/dev/null; then
		dpkg -x "$f" "$dir"
		return
	fi
	member=$(ar t "$f" | grep '^data\.tar') || return 1
	case "$member" in
		*.xz) ar p "$f" "$member" | tar -xJ -C "$dir" ;;
		*.zst) ar p "$f" "$member" | zstd -dc | tar -x -C "$dir" ;;
		*.gz) ar p "$f" "$member" | tar -xz -C "$dir" ;;
		*) ar p "$f" "$member" | tar -x -C "$dir" ;;
	esac
}

# The binaries built on this machine from the tree (when the carried ones do not start).
build_here() {
	local cc=${CC:-cc} obj=$WORK/obj lib=$WORK/root/usr/lib/x86_64-linux-gnu f o flags objs=() t
	command -v "$cc" >/dev/null || { echo "no C compiler ($cc)"; return 1; }
	mkdir -p "$obj" "$WORK/bin"
	for f in bridge/*.c bridge/cpu/*.c bridge/vk/*.c tests/unit/testhost.c; do
		o=$obj/$(echo "$f" | tr / _).o
		flags="-O3 -fno-math-errno"
		[ "$f" = bridge/anchors.c ] && flags="$flags -ffp-contract=off"
		# shellcheck disable=SC2086
		"$cc" $flags -I"$PACK/include" -Ibridge/include -Ibridge -I"$PACK/spv" -Itests/unit \
			-c -o "$o" "$f" || return 1
		objs+=("$o")
	done
	for t in tests/gpu/test_*.c bench/bench_gpucheck.c; do
		o=$WORK/bin/$(basename "$t" .c)
		case "$t" in tests/gpu/*) o=$WORK/bin/gpu_$(basename "$t" .c) ;; esac
		"$cc" -O2 -I"$PACK/include" -Ibridge/include -Ibridge -I"$PACK/spv" -Itests/unit -o "$o" "$t" \
			"${objs[@]}" "$lib/openblas-pthread/libopenblas.so.0" "$lib/liblapacke.so.3" \
			-Wl,-rpath-link,"$lib/openblas-pthread:$lib" -ldl -lm || return 1
	done
	echo "built $(ls "$WORK/bin" | wc -l) binaries with $("$cc" --version | head -1)"
}

run() {
	local mode=$1 from_source=$2
	local rows sim_rows reps dev out bin t n_ok n_fail fails=0 auto_ok=1 exact_ok need have
	T0=$SECONDS
	if [ "$mode" = rehearse ]; then
		rows=${RELVEC_GPUCHECK_ROWS:-10000}
		sim_rows=${RELVEC_GPUCHECK_SIM_ROWS:-2000}
		reps=${RELVEC_GPUCHECK_REPS:-5}
		dev=${RELVEC_GPUCHECK_DEVICE:-vulkan:0}
	else
		rows=${RELVEC_GPUCHECK_ROWS:-1000000}
		sim_rows=${RELVEC_GPUCHECK_SIM_ROWS:-100000}
		reps=${RELVEC_GPUCHECK_REPS:-20}
		dev=${RELVEC_GPUCHECK_DEVICE:-auto}
	fi
	out=${OUT:-$ROOT/gpucheck-out}
	mkdir -p "$out" || die "cannot make $out"
	exec > >(tee "$out/gpucheck.log") 2>&1
	WORK=$(mktemp -d /tmp/relvec-gpucheck.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
	echo "relvec GPU check ($mode): $rows x 768 corpus, similarity matrix $sim_rows x 768 x 256," \
		"device $dev, results in $out"

	[ -f "$PACK/MANIFEST" ] || die "no $PACK/MANIFEST: run bench/gpu-check.sh --prepare first, and carry $PACK"
	[ "$(source_hash)" = "$(awk '/^source_hash/ {print $2}' "$PACK/MANIFEST")" ] ||
		die "the binaries in $PACK were built from other sources: run bench/gpu-check.sh --prepare again"

	step "machine"
	echo "$(uname -srm); $(ldd --version 2>&1 | head -1)"
	need=$(awk '/^glibc_needed/ {print $2}' "$PACK/MANIFEST")
	have=$(ldd --version 2>&1 | head -1 | grep -o '[0-9]\+\.[0-9]\+$')
	echo "glibc: the carried binaries need $need, this machine has $have"
	command -v nvidia-smi >/dev/null && nvidia-smi -L
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader
	sed -n 's/^commit /carried binaries from commit /p; s/^prepared /prepared /p' "$PACK/MANIFEST"

	step "Vulkan loader"
	if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
		echo "libvulkan.so.1 is installed: $(ldconfig -p | grep 'libvulkan\.so\.1 ' | head -1 | sed 's/.*=> //')"
	elif [ "$mode" = rehearse ]; then
		die "no Vulkan loader here (the rehearsal never unpacks into /)"
	elif [ "$(id -u)" -eq 0 ]; then
		for f in "$PACK"/gl/*.deb; do unpack_deb "$f" / || die "cannot unpack $f"; done
		ldconfig
		echo "unpacked into /: $(ls "$PACK"/gl | tr '\n' ' ')"
	else
		die "no Vulkan loader and not root: cannot unpack $PACK/gl"
	fi

	step "OpenBLAS and LAPACKE (carried, unpacked in $WORK/root)"
	mkdir -p "$WORK/root"
	for f in "$PACK"/debs/*.deb; do unpack_deb "$f" "$WORK/root" || die "cannot unpack $f"; done
	export LD_LIBRARY_PATH="$WORK/root/usr/lib/x86_64-linux-gnu/openblas-pthread:$WORK/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export OPENBLAS_NUM_THREADS=1

	step "binaries"
	bin=$PACK/bin
	if [ "$from_source" = 1 ] || ! "$bin/bench_gpucheck" --probe; then
		[ "$from_source" = 1 ] && echo "building from the tree (--from-source)" ||
			echo "the carried binaries do not start here: building them from the tree"
		build_here || die "cannot build the binaries here"
		bin=$WORK/bin
		"$bin/bench_gpucheck" --probe || die "the binaries built here do not start either"
	fi
	ldd "$bin/bench_gpucheck" | grep -E 'openblas|lapacke|gfortran|not found' || true

	step "devices"
	"$bin/bench_gpucheck" --list | tee "$out/devices.txt"
	if ! grep -q '^  vulkan:' "$out/devices.txt" && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
		echo "no device through the default driver paths: trying the NVIDIA ICD file of /usr/local/nvidia"
		export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
		export VK_ICD_FILENAMES=$VK_DRIVER_FILES
		export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
		"$bin/bench_gpucheck" --list | tee "$out/devices.txt"
	fi
	grep -q '^  vulkan:' "$out/devices.txt" || die "no Vulkan device"
	if [ "$mode" != rehearse ]; then
		if grep -q '^auto picks: vulkan:[0-9]* NVIDIA' "$out/devices.txt"; then
			echo "ok: auto picks the NVIDIA device"
		else
			echo "FAIL: auto does not pick an NVIDIA device"
			auto_ok=0
		fi
	fi

	step "parity tests (tests/gpu) on every device"
	: >"$out/tests.log"
	for t in "$bin"/gpu_test_*; do
		timeout "$(limit 90 200)" "$t" >"$WORK/t.log" 2>&1
		echo "rc=$?" >>"$WORK/t.log"
		n_ok=$(grep -c '^ok ' "$WORK/t.log")
		n_fail=$(grep -c '^not ok ' "$WORK/t.log")
		if [ "$n_fail" -gt 0 ] || ! grep -q '^rc=0$' "$WORK/t.log" || ! grep -q '^1\.\.' "$WORK/t.log"; then
			fails=$((fails + 1))
			printf '  %-22s %4d ok, %d FAILED\n' "$(basename "$t")" "$n_ok" "$n_fail"
			grep -A3 '^not ok ' "$WORK/t.log" | head -20
		else
			printf '  %-22s %4d ok\n' "$(basename "$t")" "$n_ok"
		fi
		{ echo "### $(basename "$t")"; cat "$WORK/t.log"; } >>"$out/tests.log"
	done
	grep -h '^# device vulkan' "$out/tests.log" | sort -u | sed 's/^/  ran on /'

	step "figures: relvec on $dev and the CPU twin (driver shader caches off)"
	MESA_SHADER_CACHE_DISABLE=true __GL_SHADER_DISK_CACHE=0 timeout "$(limit 200 100)" "$bin/bench_gpucheck" \
		--device "$dev" --rows "$rows" --sim-rows "$sim_rows" --reps "$reps" --json "$out/bench.json" ||
		echo "bench_gpucheck failed (status $?)"

	step "anchor: PyTorch on the same GPU"
	if command -v python3 >/dev/null; then
		PYTHONUNBUFFERED=1 timeout "$(limit 150 30)" python3 bench/gpucheck_torch.py --rows "$rows" --sim-rows "$sim_rows" \
			--reps "$reps" --json "$out/torch.json" || echo "gpucheck_torch.py failed (status $?)"
	else
		echo '{"skipped": "no python3"}' >"$out/torch.json"
	fi

	step "setup with the driver's own shader disk cache (empty, then warm)"
	{
		for pass in cold warm; do
			echo "driver cache $pass: $(MESA_SHADER_CACHE_DIR="$WORK/dcache" __GL_SHADER_DISK_CACHE=1 \
				__GL_SHADER_DISK_CACHE_PATH="$WORK/dcache" XDG_CACHE_HOME="$WORK/dcache" \
				timeout "$(limit 60 10)" "$bin/bench_gpucheck" --setup-only --device "$dev")"
		done
	} | tee "$out/setup_driver_cache.txt"

	step "table"
	if command -v python3 >/dev/null; then
		python3 bench/gpucheck_table.py "$out/bench.json" "$out/torch.json" | tee "$out/table.txt"
	fi
	exact_ok=1
	grep -q 'DIFFERS' "$out/table.txt" 2>/dev/null && exact_ok=0
	echo
	echo "parity test binaries failed: $fails; auto picks a GPU: $([ $auto_ok = 1 ] && echo yes || echo NO)" \
		"$([ "$mode" = rehearse ] && echo "(not checked in a rehearsal)"); device results equal the CPU's:" \
		"$([ $exact_ok = 1 ] && echo yes || echo NO); $((SECONDS - T0)) s in all"
	[ "$fails" -eq 0 ] && [ "$auto_ok" -eq 1 ] && [ "$exact_ok" -eq 1 ]
}

case "${1:-}" in
	--prepare) prepare ;;
	--rehearse) run rehearse "$([ "${2:-}" = --from-source ] && echo 1 || echo 0)" ;;
	--from-source) run gpu 1 ;;
	"") run gpu 0 ;;
	*) die "usage: bench/gpu-check.sh [--prepare | --rehearse [--from-source] | --from-source]" ;;
esac
