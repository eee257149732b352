#!/usr/bin/env bash
# install-deps.sh - installs what sdsinf needs to build, test and benchmark,
# from Debian's packages (and, for the Python reference and peers, PyPI).
# Installs only what is missing; run as root or with sudo available.
set -eu
# libopenmpi-dev: the mpi launcher and channel; openmpi-bin: mpirun, for
# their tests (tests/cli_mpi.sh) and runs (mpirun -n W sdsinf run --launcher
# mpi ...).  libhiredis-dev: the Redis channel; redis-server and redis-tools
# (redis-cli): its tests and bench/bench_run.py (each starts a private
# server of its own, see tests/with_redis.sh).  libcurl4-openssl-dev,
# libxml2-dev, libssl-dev: the AWS client and channels; curl and
# python3-venv: their tests' emulators (scripts/install-aws-tools.sh puts
# them in virtual environments; tests/with_aws.sh starts them).
# gnuplot-nox: the plots of `sdsinf report` (without it the page has none)
# and of `sdsinf plan --plot`.  chromium (--all, for CI): tests/cli_report.sh
# renders the report in it.
pkgs="build-essential cmake pkg-config libcmocka-dev libzstd-dev libcjson-dev libtrilinos-zoltan-dev libopenmpi-dev openmpi-bin libhiredis-dev redis-server redis-tools libcurl4-openssl-dev libxml2-dev libssl-dev curl python3-venv gnuplot-nox"
[ "${1:-}" = "--all" ] && pkgs="$pkgs clang libclang-rt-dev libgraphblas-dev python3-pip chromium"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "installing:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
if [ "${1:-}" = "--all" ] && ! python3 -c 'import numpy, scipy' 2>/dev/null; then
    python3 -m pip install -q numpy scipy 2>/dev/null ||
        python3 -m pip install -q --break-system-packages numpy scipy
fi
