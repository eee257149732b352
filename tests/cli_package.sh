#!/usr/bin/env bash
# cli_package.sh SDSINF DATA CC - sdsinf aws package: the zip holds the
# bootstrap (0755), under lib/ exactly the libraries it needs that Amazon
# Linux 2023 lacks, and the price table (prices/aws.json, which the
# unpacked bootstrap prices with), and is the same bytes when made again; unpacked
# in an empty directory and run with nothing but LD_LIBRARY_PATH=<dir>/lib
# and the Runtime API's variables (env -i), the loader takes those
# libraries from <dir>/lib and the bootstrap answers a coordinator's
# invocation with a run equal to `sdsinf infer` (the cold start, process
# start to its first `next`, is printed); the container recipe (--image);
# the bootstrap asks no version of libcurl.so.4 (AL2023's defines none:
# the loader would warn at each start), shown with stand-ins built here
# with CC; executables built here: one whose library asks for a glibc
# symbol newer than 2.34 (arc4random, 2.36) or whose link asks for
# GLIBC_ABI_DT_RELR is refused naming the symbol and the file, and leaves
# no zip; one linking a library of a version script, found by its RUNPATH
# ($ORIGIN), is bundled with it; bad usage and a file that is no ELF.
set -eu
sdsinf=$1
cc=${3:-cc}
if AWS_LAMBDA_RUNTIME_API= "$sdsinf" lambda-runtime 2>&1 | grep -q ENOTSUP; then
    echo "SKIP: this build has no libcurl for the Runtime API"; exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# field FILE EXPR: a value of a JSON file, by a Python expression over r
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

echo "== the zip"
"$sdsinf" aws package --out "$tmp/p.zip" --json 2>"$tmp/err" | tail -n 1 >"$tmp/p.j" ||
    { cat "$tmp/err"; fail "aws package"; }
"$sdsinf" aws package --out "$tmp/p2.zip" >"$tmp/p2.out"
cmp "$tmp/p.zip" "$tmp/p2.zip" || fail "the same program packaged twice differs"
python3 - "$tmp/p.zip" "$tmp/p.j" <<'PY'
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
j = json.load(open(sys.argv[2]))
assert z.testzip() is None
names = z.namelist()
bundled = sorted("lib/" + b["soname"] for b in j["bundled"])
assert names[0] == "bootstrap", names
assert sorted(n for n in names if n.startswith("lib/") and n != "lib/") == bundled, (names, bundled)
assert set(names) - set(bundled) <= {"bootstrap", "lib/", "prices/", "prices/aws.json"}, names
modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
assert modes["bootstrap"] == 0o100755, oct(modes["bootstrap"])
assert all(modes[n] == 0o100644 for n in bundled), modes
# the price table found beside the build's sdsinf, so that a coordinator
# on Lambda prices its runs
assert j["prices"] and z.read("prices/aws.json") == open(j["prices"], "rb").read(), j["prices"]
assert modes["prices/aws.json"] == 0o100644, modes
assert z.getinfo("bootstrap").file_size == j["bootstrap"]["nbytes"]
assert "libc.so.6" in j["provided"] and j["glibc"] <= "GLIBC_2.34" or j["glibc"].startswith("GLIBC_2.")
print("ok: %s bytes: bootstrap %d bytes, bundled %s, from AL2023 %s, newest glibc need %s, prices %s"
      % (j["nbytes"], j["bootstrap"]["nbytes"], [b["soname"] for b in j["bundled"]],
         j["provided"], j["glibc"], j["prices"]))
PY
grep -q "^  lib/" "$tmp/p2.out" || [ "$(field "$tmp/p.j" "len(r['bundled'])")" = 0 ] ||
    fail "the listing names no bundled library: $(cat "$tmp/p2.out")"

echo "== unpacked in an empty directory, nothing else on the path"
d=$tmp/task
mkdir "$d"
(cd "$d" && python3 -m zipfile -e "$tmp/p.zip" .)
chmod 0755 "$d/bootstrap" # (python's zipfile drops the modes; Lambda keeps them)
env -i LD_LIBRARY_PATH="$d/lib" LD_TRACE_LOADED_OBJECTS=1 "$d/bootstrap" >"$tmp/ldd"
for lib in $(field "$tmp/p.j" "' '.join(b['soname'] for b in r['bundled'])"); do
    grep -q "^[[:space:]]*$lib => $d/lib/$lib " "$tmp/ldd" ||
        { cat "$tmp/ldd"; fail "$lib is not loaded from the package"; }
