#!/usr/bin/env bash
# Installs every Debian 12 package relvec needs to build, test and benchmark.
# Idempotent: packages already present are left alone and apt is not touched at all
# when nothing is missing. Must run as root (or through sudo).
#
#   setup-debian.sh           the packages above
#   setup-debian.sh --bench   also the optional ones of the benchmarks' plots (gnuplot-nox,
#                             for bench/run-ann-bench.sh's recall-QPS curves)
set -euo pipefail

PKGS=(
  build-essential pkg-config ca-certificates
  postgresql-15 postgresql-server-dev-15 postgresql-client-15 libpq-dev
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  libsqlite3-dev sqlite3
  libvulkan-dev mesa-vulkan-drivers vulkan-tools glslang-tools spirv-tools
  libopenblas-dev liblapacke-dev
  python3
  clang libclang-rt-14-dev
)
case "${1:-}" in
  "") ;;
  --bench) PKGS+=(gnuplot-nox) ;;
  *) echo "usage: setup-debian.sh [--bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
