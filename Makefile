# relvec — PGXS build of the PostgreSQL module, plus the shaders, the SQLite extension,
# the C unit tests, the GPU parity tests, the pgTAP tests and the benchmarks.
#
#   make              relvec.so for PostgreSQL (bridge/ + extension/pg/ + embedded SPIR-V)
#   make install      into the local PostgreSQL 15 (needs root)
#   make unit         C tests of the bridge under a counting allocator (TAP, via prove)
#   make gpu-test     every Vulkan kernel against its CPU twin on every Vulkan device
#   make check-meta   META.json's version equals EXTVERSION
#   make bench        benchmarks; figures and ratios are printed, never asserted
#                     (bench/gpu-check.sh is not among them: it runs on a GPU machine, README;
#                     bench/run-sqlite-bench.sh compares with sqlite-vec when SQLITE_VEC_PATH
#                     names its vec0.so, and says it skipped that otherwise;
#                     bench/run-ann-bench.sh, approximate indexes like ann-benchmarks (rvivf,
#                     pgvector's HNSW and IVFFlat when present, recall-QPS sweeps), is the
#                     longest: hours at its defaults (a 1,000,000 x 768 set); by hand,
#                     `bench/run-ann-bench.sh --quick` takes a few minutes. Its plots need
#                     gnuplot: `scripts/setup-debian.sh --bench`)
#   make sqlite       build/sqlite/relvec.so, the SQLite loadable extension (also built by make)
#   make sqlite-test  the SQLite suite (tests/sqlite) against build/sqlite/relvec.so
#   make cli          build/relvec, the offline command-line tool (also built by make)
#   make deviced-test relvec-deviced (the device owner's daemon, built by make, installed beside
#                     relvec.so) against real daemons on lavapipe; deviced-asan-test, the same
#                     under ASan+UBSan
#   make asan         unit tests, GPU tests and the SQLite extension under ASan+UBSan (build/asan)
#   make asan-test    run them
#   make fuzz         libFuzzer harnesses (tests/fuzz), FUZZ_SECONDS each (default 25)
#   scripts/test.sh   everything, against a throwaway PostgreSQL cluster

EXTENSION  = relvec
EXTVERSION = 0.2.0

MODULE_big = relvec

