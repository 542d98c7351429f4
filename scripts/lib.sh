# Shared helpers of scripts/quickstart, scripts/test and .ci/run (sourced, not run).

# The Debian 12 packages dsv2 needs to build and test (bookworm main; no backports).
DSV2_DEBIAN_PACKAGES=(cmake ninja-build g++ libeigen3-dev nlohmann-json3-dev catch2 libbenchmark-dev libonig-dev)

dsv2_log() { printf '\n==> %s\n' "$*"; }
dsv2_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# dsv2_install_deps [extra packages...]: apt-get installs whatever is missing (needs root or sudo,
# only when something is missing). Does nothing when all are present.
dsv2_install_deps() {
    local pkgs=("${DSV2_DEBIAN_PACKAGES[@]}" "$@") missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "not a Debian system: make sure these (or their equivalents) are installed: ${pkgs[*]}"
        return 0
    fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        echo "packages: all present (${pkgs[*]})"
        return 0
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || dsv2_die "missing packages (${missing[*]}); run as root or install sudo"
        sudo=(sudo)
    fi
    echo "packages: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Use ccache for new build trees when it is installed and the caller did not choose a launcher
# (CMake >= 3.17 reads these environment variables when a build tree is first configured).
dsv2_use_ccache() {
    if command -v ccache >/dev/null 2>&1; then
        export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}"
        export CMAKE_CUDA_COMPILER_LAUNCHER="${CMAKE_CUDA_COMPILER_LAUNCHER:-ccache}"
    fi
}

# Parallelism: every core for builds and for CTest, unless the caller says otherwise.
dsv2_parallelism() {
    local n
    n=$(nproc 2>/dev/null || echo 2)
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$n}"
    export CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$n}"
}