done
echo "ok: the loader takes $(field "$tmp/p.j" "len(r['bundled'])") libraries from $d/lib"
if command -v readelf >/dev/null && readelf -V "$sdsinf" | grep -q "File: libcurl.so.4"; then
    ! readelf -V "$d/bootstrap" | grep -q "File: libcurl.so.4" ||
        fail "the packaged bootstrap still asks libcurl.so.4 for versions"
    env -i LD_LIBRARY_PATH="$d/lib" "$d/bootstrap" --version 2>"$tmp/warn" >/dev/null &&
        [ ! -s "$tmp/warn" ] || fail "the packaged bootstrap: $(cat "$tmp/warn")"
    echo "ok: the bootstrap asks libcurl.so.4 (AL2023's defines none) for no version; it runs without a word"
fi
printf '{"channel":"sqs","requests":{"send":1}}\n' >"$tmp/one.json"
env -i LD_LIBRARY_PATH="$d/lib" "$d/bootstrap" cost "$tmp/one.json" --json >"$tmp/cost.j" ||
    fail "cost from the unpacked package"
[ "$(field "$tmp/cost.j" "r['prices']")" = "$d/prices/aws.json" ] ||
    fail "the unpacked bootstrap's price table: $(cat "$tmp/cost.j")"
echo "ok: the unpacked bootstrap prices with its own prices/aws.json"
"$sdsinf" generate --neurons 128 --layers 8 --images 40 --seed 3 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
# (a plan made here: the package leaves out the MPI plugin, and with it
# Zoltan, which a hypergraph plan of a build with Zoltan needs)
"$sdsinf" partition --weights "$tmp/g" --workers 2 --method block --out "$tmp/plan" >/dev/null
mkdir "$tmp/ev" "$tmp/scratch"
python3 -c "import json,sys; json.dump({'payload': {'run': {'weights': sys.argv[1], 'images': sys.argv[2], 'plan': sys.argv[3], 'launcher': 'local', 'scores': sys.argv[4]}}}, open(sys.argv[5], 'w'))" \
    "$tmp/g" "$img" "$tmp/plan" "$tmp/s.tsv" "$tmp/ev/1.json"
python3 "$here/lambda_runtime_api.py" --events "$tmp/ev" --count 1 --timeout 120 \
    --out "$tmp/r.json" -- env -i -C "$d" LD_LIBRARY_PATH="$d/lib" \
    AWS_LAMBDA_RUNTIME_API={api} SDSINF_SCRATCH="$tmp/scratch" "$d/bootstrap" 2>"$tmp/log" ||
    { tail "$tmp/log"; fail "the Runtime API"; }
[ "$(field "$tmp/r.json" "r['invocations'][0]['kind']")" = response ] ||
    { tail "$tmp/log"; fail "the invocation: $(cat "$tmp/r.json")"; }
cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "the packaged bootstrap's run differs from infer"
cold=$(field "$tmp/r.json" "r['cold_start_ms']")
echo "ok: the packaged bootstrap answered a coordinator's run equal to infer; cold start (process start to first next): $cold ms"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 2000 else 1)" "$cold" ||
    fail "a cold start of $cold ms"
[ -z "$(find "$tmp/scratch" -mindepth 1)" ] || fail "the run left files in its scratch directory"

echo "== the container recipe"
"$sdsinf" aws package --image "$tmp/img" >"$tmp/img.out"
grep -q "^FROM public.ecr.aws/lambda/provided:al2023$" "$tmp/img/Dockerfile"
grep -q '^COPY bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap$' "$tmp/img/Dockerfile"
grep -q '^COPY prices/ ${LAMBDA_RUNTIME_DIR}/prices/$' "$tmp/img/Dockerfile"
cmp "$tmp/img/prices/aws.json" "$d/prices/aws.json"
[ "$(stat -c %a "$tmp/img/bootstrap")" = 755 ] || fail "the recipe's bootstrap is not 0755"
cmp "$tmp/img/bootstrap" "$d/bootstrap"
for lib in $(field "$tmp/p.j" "' '.join(b['soname'] for b in r['bundled'])"); do
    cmp "$tmp/img/lib/$lib" "$d/lib/$lib"