BRIDGE_SRCS := $(sort $(wildcard bridge/*.c bridge/cpu/*.c bridge/vk/*.c))
PG_SRCS     := $(sort $(wildcard extension/pg/*.c))
BRIDGE_OBJS := $(BRIDGE_SRCS:.c=.o)
OBJS         = $(BRIDGE_OBJS) $(PG_SRCS:.c=.o)

DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql
# Upgrade scripts, and the install script of 0.1.0 as released (for CREATE EXTENSION relvec
# VERSION '0.1.0', which the upgrade test starts from).
DATA        = $(wildcard sql/$(EXTENSION)--*--*.sql) sql/$(EXTENSION)--0.1.0.sql
EXTRA_CLEAN = build sql/$(EXTENSION)--$(EXTVERSION).sql

SPV_DIR     = build/spv
SHADERS    := $(sort $(wildcard shaders/*.comp))
SPV_HEADERS = $(patsubst shaders/%.comp,$(SPV_DIR)/%.spv.h,$(SHADERS))

WARN        = -Wall -Wextra -Werror
PG_CPPFLAGS = -Ibridge/include -Ibridge -I$(SPV_DIR) -isystem $(shell $(PG_CONFIG) --includedir-server) -isystem $(shell $(PG_CONFIG) --includedir)
PG_CFLAGS   = $(WARN) -O3 -fno-math-errno
SHLIB_LINK  = -lpq -lopenblas -llapacke -ldl -lm -Wl,-Bsymbolic

# No LLVM bitcode: JIT inlining buys nothing for these functions and it would need clang.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The bridge never includes PostgreSQL headers: compile it with its own include path only
# (PGXS's CFLAGS still apply, so the objects link into relvec.so and into the test binaries).
$(BRIDGE_OBJS): %.o: %.c bridge/include/relvec_bridge.h bridge/internal.h
	$(CC) $(CFLAGS) $(WARN) -O3 -fno-math-errno -Ibridge/include -Ibridge -I$(SPV_DIR) -c -o $@ $<

# PGXS tracks no header dependencies here (no --enable-depend): every adapter object
# depends on every adapter header and on the bridge's public header.
$(PG_SRCS:.c=.o): $(wildcard extension/pg/*.h) bridge/include/relvec_bridge.h

# The Vulkan objects embed the SPIR-V headers and share the push-constant blocks with GLSL.
$(filter bridge/vk/%.o,$(BRIDGE_OBJS)): $(SPV_HEADERS) bridge/vk/vk_internal.h $(wildcard shaders/*.glsl)

# Anchor choice must pick the same items on every machine: no fused multiply-adds there.
bridge/anchors.o: WARN += -ffp-contract=off
# the estimates of a batch round as those of a row alone, and their loops vectorize (ivf.c,
# rv_ivf_estimate_many: without trapping math a compare may become a vector blend)
bridge/ivf.o: WARN += -ffp-contract=off -fno-trapping-math

# --- SQLite loadable extension: the same bridge objects (PGXS compiles them -fPIC) ------
# Only sqlite3_relvec_init is exported, so the bridge's symbols never meet another library's.
SQLITE_SRCS := $(sort $(wildcard extension/sqlite/*.c))
SQLITE_OBJS := $(patsubst extension/sqlite/%.c,build/sqlite/%.o,$(SQLITE_SRCS))
SQLITE_SO    = build/sqlite/relvec.so

all: $(SQLITE_SO)

build/sqlite/%.o: extension/sqlite/%.c extension/sqlite/relvec_sqlite.h bridge/include/relvec_bridge.h
	@mkdir -p build/sqlite
	$(CC) $(WARN) -O2 -g -fPIC -fno-math-errno -Ibridge/include -c -o $@ $<

$(SQLITE_SO): $(SQLITE_OBJS) $(BRIDGE_OBJS)
	@printf '{ global: sqlite3_relvec_init; local: *; };\n' > build/sqlite/exports.map
	$(CC) -shared -o $@ $(SQLITE_OBJS) $(BRIDGE_OBJS) -Wl,--version-script=build/sqlite/exports.map \
		-Wl,-Bsymbolic -lopenblas -llapacke -ldl -lm

sqlite: $(SQLITE_SO)
sqlite-test: $(SQLITE_SO)
	tests/sqlite/run.sh
.PHONY: sqlite sqlite-test

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

# --- shaders: GLSL -> SPIR-V (Vulkan 1.2) -> spirv-val -> C array header ---------------
GLSLANG  ?= glslangValidator
SPIRVVAL ?= spirv-val

$(SPV_DIR)/%.spv.h: shaders/%.comp $(wildcard shaders/*.glsl) bridge/include/relvec_bridge.h
	@mkdir -p $(SPV_DIR)
	$(GLSLANG) -V --target-env vulkan1.2 -Ibridge/include -Ishaders -o $(SPV_DIR)/$*.spv $<
	$(SPIRVVAL) --target-env vulkan1.2 $(SPV_DIR)/$*.spv
	$(GLSLANG) -V --target-env vulkan1.2 -Ibridge/include -Ishaders --vn rv_spv_$* -o $@ $<

shaders: $(SPV_HEADERS)
.PHONY: shaders

# --- C unit tests (bridge only, no host linked) ---------------------------------------
TEST_CFLAGS = $(WARN) -O2 -g -Ibridge/include -Ibridge -Itests/unit
TEST_LIBS   = -lopenblas -llapacke -ldl -lm
UNIT_TESTS := $(patsubst tests/unit/%.c,build/tests/%,$(sort $(wildcard tests/unit/test_*.c)))
GPU_TESTS  := $(patsubst tests/gpu/%.c,build/tests/gpu_%,$(sort $(wildcard tests/gpu/test_*.c)))

build/tests/%: tests/unit/%.c tests/unit/testhost.c tests/unit/tap.h tests/unit/testhost.h $(BRIDGE_OBJS)
	@mkdir -p build/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< tests/unit/testhost.c $(BRIDGE_OBJS) $(TEST_LIBS)

build/tests/gpu_%: tests/gpu/%.c tests/unit/testhost.c tests/unit/tap.h tests/unit/testhost.h $(BRIDGE_OBJS)
	@mkdir -p build/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< tests/unit/testhost.c $(BRIDGE_OBJS) $(TEST_LIBS)

$(GPU_TESTS): tests/gpu/gpu_common.h

unit: $(UNIT_TESTS)
	prove -f $(PROVE_FLAGS) $(UNIT_TESTS)

gpu-test: $(GPU_TESTS)
	$(if $(GPU_TESTS),prove -f $(PROVE_FLAGS) $(GPU_TESTS),@echo "no GPU tests")

.PHONY: unit gpu-test

# --- sanitizers: the bridge, unit tests, GPU tests and SQLite extension under ASan+UBSan ---
# A separate tree under build/asan/, so the normal build is untouched. Every object is
# -fPIC so the same ones link into the test programs and into the loadable extension.
# scripts/test.sh runs all three (LD_PRELOAD of libasan for the extension in python3).
ASAN_DIR     = build/asan
SAN_FLAGS    = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# gcc's -Wformat-truncation sees different value ranges in instrumented code and flags the
# deliberately bounded snprintf of a device's driver name; the normal build keeps the check.
ASAN_CFLAGS  = $(WARN) -Wno-format-truncation -O2 -g -fPIC -fno-math-errno $(SAN_FLAGS)
ASAN_BRIDGE  = $(patsubst %.c,$(ASAN_DIR)/%.o,$(BRIDGE_SRCS))
ASAN_SQLITE  = $(patsubst extension/sqlite/%.c,$(ASAN_DIR)/sqlite/%.o,$(SQLITE_SRCS))
ASAN_UNIT    = $(patsubst tests/unit/%.c,$(ASAN_DIR)/tests/%,$(sort $(wildcard tests/unit/test_*.c)))
ASAN_GPU     = $(patsubst tests/gpu/%.c,$(ASAN_DIR)/tests/gpu_%,$(sort $(wildcard tests/gpu/test_*.c)))

$(ASAN_DIR)/bridge/%.o: bridge/%.c bridge/include/relvec_bridge.h bridge/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -Ibridge -I$(SPV_DIR) -c -o $@ $<
$(filter $(ASAN_DIR)/bridge/vk/%.o,$(ASAN_BRIDGE)): $(SPV_HEADERS) bridge/vk/vk_internal.h $(wildcard shaders/*.glsl)
$(ASAN_DIR)/bridge/anchors.o: ASAN_CFLAGS += -ffp-contract=off
$(ASAN_DIR)/bridge/ivf.o: ASAN_CFLAGS += -ffp-contract=off -fno-trapping-math

$(ASAN_DIR)/sqlite/%.o: extension/sqlite/%.c extension/sqlite/relvec_sqlite.h bridge/include/relvec_bridge.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -c -o $@ $<

$(ASAN_DIR)/sqlite/relvec.so: $(ASAN_SQLITE) $(ASAN_BRIDGE)
	@printf '{ global: sqlite3_relvec_init; local: *; };\n' > $(ASAN_DIR)/sqlite/exports.map
	$(CC) -shared $(SAN_FLAGS) -o $@ $(ASAN_SQLITE) $(ASAN_BRIDGE) \
		-Wl,--version-script=$(ASAN_DIR)/sqlite/exports.map -Wl,-Bsymbolic -lopenblas -llapacke -ldl -lm

$(ASAN_DIR)/tests/%: tests/unit/%.c tests/unit/testhost.c tests/unit/tap.h tests/unit/testhost.h $(ASAN_BRIDGE)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -Ibridge -Itests/unit -o $@ $< tests/unit/testhost.c $(ASAN_BRIDGE) $(TEST_LIBS)

$(ASAN_DIR)/tests/gpu_%: tests/gpu/%.c tests/gpu/gpu_common.h tests/unit/testhost.c tests/unit/tap.h tests/unit/testhost.h $(ASAN_BRIDGE)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -Ibridge -Itests/unit -o $@ $< tests/unit/testhost.c $(ASAN_BRIDGE) $(TEST_LIBS)

asan: $(ASAN_UNIT) $(ASAN_GPU) $(ASAN_DIR)/sqlite/relvec.so

# UBSan stops at the first report (-fno-sanitize-recover) and prints its stack. The unit
# and GPU programs (lavapipe included) run with every default on, leak checks too. The
# extension runs inside python3 and sqlite3, so libasan must be preloaded; their own
# interpreters keep memory at exit, and every stack passes through them, so LeakSanitizer
# is off there only, and runner.py checks instead that SQLite's allocator, which the
# extension and the bridge allocate through, is back to its level once a file is done.
# The GPU programs preload lavapipe's driver (after libasan): the Vulkan loader unloads the
# driver in vkDestroyInstance, and on some CPUs LLVM inside it keeps a few global
# allocations that become unreachable only by that unload (128-byte blocks from "<unknown
# module>"); kept loaded, they stay reachable, while a leak of relvec's own still shows.
ASAN_LIB  = $(shell $(CC) -print-file-name=libasan.so)
LVP_LIB   = $(firstword $(wildcard /usr/lib/*/libvulkan_lvp.so))
SAN_ENV   = UBSAN_OPTIONS=print_stacktrace=1
asan-test: asan
	$(SAN_ENV) prove -f $(PROVE_FLAGS) $(ASAN_UNIT)
	$(if $(ASAN_GPU),$(SAN_ENV) RV_ASAN_LIB=$(ASAN_LIB) RV_LVP_LIB=$(LVP_LIB) \
		prove -f $(PROVE_FLAGS) $(if $(LVP_LIB),--exec tests/gpu/asan-run.sh) $(ASAN_GPU))
	$(SAN_ENV) ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$(ASAN_LIB) \
		RELVEC_SQLITE_EXT=$(ASAN_DIR)/sqlite/relvec.so tests/sqlite/run.sh
