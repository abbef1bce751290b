#!/usr/bin/env bash
# quickstart.sh - the README's two commands on a fresh Debian 12 machine.
#
#   ./quickstart.sh demo     install what is missing, build, run `barforge demo`
#   ./quickstart.sh test     install what is missing, build, run the whole test suite
#
# Options (environment): BUILD_DIR (default build), BARFORGE_SANITIZE=ON for the
# ASan+UBSan build, CTEST_ARGS extra ctest arguments (e.g. "-LE slow"),
# SKIP_INSTALL=1 to skip apt/pip.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-}
case "$mode" in
demo | test | build) ;;
*)
    echo "usage: ./quickstart.sh demo|test" >&2
    exit 2
    ;;
esac

BUILD_DIR=${BUILD_DIR:-build}
SANITIZE=${BARFORGE_SANITIZE:-OFF}

# Debian packages: compilers, MPI, parallel HDF5, curl, cJSON, OpenSSL, OpenBLAS,
# Python for the test servers and interop tests.
APT_PKGS=(build-essential cmake pkg-config git libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
    hdf5-tools libcurl4-openssl-dev libcjson-dev libssl-dev libopenblas-dev python3 python3-pip)
# Python packages for tests and tools only (never needed by barforge itself).
PIP_PKGS=(numpy pandas h5py tensorboard)

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_deps() {
    local missing=()
    for p in "${APT_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "quickstart: installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    local pymiss=()
    for p in "${PIP_PKGS[@]}"; do
        python3 -c "import $p" 2>/dev/null || pymiss+=("$p")
    done
    if [ ${#pymiss[@]} -gt 0 ]; then
        echo "quickstart: installing Python packages (tests and tools only): ${pymiss[*]}"
        python3 -m pip install -q "${pymiss[@]}" 2>/dev/null ||
            python3 -m pip install -q --break-system-packages "${pymiss[@]}"
    fi
}

[ "${SKIP_INSTALL:-0}" = 1 ] || install_deps

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$BUILD_DIR" -DBARFORGE_SANITIZE="$SANITIZE" ${BARFORGE_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j"$jobs"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
case "$mode" in
demo)
    exec "$BUILD_DIR/barforge" demo
    ;;
test)
    # shellcheck disable=SC2086
    exec ctest --test-dir "$BUILD_DIR" --output-on-failure ${CTEST_ARGS:-}
    ;;
esac