done
"$sdsinf" aws package --image "$tmp/img" >/dev/null # its own kind: replaced
mkdir "$tmp/mine" && echo keep >"$tmp/mine/notes"
rc=0; "$sdsinf" aws package --out "$tmp/mine" 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--out $tmp/mine is a directory: give a file name" "$tmp/err" ||
    fail "--out a directory: exit $rc, $(cat "$tmp/err")"
rc=0; "$sdsinf" aws package --image "$tmp/mine" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "not what this command writes" "$tmp/err" && [ "$(cat "$tmp/mine/notes")" = keep ] ||
    fail "a directory of someone else's: exit $rc, $(cat "$tmp/err")"
echo "ok: the recipe: $(head -n 1 "$tmp/img.out")"

echo "== the glibc check, libraries found by RUNPATH"
if ! command -v "$cc" >/dev/null; then
    echo "SKIPPED: no C compiler ($cc) to build the test executables"
else
    b=$tmp/bin
    mkdir "$b"
    cat >"$b/newer.c" <<'EOF'
#include <stdlib.h>
unsigned sdsinf_test_newer(void) { return arc4random(); }
EOF
    cat >"$b/ok.c" <<'EOF'
int sdsinf_test_ok(void) { return 7; }
EOF
    echo 'SDSINF_TEST_1 { global: sdsinf_test_ok; local: *; };' >"$b/ok.map"
    cat >"$b/main.c" <<'EOF'
int sdsinf_test_ok(void);
int main(void) { return sdsinf_test_ok() == 7 ? 0 : 1; }
EOF
    cat >"$b/main_newer.c" <<'EOF'