.PHONY: asan asan-test

# --- fuzzing: libFuzzer harnesses (tests/fuzz) built with Debian's clang into build/fuzz ---
# fuzz_embedding: the bridge's text parser and BLOB check; fuzz_catalog: the SQLite
# extension's catalog and BLOB readers. Each runs FUZZ_SECONDS (default 25) on a working
# corpus seeded from tests/fuzz/corpus/; tests/fuzz/run.sh prints one TAP line per harness.
FUZZ_CC      = clang
FUZZ_DIR     = build/fuzz
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = $(WARN) -O1 -g -fno-omit-frame-pointer -fno-math-errno -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_BRIDGE  = $(patsubst %.c,$(FUZZ_DIR)/%.o,$(BRIDGE_SRCS))
FUZZ_SQLITE  = $(patsubst extension/sqlite/%.c,$(FUZZ_DIR)/sqlite/%.o,$(SQLITE_SRCS))
FUZZERS      = $(FUZZ_DIR)/fuzz_embedding $(FUZZ_DIR)/fuzz_catalog

$(FUZZ_DIR)/bridge/%.o: bridge/%.c bridge/include/relvec_bridge.h bridge/internal.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ibridge/include -Ibridge -I$(SPV_DIR) -c -o $@ $<
$(filter $(FUZZ_DIR)/bridge/vk/%.o,$(FUZZ_BRIDGE)): $(SPV_HEADERS) bridge/vk/vk_internal.h $(wildcard shaders/*.glsl)
$(FUZZ_DIR)/bridge/anchors.o: FUZZ_CFLAGS += -ffp-contract=off
$(FUZZ_DIR)/bridge/ivf.o: FUZZ_CFLAGS += -ffp-contract=off -fno-trapping-math

$(FUZZ_DIR)/sqlite/%.o: extension/sqlite/%.c extension/sqlite/relvec_sqlite.h bridge/include/relvec_bridge.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ibridge/include -c -o $@ $<

$(FUZZ_DIR)/testhost.o: tests/unit/testhost.c tests/unit/testhost.h bridge/include/relvec_bridge.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ibridge/include -Itests/unit -c -o $@ $<

$(FUZZ_DIR)/fuzz_embedding: tests/fuzz/fuzz_embedding.c $(FUZZ_DIR)/testhost.o $(FUZZ_BRIDGE)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ibridge/include -Itests/unit -o $@ $< \
		$(FUZZ_DIR)/testhost.o $(FUZZ_BRIDGE) $(TEST_LIBS)

$(FUZZ_DIR)/fuzz_catalog: tests/fuzz/fuzz_catalog.c $(FUZZ_SQLITE) $(FUZZ_BRIDGE)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_SQLITE) $(FUZZ_BRIDGE) -lsqlite3 $(TEST_LIBS)

fuzzers: $(FUZZERS)
fuzz: $(FUZZERS)
	tests/fuzz/run.sh
.PHONY: fuzzers fuzz

# --- META.json must carry EXTVERSION ---------------------------------------------------
check-meta:
	@v=$$(sed -n 's/^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' META.json | head -n 1); \
	if [ "$$v" != "$(EXTVERSION)" ]; then \
		echo "META.json version '$$v' differs from EXTVERSION '$(EXTVERSION)'"; exit 1; fi; \
	if ! grep -q "default_version = '$(EXTVERSION)'" $(EXTENSION).control; then \
		echo "$(EXTENSION).control default_version differs from EXTVERSION"; exit 1; fi; \
	echo "META.json and $(EXTENSION).control carry version $(EXTVERSION)"
.PHONY: check-meta

# --- benchmarks ------------------------------------------------------------------------
BENCH_PROGS := $(patsubst bench/%.c,build/bench/%,$(sort $(wildcard bench/*.c)))

build/bench/%: bench/%.c bench/bench_util.h $(BRIDGE_OBJS)
	@mkdir -p build/bench
	$(CC) $(TEST_CFLAGS) -O3 -o $@ $< $(BRIDGE_OBJS) tests/unit/testhost.c $(TEST_LIBS)

bench: $(BENCH_PROGS)
	@for b in $(BENCH_PROGS); do echo "== $$b"; $$b || exit 1; done
	@for s in $(sort $(filter-out bench/gpu-check.sh,$(wildcard bench/*.sh))); do echo "== $$s"; bash $$s || exit 1; done
.PHONY: bench

# --- the offline command-line tool build/relvec (built by plain make) ------------------
# The SQLite extension's objects are linked into the program and registered with
# sqlite3_auto_extension, so every command runs the same SQL functions as a `.load`ed
# relvec.so; libpq does the pulling.
CLI_SRCS   := $(sort $(wildcard extension/cli/*.c))
CLI_OBJS   := $(patsubst extension/cli/%.c,build/cli/%.o,$(CLI_SRCS))
CLI_CFLAGS  = $(WARN) -O2 -g -Ibridge/include -Iextension/cli -I$(shell $(PG_CONFIG) --includedir) \
              $(if $(SQLITE_OBJS),-DRVCLI_WITH_EXTENSION)
CLI_LIBS    = -L$(shell $(PG_CONFIG) --libdir) -lpq -lsqlite3 -lopenblas -llapacke -ldl -lm

build/cli/%.o: extension/cli/%.c extension/cli/relvec_cli.h bridge/include/relvec_bridge.h
	@mkdir -p build/cli
	$(CC) $(CLI_CFLAGS) -c -o $@ $<

build/relvec: $(CLI_OBJS) $(SQLITE_OBJS) $(BRIDGE_OBJS)
	$(CC) -o $@ $(CLI_OBJS) $(SQLITE_OBJS) $(BRIDGE_OBJS) $(CLI_LIBS)

cli: build/relvec
all: build/relvec
.PHONY: cli

# --- relvec-deviced: the device owner's daemon (extension/deviced), built by plain make ---
# One process per server owns the Vulkan device and answers the backends' exact-kNN
# candidate requests over a Unix socket (extension/deviced/rvd_protocol.h). make install
# puts it in pkglibdir, where the "relvec device owner" background worker starts it.
# make deviced-test runs tests/deviced/run.sh (real daemons on the Vulkan devices present,
# lavapipe in CI) with the test client build/tests/deviced_client; deviced-asan-test runs
# the same under ASan+UBSan (build/asan).
DEVICED        = build/relvec-deviced
DEVICED_CFLAGS = $(WARN) -O2 -g -Ibridge/include -Iextension/deviced
DEVICED_DEPS   = extension/deviced/rvd_protocol.h bridge/include/relvec_bridge.h

$(DEVICED): extension/deviced/deviced.c $(DEVICED_DEPS) $(BRIDGE_OBJS)
	@mkdir -p build
	$(CC) $(DEVICED_CFLAGS) -o $@ $< $(BRIDGE_OBJS) -lopenblas -llapacke -ldl -lm

build/tests/deviced_client: tests/deviced/client.c $(DEVICED_DEPS) $(BRIDGE_OBJS)
	@mkdir -p build/tests
	$(CC) $(DEVICED_CFLAGS) -o $@ $< $(BRIDGE_OBJS) $(TEST_LIBS)

# with the test hook (SIGUSR1: the next submission fails as a lost device), for the test only
build/tests/relvec-deviced-hooks: extension/deviced/deviced.c $(DEVICED_DEPS) $(BRIDGE_OBJS)
	@mkdir -p build/tests
	$(CC) $(DEVICED_CFLAGS) -DRVD_TEST_HOOKS -o $@ $< $(BRIDGE_OBJS) $(TEST_LIBS)

$(ASAN_DIR)/relvec-deviced: extension/deviced/deviced.c $(DEVICED_DEPS) $(ASAN_BRIDGE)
	@mkdir -p $(ASAN_DIR)
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -Iextension/deviced -o $@ $< $(ASAN_BRIDGE) $(TEST_LIBS)

$(ASAN_DIR)/tests/deviced_client: tests/deviced/client.c $(DEVICED_DEPS) $(ASAN_BRIDGE)
	@mkdir -p $(ASAN_DIR)/tests
	$(CC) $(ASAN_CFLAGS) -Ibridge/include -Iextension/deviced -o $@ $< $(ASAN_BRIDGE) $(TEST_LIBS)

$(ASAN_DIR)/tests/relvec-deviced-hooks: extension/deviced/deviced.c $(DEVICED_DEPS) $(ASAN_BRIDGE)
	@mkdir -p $(ASAN_DIR)/tests
	$(CC) $(ASAN_CFLAGS) -DRVD_TEST_HOOKS -Ibridge/include -Iextension/deviced -o $@ $< $(ASAN_BRIDGE) $(TEST_LIBS)

all: $(DEVICED)
install: install-deviced
uninstall: uninstall-deviced

install-deviced: $(DEVICED)
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) $(DEVICED) '$(DESTDIR)$(pkglibdir)/relvec-deviced'

uninstall-deviced:
	rm -f '$(DESTDIR)$(pkglibdir)/relvec-deviced'

deviced: $(DEVICED)
deviced-test: $(DEVICED) build/tests/deviced_client build/tests/relvec-deviced-hooks
	tests/deviced/run.sh

# lavapipe's driver preloaded after libasan, as for the GPU tests (asan-test above)
deviced-asan-test: $(ASAN_DIR)/relvec-deviced $(ASAN_DIR)/tests/deviced_client $(ASAN_DIR)/tests/relvec-deviced-hooks
	$(SAN_ENV) RVD_DAEMON=$(ASAN_DIR)/relvec-deviced RVD_CLIENT=$(ASAN_DIR)/tests/deviced_client \
		RVD_DAEMON_HOOKS=$(ASAN_DIR)/tests/relvec-deviced-hooks \
		RVD_PRELOAD="$(ASAN_LIB) $(LVP_LIB)" tests/deviced/run.sh
.PHONY: deviced deviced-test deviced-asan-test install-deviced uninstall-deviced
