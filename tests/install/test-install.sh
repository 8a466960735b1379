#!/bin/sh
# make test-install: the installed package as its consumers see it.
#   1. make install PREFIX=<tmp>: every file where it belongs
#   2. a consumer built three ways against it: cc $(pkg-config --cflags --libs hil),
#      find_package(hil 0.1 CONFIG REQUIRED) through hil_DIR, and through
#      CMAKE_PREFIX_PATH; each runs and reports the optional libraries that
#      pkg-config finds on this machine (which is what the install had)
#   3. find_package(hil <next major>) is refused; HIL_WITH_LIBYAML=OFF is honoured
#   4. cmake --install gives the same files and the same hil.pc
#   5. DESTDIR staging with PREFIX=/usr, then make uninstall leaves nothing
#   6. the installed hil-init scaffolds a repository that builds against the package
#   7. an install without optional libraries, and one with HIL_WITH_LIBYAML=OFF (make, CMake)
#   8. hil-init from the source tree: an empty directory (make, CMake), an
#      existing firmware repository, and one that has hil tests (refused)
# The last line is "test-install: N checks passed" or the first failure.
set -eu
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
root=$(pwd)
t=$root/$BUILD/test-install
rm -rf "$t"
mkdir -p "$t"
n=0
ok() { n=$((n + 1)); echo "test-install: ok: $*"; }
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
for p in cmake "$PKG_CONFIG"; do
    command -v "$p" >/dev/null 2>&1 || fail "$p is not installed (apt-get install cmake pkg-config)"
done

version=$(sed -n 's/^#define HIL_VERSION "\(.*\)"$/\1/p' hil.h)
major=${version%%.*}
# What this machine's pkg-config finds: what an install here must carry.
expect=""
requires=""
for pair in libyaml:yaml-0.1 libserialport:libserialport libsocketcan:libsocketcan; do
    if "$PKG_CONFIG" --exists "${pair#*:}" 2>/dev/null; then
        expect="$expect ${pair%%:*}"
        requires="$requires ${pair#*:}"
    fi
