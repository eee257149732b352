#!/usr/bin/env bash
# install_check.sh BUILD SOURCE VERSION CC CMAKE GENERATOR [SANITIZERS] -
# the installed library works for someone else's program: `cmake --install
# BUILD` into a scratch prefix, then tests/install/consumer.c (an inference
# and two-worker runs that must equal it) is built and run
#   - with pkg-config: against libsdsinf.so (which exports the header's
#     functions only; run path or LD_LIBRARY_PATH, as the README shows),
#     and with sdsinf-static against libsdsinf.a (no libsdsinf in ldd);
#   - with CMake: find_package(sdsinf) (sdsinf::sdsinf and
#     sdsinf::sdsinf_shared), and add_subdirectory of the source tree;
# and the installed tool runs (its version, its price table, a small demo,
# whose hypergraph plan uses Zoltan from the installed MPI plugin where the
# build has one: lib/sdsinf/libsdsinf-mpi.so, found from the tool); neither
# the tool, libsdsinf.so nor `pkg-config --static` needs Open MPI.  Skips
# (77) without pkg-config, and in a sanitized build.
set -u
build=$1 src=$2 version=$3 cc=$4 cmake=$5 generator=$6 sanitizers=${7:-}
if [ -n "$sanitizers" ]; then
    echo "SKIP: a build with sanitizers ($sanitizers): programs linking it" \
         "need their runtime; the plain builds run this check"
    exit 77
fi
if ! command -v pkg-config >/dev/null; then
    echo "SKIP: pkg-config is missing (apt-get install pkg-config)"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$src/tests/cli_check.sh"
prefix=$tmp/prefix consumer=$src/tests/install/consumer.c

check 0 "" "cmake --install into a scratch prefix" \
    "$cmake" --install "$build" --prefix "$prefix" || exit 1
pcdir=$(dirname "$(find "$prefix" -name sdsinf.pc)")
export PKG_CONFIG_PATH=$pcdir
libdir=$(cd "$(pkg-config --variable=libdir sdsinf)" && pwd -P)

# Open MPI and Zoltan are the plugin's alone, installed where the library
# looks for it
mpi_libs='libmpi|libtrilinos_zoltan'
if [ -e "$build/libsdsinf-mpi.so" ]; then
    expect "the MPI plugin is installed in $libdir/sdsinf" -e "$libdir/sdsinf/libsdsinf-mpi.so"
fi
for f in "$libdir/libsdsinf.so" "$prefix/bin/sdsinf"; do
    [ -e "$f" ] || continue
    expect "$(basename "$f") needs no Open MPI" -z "$(ldd "$f" | grep -E "$mpi_libs")"
done
expect "pkg-config --static links no Open MPI" \
    -z "$(pkg-config --static --libs sdsinf | grep -E 'mpi|zoltan')"

# libsdsinf.so exports the header's functions (sdsinf_*), no internals
# (sdsinf__*) and nothing else
if command -v nm >/dev/null; then
    others=$(nm -D --defined-only "$libdir/libsdsinf.so" | awk '{print $3}' |
             grep -Ev '^sdsinf_[a-z0-9][a-z0-9_]*$')
    expect "libsdsinf.so exports only sdsinf_ functions${others:+ (not: $others)}" \
        -z "$others"
fi

# pkg-config, the shared library, as the README shows: found through the
# run path, or through LD_LIBRARY_PATH
check 0 "" "cc \$(pkg-config --cflags --libs sdsinf) -Wl,-rpath,PREFIX/lib" \
    "$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/shared" "$consumer" \
    $(pkg-config --cflags --libs sdsinf) -Wl,-rpath,"$libdir"
check 0 "$libdir/libsdsinf.so.0" "it links the installed libsdsinf.so" \
    ldd "$tmp/shared"
check 0 "the runs equal infer" "the shared consumer runs" \
    "$tmp/shared" "$version"
check 0 "" "cc \$(pkg-config --cflags --libs sdsinf), no run path" \
    "$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/shared-norpath" "$consumer" \
    $(pkg-config --cflags --libs sdsinf)
check 0 "the runs equal infer" "... runs with LD_LIBRARY_PATH=PREFIX/lib" \
    env LD_LIBRARY_PATH="$libdir" "$tmp/shared-norpath" "$version"

# pkg-config sdsinf-static: libsdsinf.a itself, and what it needs
expect "pkg-config sdsinf-static links no Open MPI" \
    -z "$(pkg-config --libs sdsinf-static | grep -E 'mpi|zoltan')"
check 0 "" "cc \$(pkg-config --cflags --libs sdsinf-static)" \
    "$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/static" "$consumer" \
    $(pkg-config --cflags --libs sdsinf-static)
expect "the static consumer has no libsdsinf" -z "$(ldd "$tmp/static" | grep libsdsinf)"
check 0 "the runs equal infer" "the static consumer runs" \
    "$tmp/static" "$version"

# CMake: find_package(sdsinf VERSION), both flavours
configure() { # build dir, cmake arguments...
    local dir=$1
    shift
    "$cmake" -G "$generator" -S "$src/tests/install" -B "$dir" \
        -DCMAKE_C_COMPILER="$cc" "$@"
}
# (sdsinf::sdsinf is the library the build chose, as its tool links it)
linked() { ldd "$1" | grep -o 'libsdsinf\.so[.0-9]*'; }
for target in sdsinf::sdsinf sdsinf::sdsinf_shared; do
    check 0 "" "find_package(sdsinf $version): configure ($target)" \
        configure "$tmp/find" -DCMAKE_PREFIX_PATH="$prefix" \
        -DSDSINF_EXPECT_VERSION="$version" -DCONSUMER_LINK="$target" &&
        check 0 "" "find_package(sdsinf): build ($target)" \
            "$cmake" --build "$tmp/find" &&
        check 0 "the runs equal infer" "find_package(sdsinf): runs ($target)" \
            "$tmp/find/consumer" "$version" || continue
    case $target in
    *_shared) expect "it links libsdsinf.so" -n "$(linked "$tmp/find/consumer")" ;;
    *) expect "it links the library the tool links" \
           "$(linked "$tmp/find/consumer")" = "$(linked "$prefix/bin/sdsinf")" ;;
    esac
done

# CMake: add_subdirectory of the source tree, building the library with
# the consumer (only what it needs)
check 0 "" "add_subdirectory(sdsinf): configure" \
    configure "$tmp/sub" -DSDSINF_SOURCE_DIR="$src" &&
    check 0 "" "add_subdirectory(sdsinf): build" \
        "$cmake" --build "$tmp/sub" --target consumer -j 2 &&
    check 0 "the runs equal infer" "add_subdirectory(sdsinf): runs" \
        "$tmp/sub/consumer" "$version"

check 0 "sdsinf $version" "the installed tool's version" \
    "$prefix/bin/sdsinf" --version
check 0 "demo passed" "the installed tool runs a small demo" \
    "$prefix/bin/sdsinf" demo --neurons 64 --layers 8 --images 100 \
    --workers 2 --out "$tmp/demo"
printf '{"channel":"sqs","requests":{"send":1000}}\n' >"$tmp/run.json"
check 0 "share/sdsinf/aws.json" "the installed tool finds its price table" \
    env -u SDSINF_PRICES "$prefix/bin/sdsinf" cost "$tmp/run.json"
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "install check passed"