unsigned sdsinf_test_newer(void);
int main(void) { return (int)(sdsinf_test_newer() & 1); }
EOF
    "$cc" -shared -fPIC -o "$b/libsdsinf-ok.so.1" -Wl,-soname,libsdsinf-ok.so.1 \
        -Wl,--version-script,"$b/ok.map" "$b/ok.c"
    "$cc" -o "$b/good" "$b/main.c" "$b/libsdsinf-ok.so.1" -Wl,-rpath,'$ORIGIN'
    "$sdsinf" aws package --bootstrap "$b/good" --out "$tmp/good.zip" --json | tail -n 1 >"$tmp/good.j"
    [ "$(field "$tmp/good.j" "[x['soname'] for x in r['bundled']]")" = "['libsdsinf-ok.so.1']" ] ||
        fail "the RUNPATH library: $(cat "$tmp/good.j")"
    python3 -c "import sys, zipfile; assert 'lib/libsdsinf-ok.so.1' in zipfile.ZipFile(sys.argv[1]).namelist()" "$tmp/good.zip"
    echo "ok: a library of a version script found by RUNPATH \$ORIGIN is bundled"
    # a program asking a libcurl.so.4 of a version script for CURL_OPENSSL_4
    # (as Debian's build does), run where libcurl.so.4 defines no versions
    # (AL2023's): the packaged one has no such need, so no warning
    mkdir "$b/deb" "$b/al2023" "$tmp/curly"
    # (calling glibc, as a real library does: versioned needs of its own)
    printf '#include <unistd.h>\nint sdsinf_test_curl(void) { return getpid() > 0 ? 7 : 0; }\n' >"$b/curl.c"
    echo 'CURL_OPENSSL_4 { global: sdsinf_test_curl; local: *; };' >"$b/curl.map"
    printf 'int sdsinf_test_curl(void);\nint main(void) { return sdsinf_test_curl() == 7 ? 0 : 1; }\n' >"$b/curly.c"
    "$cc" -shared -fPIC -o "$b/deb/libcurl.so.4" -Wl,-soname,libcurl.so.4 \
        -Wl,--version-script,"$b/curl.map" "$b/curl.c"
    "$cc" -shared -fPIC -o "$b/al2023/libcurl.so.4" -Wl,-soname,libcurl.so.4 "$b/curl.c"
    "$cc" -o "$b/curly" "$b/curly.c" "$b/deb/libcurl.so.4"
    env -i LD_LIBRARY_PATH="$b/al2023" "$b/curly" 2>"$tmp/warn" || fail "the unpackaged program"
    grep -q "libcurl.so.4: no version information available" "$tmp/warn" ||
        fail "no loader warning to fix: $(cat "$tmp/warn")"
    "$sdsinf" aws package --bootstrap "$b/curly" --out "$tmp/curly.zip" 2>"$tmp/err" >/dev/null ||
        { cat "$tmp/err"; fail "aws package --bootstrap curly"; }
    grep -q "bootstrap: its symbol versions of libcurl.so.4 dropped (AL2023's defines none)" "$tmp/err" ||
        fail "the dropped versions are not said: $(cat "$tmp/err")"
    (cd "$tmp/curly" && python3 -m zipfile -e "$tmp/curly.zip" .)
    chmod 0755 "$tmp/curly/bootstrap"
    env -i LD_LIBRARY_PATH="$b/al2023" "$tmp/curly/bootstrap" 2>"$tmp/warn" ||
        fail "the packaged program on the unversioned libcurl.so.4"
    [ ! -s "$tmp/warn" ] || fail "the packaged program still warns: $(cat "$tmp/warn")"
    env -i LD_LIBRARY_PATH="$b/deb" "$tmp/curly/bootstrap" ||
        fail "the packaged program on the versioned libcurl.so.4"
    echo "ok: the versions asked of libcurl.so.4 are dropped: no warning on an unversioned one, the versioned one still binds"
    if "$cc" -shared -fPIC -o "$b/libsdsinf-newer.so.1" -Wl,-soname,libsdsinf-newer.so.1 \
        "$b/newer.c" 2>/dev/null; then
        "$cc" -o "$b/newer" "$b/main_newer.c" "$b/libsdsinf-newer.so.1" -Wl,-rpath,'$ORIGIN'
        rc=0
        "$sdsinf" aws package --bootstrap "$b/newer" --out "$tmp/bad.zip" 2>"$tmp/err" || rc=$?
        [ "$rc" = 1 ] && grep -q "arc4random@GLIBC_2.36 needed by $b/libsdsinf-newer.so.1" "$tmp/err" &&
            grep -q "libsdsinf-newer.so.1 needs arc4random@GLIBC_2.36, above Amazon Linux 2023's glibc 2.34" "$tmp/err" ||
            { cat "$tmp/err"; fail "a library asking for glibc 2.36: exit $rc"; }
        [ ! -e "$tmp/bad.zip" ] && [ -z "$(ls -A "$tmp" | grep bad)" ] || fail "a refused package left files"
        echo "ok: refused: $(tail -n 1 "$tmp/err")"
    else
        echo "SKIPPED: this glibc has no arc4random (2.36)"
    fi
    if "$cc" -o "$b/relr" -Wl,-z,pack-relative-relocs "$b/main.c" "$b/libsdsinf-ok.so.1" \
        -Wl,-rpath,'$ORIGIN' 2>/dev/null && readelf -V "$b/relr" | grep -q GLIBC_ABI_DT_RELR; then
        rc=0
        "$sdsinf" aws package --bootstrap "$b/relr" --out "$tmp/bad.zip" 2>"$tmp/err" || rc=$?
        [ "$rc" = 1 ] && grep -q "GLIBC_ABI_DT_RELR needed by $b/relr" "$tmp/err" ||
            { cat "$tmp/err"; fail "GLIBC_ABI_DT_RELR: exit $rc"; }
        echo "ok: refused: GLIBC_ABI_DT_RELR (a link with -z pack-relative-relocs)"
    else
        echo "SKIPPED: this linker makes no DT_RELR"
    fi
fi

echo "== refused"
rc=0; "$sdsinf" aws package 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "give --out FILE" "$tmp/err" || fail "no --out: exit $rc"
rc=0; "$sdsinf" aws package --out "$tmp/x.zip" --image "$tmp/x" 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "--out and --image: exit $rc"
rc=0; "$sdsinf" aws package --bootstrap "$tmp/g/bias.tsv" --out "$tmp/x.zip" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "bias.tsv: not an ELF file" "$tmp/err" || { cat "$tmp/err"; fail "a text file: exit $rc"; }
rc=0; "$sdsinf" aws package --bootstrap "$tmp/none" --out "$tmp/x.zip" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "none: cannot read it" "$tmp/err" || { cat "$tmp/err"; fail "no such file: exit $rc"; }
[ ! -e "$tmp/x.zip" ] || fail "a refused package left its zip"
echo "ok: usage (2), a text file and a missing file (1), nothing written"