done
expect=${expect# }
requires=${requires# }
[ -n "$expect" ] || expect=none
echo "test-install: hil $version; optional libraries here: $expect"

# check_run NAME BINARY [FEATURES]: the consumer passes and has FEATURES
check_run() {
    want=${3:-$expect}
    "$2" --color=never > "$t/$1.out" 2>&1 || { cat "$t/$1.out"; fail "$1: the consumer's tests failed"; }
    tail -n 1 "$t/$1.out" | grep -q ' passed, 0 failed, ' || { cat "$t/$1.out"; fail "$1: no closing line"; }
    got=$("$2" --version | sed -n 's/^optional libraries: //p')
    [ "$("$2" --version | head -n 1)" = "hil $version" ] || fail "$1: --version does not say hil $version"
    [ "$got" = "$want" ] || fail "$1: built with '$got', the install had '$want'"
    ok "$1: runs, hil $version with $got"
}

# 1. make install
P=$t/prefix
$MAKE --no-print-directory -s install PREFIX="$P" BUILD="$BUILD" > "$t/make-install.out" 2>&1 ||
    { cat "$t/make-install.out"; fail "make install PREFIX=$P"; }
for h in hil*.h; do [ -f "$P/include/hil/$h" ] || fail "make install: $h is not in $P/include/hil"; done
for f in include/hil/hil_single.h share/pkgconfig/hil.pc share/cmake/hil/hilConfig.cmake \
         share/cmake/hil/hilConfigVersion.cmake bin/hil-init share/doc/hil/README.md \
         share/doc/hil/CHANGELOG.md share/doc/hil/LICENSE share/doc/hil/docs/index.md; do
    [ -f "$P/$f" ] || fail "make install: $f is missing in $P"
done
[ -x "$P/bin/hil-init" ] || fail "make install: bin/hil-init is not executable"
(cd "$P" && find . -type f | sort) > "$t/make-files.txt"
ok "make install: $(wc -l < "$t/make-files.txt") files in $P"

# 2a. pkg-config
export PKG_CONFIG_PATH="$P/share/pkgconfig"
[ "$("$PKG_CONFIG" --modversion hil)" = "$version" ] || fail "pkg-config --modversion hil is not $version"
got=$(sed -n 's/^Requires: *//p' "$P/share/pkgconfig/hil.pc")
[ "$got" = "$requires" ] || fail "hil.pc Requires '$got', expected '$requires'"
src=$root/tests/install/consumer
# shellcheck disable=SC2046 # the flags are words
$CC -std=c99 -Wall -Wextra -Wpedantic -Werror -o "$t/consumer-pc" "$src/main.c" "$src/test_installed.c" \
    $("$PKG_CONFIG" --cflags --libs hil) || fail "cc \$(pkg-config --cflags --libs hil) does not build the consumer"
check_run pkg-config "$t/consumer-pc"

# 2b, 2c. CMake: hil_DIR, CMAKE_PREFIX_PATH
cm() { # cm NAME ARGS...: configure and build the consumer
    name=$1; shift
    cmake -S "$src" -B "$t/cmake-$name" "$@" > "$t/cmake-$name.out" 2>&1 &&
        cmake --build "$t/cmake-$name" >> "$t/cmake-$name.out" 2>&1
}
cm hil_dir -Dhil_DIR="$P/share/cmake/hil" || { cat "$t/cmake-hil_dir.out"; fail "find_package(hil 0.1) with hil_DIR"; }
check_run "find_package, hil_DIR" "$t/cmake-hil_dir/consumer"
cm prefix_path -DCMAKE_PREFIX_PATH="$P" || { cat "$t/cmake-prefix_path.out"; fail "find_package(hil 0.1) with CMAKE_PREFIX_PATH"; }
check_run "find_package, CMAKE_PREFIX_PATH" "$t/cmake-prefix_path/consumer"

# 3. the version rule and the switches
if cm next_major -DCMAKE_PREFIX_PATH="$P" -DHIL_FIND_VERSION=$((major + 1)).0; then
    fail "find_package(hil $((major + 1)).0) accepted hil $version"
fi
grep -q "hilConfig.cmake, version: $version" "$t/cmake-next_major.out" ||
    { cat "$t/cmake-next_major.out"; fail "find_package(hil $((major + 1)).0): the refusal does not name the installed version"; }
ok "find_package(hil $((major + 1)).0) refuses hil $version"
case " $expect " in *" libyaml "*)
    cm no_yaml -DCMAKE_PREFIX_PATH="$P" -DHIL_WITH_LIBYAML=OFF || { cat "$t/cmake-no_yaml.out"; fail "HIL_WITH_LIBYAML=OFF"; }
    check_run "find_package, HIL_WITH_LIBYAML=OFF" "$t/cmake-no_yaml/consumer" "$(echo "$expect" | sed 's/libyaml *//')"
esac

# 4. cmake --install: the same files, the same hil.pc
C=$t/cmake-prefix
{ cmake -S "$root" -B "$t/hil-cmake" -DCMAKE_INSTALL_PREFIX="$C" -DCMAKE_INSTALL_LIBDIR=lib &&
  cmake --build "$t/hil-cmake" && cmake --install "$t/hil-cmake"; } > "$t/cmake-install.out" 2>&1 ||
    { cat "$t/cmake-install.out"; fail "cmake --install"; }
(cd "$C" && find . -type f | sort) > "$t/cmake-files.txt"
diff "$t/make-files.txt" "$t/cmake-files.txt" || fail "cmake --install and make install install different files"
sed "s|$P|PREFIX|g" "$P/share/pkgconfig/hil.pc" | grep -v '^#' > "$t/make.pc"
sed "s|$C|PREFIX|g" "$C/share/pkgconfig/hil.pc" | grep -v '^#' > "$t/cmake.pc"
diff "$t/make.pc" "$t/cmake.pc" || fail "cmake --install and make install write different hil.pc files"
cm cmake_installed -DCMAKE_PREFIX_PATH="$C" || { cat "$t/cmake-cmake_installed.out"; fail "find_package(hil) from the cmake --install"; }
check_run "cmake --install, find_package" "$t/cmake-cmake_installed/consumer"

# 5. DESTDIR staging for /usr, then uninstall
S=$t/stage
$MAKE --no-print-directory -s install PREFIX=/usr DESTDIR="$S" BUILD="$BUILD" > "$t/stage.out" 2>&1 ||
    { cat "$t/stage.out"; fail "make install PREFIX=/usr DESTDIR=$S"; }
[ -f "$S/usr/include/hil/hil.h" ] || fail "DESTDIR: hil.h is not in $S/usr/include/hil"
grep -qx 'prefix=/usr' "$S/usr/share/pkgconfig/hil.pc" || fail "DESTDIR: hil.pc must say prefix=/usr, not the staging directory"
! grep -rq "$S" "$S" || fail "DESTDIR: the staging directory $S is written into an installed file"
$MAKE --no-print-directory -s uninstall PREFIX=/usr DESTDIR="$S" BUILD="$BUILD" > "$t/unstage.out" 2>&1 ||
    { cat "$t/unstage.out"; fail "make uninstall"; }
left=$(find "$S" -type f | head -n 5)
[ -z "$left" ] || fail "make uninstall left files: $left"
ok "DESTDIR staging for /usr, uninstall removes every file"

# 6. the installed scaffold, against the installed package
R=$t/firmware
mkdir -p "$R"
"$P/bin/hil-init" "$R" > "$t/hil-init.out" 2>&1 || { cat "$t/hil-init.out"; fail "the installed hil-init"; }
[ ! -e "$R/third_party" ] || fail "the installed hil-init copied headers: it should use the package"
(cd "$R" && $MAKE --no-print-directory -f tests/hil.mk hil-test HIL_CC="$CC") > "$t/hil-init-build.out" 2>&1 ||
    { cat "$t/hil-init-build.out"; fail "make -f tests/hil.mk hil-test against the installed package"; }
grep -q '^1 passed, 0 failed, 1 skipped$' "$t/hil-init-build.out" || { cat "$t/hil-init-build.out"; fail "the scaffold's tests"; }
ok "the installed hil-init: tests build with pkg-config and run"

# 7. an install made where pkg-config finds no optional library
M=$t/minimal
$MAKE --no-print-directory -s install PREFIX="$M" PKG_CONFIG=false BUILD="$BUILD" > "$t/minimal.out" 2>&1 ||
    { cat "$t/minimal.out"; fail "make install PKG_CONFIG=false"; }
grep -qx 'Requires: *' "$M/share/pkgconfig/hil.pc" || fail "an install without optional libraries must require none"
# shellcheck disable=SC2046
$CC -std=c99 -Wall -Wextra -Wpedantic -Werror -o "$t/consumer-minimal" "$src/main.c" "$src/test_installed.c" \
    $(PKG_CONFIG_PATH="$M/share/pkgconfig" "$PKG_CONFIG" --cflags --libs hil) || fail "the consumer of the minimal install"
check_run "install without optional libraries" "$t/consumer-minimal" none

# 7b. HIL_WITH_LIBYAML=OFF at install time: the package leaves it out
case " $expect " in *" libyaml "*)
    Y=$t/no-yaml
    $MAKE --no-print-directory -s install PREFIX="$Y" HIL_WITH_LIBYAML=OFF BUILD="$BUILD" > "$t/no-yaml.out" 2>&1 ||
        { cat "$t/no-yaml.out"; fail "make install HIL_WITH_LIBYAML=OFF"; }
    ! grep -q 'yaml-0.1\|HIL_HAVE_LIBYAML' "$Y/share/pkgconfig/hil.pc" || fail "make install HIL_WITH_LIBYAML=OFF: hil.pc still has libyaml"
    grep -q '^  set(HIL_WITH_LIBYAML OFF)$' "$Y/share/cmake/hil/hilConfig.cmake" || fail "make install HIL_WITH_LIBYAML=OFF: hilConfig.cmake still uses libyaml"
    cmake -S "$root" -B "$t/hil-cmake-no-yaml" -DHIL_WITH_LIBYAML=OFF > "$t/cmake-no-yaml.out" 2>&1 &&
        cmake --build "$t/hil-cmake-no-yaml" >> "$t/cmake-no-yaml.out" 2>&1 &&
        cmake --install "$t/hil-cmake-no-yaml" --prefix "$t/cmake-no-yaml" >> "$t/cmake-no-yaml.out" 2>&1 ||
        { cat "$t/cmake-no-yaml.out"; fail "cmake -DHIL_WITH_LIBYAML=OFF, then cmake --install"; }
    ! grep -q 'yaml-0.1\|HIL_HAVE_LIBYAML' "$t/cmake-no-yaml/share/pkgconfig/hil.pc" || fail "cmake -DHIL_WITH_LIBYAML=OFF: hil.pc still has libyaml"
    grep -q '^  set(HIL_WITH_LIBYAML OFF)$' "$t/cmake-no-yaml/share/cmake/hil/hilConfig.cmake" || fail "cmake -DHIL_WITH_LIBYAML=OFF: hilConfig.cmake still uses libyaml"
    ok "HIL_WITH_LIBYAML=OFF at install time (make and CMake): the package leaves libyaml out"
