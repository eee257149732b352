#!/usr/bin/env bash
# cli_no_mpi.sh SDSINF DATA - Open MPI and Zoltan are the MPI plugin's
# (libsdsinf-mpi.so beside the tool in the build tree), loaded only when
# used: neither the tool nor libsdsinf.so needs them (ELF NEEDED, ldd); a
# run of local processes maps neither, in any of its processes (LD_DEBUG,
# which does see a hypergraph plan load them); with SDSINF_PLUGIN_DIR an
# empty directory, local runs still work and the mpi launcher, the mpi
# channel and Zoltan fail naming the plugin, where it was looked for and
# what to do.  A build without MPI says so for the mpi launcher.
set -u
sdsinf=$1
for tool in readelf ldd; do
    command -v $tool >/dev/null ||
        { echo "SKIP: $tool is missing (apt-get install binutils libc-bin)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"
dir=$(dirname "$sdsinf")
plugin=$dir/libsdsinf-mpi.so
mpi_libs='libmpi|libopen-pal|libopen-rte|libpmix|libtrilinos_zoltan|libsdsinf-mpi'

echo "== what the tool and the library need"
for f in "$sdsinf" "$dir"/libsdsinf.so*; do
    [ -e "$f" ] || continue
    needed=$(readelf -d "$f" | grep NEEDED | grep -E "$mpi_libs")
    expect "$(basename "$f") needs no MPI nor Zoltan${needed:+ (it does: $needed)}" -z "$needed"
    linked=$(ldd "$f" | grep -E "$mpi_libs")
    expect "$(basename "$f") loads none at start${linked:+ (ldd: $linked)}" -z "$linked"
done

"$sdsinf" generate --neurons 128 --layers 6 --images 40 --seed 3 --out "$tmp/g" >/dev/null
"$sdsinf" partition --weights "$tmp/g" --workers 4 --method block --out "$tmp/p" >/dev/null
img=$tmp/g/sparse-images-128.tsv
run=("$sdsinf" run --weights "$tmp/g" --images "$img" --plan "$tmp/p" --quiet)

echo "== a run of local processes maps no MPI"
mkdir "$tmp/ld"
LD_DEBUG=files LD_DEBUG_OUTPUT=$tmp/ld/trace check 0 "" "a local run, traced" "${run[@]}"
traced=$(ls "$tmp/ld" | wc -l)
expect "the coordinator and its 4 workers are traced ($traced processes)" "$traced" -ge 5
mapped=$(grep -lE "$mpi_libs" "$tmp/ld"/* 2>/dev/null)
expect "none of them loads MPI${mapped:+ (these do: $mapped)}" -z "$mapped"

if [ ! -e "$plugin" ]; then
    echo "== a build without the plugin"
    check 2 "this build has no MPI" "the mpi launcher says the build has no MPI" \
        "${run[@]}" --launcher mpi
    check 2 "this build has no MPI" "so does the mpi channel" "${run[@]}" --channel mpi
    [ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
    echo PASS
    exit 0
fi

holds() { readelf -Ws --dyn-syms "$plugin" | grep -q "$1"; } # a symbol it uses
needed=$(readelf -d "$plugin" | grep NEEDED | grep -E "$mpi_libs")
expect "the plugin is what needs them ($(echo $needed | grep -oE "$mpi_libs" | tr '\n' ' '))" -n "$needed"
zoltan=(true)
if holds Zoltan_LB_Partition; then
    zoltan=("$sdsinf" partition --weights "$tmp/g" --workers 4 --out "$tmp/hp")
    rm -rf "$tmp/ld" && mkdir "$tmp/ld"
    LD_DEBUG=files LD_DEBUG_OUTPUT=$tmp/ld/trace check 0 "" \
        "a hypergraph plan (Zoltan), traced" "${zoltan[@]}"
    expect "it loads the plugin and MPI" -n "$(grep -l libmpi "$tmp/ld"/*)"
fi

echo "== the plugin directory empty"
mkdir "$tmp/empty"
export SDSINF_PLUGIN_DIR=$tmp/empty
check 0 "" "a local run works" "${run[@]}"
check 0 "" "a threads run works" "${run[@]}" --launcher threads
want="needs the plugin libsdsinf-mpi.so: not found (install it: cmake --install; or set SDSINF_PLUGIN_DIR to its directory); looked in SDSINF_PLUGIN_DIR=$tmp/empty"
damaged=("${zoltan[@]}") damaged_exit=1 # a run: bad usage, checked first
if holds MPI_Init_thread; then
    check 2 "launcher mpi $want" "the mpi launcher names the plugin" \
        "${run[@]}" --launcher mpi
    check 2 "channel 'mpi' $want" "the mpi channel names the plugin" \
        "${run[@]}" --channel mpi
    damaged=("${run[@]}" --launcher mpi) damaged_exit=2
else
    check 2 "this build has no MPI" "the mpi launcher says the build has no MPI" \
        "${run[@]}" --launcher mpi
fi
if holds Zoltan_LB_Partition; then
    check 1 "the hypergraph partitioner (its Zoltan steps) $want" \
        "a hypergraph plan names the plugin" "${zoltan[@]}"
fi
echo junk >"$tmp/empty/libsdsinf-mpi.so"
check "$damaged_exit" "it cannot be loaded (install what it needs, or rebuild): $tmp/empty/libsdsinf-mpi.so" \
    "a damaged plugin is named" "${damaged[@]}"
unset SDSINF_PLUGIN_DIR

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo PASS
