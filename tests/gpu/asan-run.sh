#!/bin/sh
# asan-run.sh PROGRAM: run one ASan-built GPU test with lavapipe's driver preloaded after
# libasan (RV_ASAN_LIB, RV_LVP_LIB; see the Makefile's asan-test): prove runs its programs
# through here, so that only they get the preload, not prove's own perl.
LD_PRELOAD="$RV_ASAN_LIB $RV_LVP_LIB" exec "$@"