esac

# 8. hil-init from the source tree (copying the headers): an empty
# directory (make and CMake), an existing firmware repository whose
# Makefile includes the fragment, and a repository that has hil already.
scaffold() { # scaffold NAME DIR ARGS...: hil-init, then build and run as it says
    name=$1; dir=$2; shift 2
    "$root/hil-init" "$@" "$dir" > "$t/$name.out" 2>&1 || { cat "$t/$name.out"; fail "$name: hil-init"; }
    grep -q '^next: ' "$t/$name.out" || { cat "$t/$name.out"; fail "$name: hil-init does not say what to run next"; }
    [ -f "$dir/third_party/hil/hil.h" ] || fail "$name: the headers were not copied to third_party/hil"
}
E=$t/empty-make
mkdir -p "$E"
scaffold empty-make "$E"
(cd "$E" && $MAKE --no-print-directory -f tests/hil.mk hil-test HIL_CC="$CC") > "$t/empty-make.build" 2>&1 ||
    { cat "$t/empty-make.build"; fail "empty directory: make -f tests/hil.mk hil-test"; }
grep -q '^1 passed, 0 failed, 1 skipped$' "$t/empty-make.build" || { cat "$t/empty-make.build"; fail "empty directory (make): the tests"; }
"$E/build/hil/hil_tests" -c "$E/tests/hil.conf" --color=never > "$t/empty-make.board" 2>&1 && fail "the board test passed without a board"
grep -q "serial 'board': /dev/ttyUSB0" "$t/empty-make.board" || { cat "$t/empty-make.board"; fail "hil.conf: the board test does not reach the serial port"; }
ok "hil-init, empty directory, make: builds, runs, the board test reads tests/hil.conf"
E=$t/empty-cmake
mkdir -p "$E"
scaffold empty-cmake "$E" --cmake --port /dev/ttyACM3 --baud 921600 --framing line
grep -qx 'baudrate = 921600' "$E/tests/hil.conf" || fail "hil-init --baud is not in hil.conf"
(cd "$E" && cmake -S . -B build/hil && cmake --build build/hil && build/hil/hil_tests --color=never) > "$t/empty-cmake.build" 2>&1 ||
    { cat "$t/empty-cmake.build"; fail "empty directory: the CMake build hil-init printed"; }
grep -q '^1 passed, 0 failed, 1 skipped$' "$t/empty-cmake.build" || { cat "$t/empty-cmake.build"; fail "empty directory (cmake): the tests"; }
ok "hil-init --cmake, empty directory: CMakeLists.txt written, builds, runs"
F=$t/existing
mkdir -p "$F"
cp -r "$root/examples/drop-in/firmware" "$F/"
printf 'all: build/crc16.o\n\nbuild/crc16.o: firmware/src/crc16.c\n\tmkdir -p build && $(CC) -c -o $@ $<\n' > "$F/Makefile"
scaffold existing "$F"
echo 'include tests/hil.mk' >> "$F/Makefile"
(cd "$F" && $MAKE --no-print-directory && $MAKE --no-print-directory hil-test HIL_CC="$CC") > "$t/existing.build" 2>&1 ||
    { cat "$t/existing.build"; fail "existing repository: make, then make hil-test"; }
[ -f "$F/build/crc16.o" ] || fail "existing repository: the fragment took over make's default goal"
grep -q '^1 passed, 0 failed, 1 skipped$' "$t/existing.build" || { cat "$t/existing.build"; fail "existing repository: the tests"; }
ok "hil-init, existing firmware repository: its build unchanged, make hil-test runs"
D=$t/drop-in
cp -r "$root/examples/drop-in" "$D"
(cd "$D" && find . -type f | sort | xargs md5sum) > "$t/drop-in.before"
if "$root/hil-init" "$D" > "$t/drop-in.out" 2>&1; then fail "hil-init overwrote a repository that has hil tests"; fi
grep -q 'tests/hil_main.c exists' "$t/drop-in.out" || { cat "$t/drop-in.out"; fail "hil-init's refusal does not name the file"; }
(cd "$D" && find . -type f | sort | xargs md5sum) > "$t/drop-in.after"
cmp -s "$t/drop-in.before" "$t/drop-in.after" || fail "hil-init refused but changed files"
ok "hil-init refuses a repository with tests/hil_main.c, writes nothing"

echo "test-install: $n checks passed"
