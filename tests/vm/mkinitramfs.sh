#!/usr/bin/env bash
# Builds the initramfs of the hil VM bench: static busybox, the kernel's CAN
# modules (with their dependencies, decompressed), tests/vm/init as /init, and
# the given statically linked test programs.
#
#   tests/vm/mkinitramfs.sh -o OUT.cpio.gz [--kver VERSION] [--bin FILE]...
#                           [--file SRC:DEST]... [--modules "m1 m2 ..."]
#
#   -o, --out FILE     the gzip-compressed newc cpio to write (its directory is
#                      created); FILE.kver gets the kernel version it is for
#   --kver VERSION     kernel version whose modules to take (default: the one
#                      run.sh would boot, see lib.sh hilvm_find_kernel)
#   --bin FILE         a statically linked program, installed as /bin/NAME
#                      (repeatable)
#   --file SRC:DEST    any extra file, installed at DEST (repeatable)
#   --modules LIST     modules to load at boot, in order (dependencies from
#                      modules.dep are added before each one automatically)
#
# Exit codes: 0 built, 2 bad usage or input, 77 a needed package is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

out="" kver="" bins=() files=()
modules="can can-raw can-bcm can-gw can-isotp can-dev sja1000 kvaser_pci vcan vxcan"

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bad()   { printf 'mkinitramfs: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        -o|--out) out=${2:?}; shift 2 ;;
        --kver) kver=${2:?}; shift 2 ;;
        --bin) bins+=("${2:?}"); shift 2 ;;
        --file) files+=("${2:?}"); shift 2 ;;
        --modules) modules=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) bad "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$out" ] || bad "missing -o OUT (see --help)"

hilvm_check_initramfs_deps
if ! hilvm_report_missing; then exit 77; fi

if [ -z "$kver" ]; then
    k=$(hilvm_find_kernel) || bad "cannot find a kernel with modules; pass --kver"
    kver=${k#* }
fi
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || {
    printf 'mkinitramfs: %s/modules.dep not found: the modules of kernel %s are not installed.\n' "$moddir" "$kver" >&2
    printf '    apt-get install -y linux-image-%s   (or linux-image-amd64 for the current one)\n' "$kver" >&2
    exit 77
}
busybox=$(hilvm_busybox)

for b in ${bins[@]+"${bins[@]}"}; do
    [ -f "$b" ] || bad "test program '$b' does not exist (build it first)"
    hilvm_is_static_elf "$b" || bad "test program '$b' is not a statically linked ELF: link it with -static (the initramfs has no shared libraries)"
done

mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,results,etc,root} \
         "$stage/lib/modules/hilvm"

# busybox and one symlink per applet.
cp "$busybox" "$stage/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done

# Modules: resolve each requested name through modules.dep, dependencies
# first, each file once. Prints "name<TAB>path" in load order. modules.dep
# lists the full dependency closure of a module, the last entry to be loaded
# first; names match with '-' and '_' as the same character.
resolved=$(awk -v want="$modules" '
    function key(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b); return b }
    function add(n,   i, k, cnt, d) {
        if (n in done) return
        if (!(n in path)) { missing = missing " " n; return }
        cnt = split(deps[n], d, " ")
        for (i = cnt; i >= 1; i--) add(key(d[i]))
        done[n] = 1
        printf "%s\t%s\n", n, path[n]
    }
    { p = $1; sub(/:$/, "", p); k = key(p); path[k] = p; $1 = ""; deps[k] = $0 }
    END {
        cnt = split(want, w, " ")
        for (i = 1; i <= cnt; i++) { n = w[i]; gsub(/-/, "_", n); add(n) }
        if (missing != "") { print "MISSING" missing; exit 1 }
    }' "$moddir/modules.dep") || {
    printf 'mkinitramfs: modules not in %s/modules.dep (kernel %s was built without them): %s\n' \
        "$moddir" "$kver" "${resolved##*MISSING }" >&2
    exit 2
}

: >"$stage/lib/modules/hilvm/load.list"
order=()
while IFS=$'\t' read -r n rel; do
    order+=("$n")
    src=$moddir/$rel
    dst=$stage/lib/modules/hilvm/$n.ko
    case $src in
        *.ko)     cp "$src" "$dst" ;;
        *.ko.xz)  command -v xz   >/dev/null || { hilvm_missing xz-utils "needed to decompress $src"; hilvm_report_missing; exit 77; }
                  xz -dc "$src" >"$dst" ;;
        *.ko.zst) command -v zstd >/dev/null || { hilvm_missing zstd "needed to decompress $src"; hilvm_report_missing; exit 77; }
                  zstd -qdc "$src" >"$dst" ;;
        *.ko.gz)  gzip -dc "$src" >"$dst" ;;
        *) bad "unknown module file type: $src" ;;
    esac
    printf '%s\n' "$n" >>"$stage/lib/modules/hilvm/load.list"
done <<<"$resolved"

install -m 0755 "$here/init" "$stage/init"
printf '%s\n' "$kver" >"$stage/etc/hilvm-kver"

for b in ${bins[@]+"${bins[@]}"}; do
    dst=$stage/bin/$(basename "$b")
    if [ -L "$dst" ]; then
        hilvm_log "note: $(basename "$b") replaces the busybox applet of the same name in /bin"
        rm -f "$dst"
    fi
    install -m 0755 "$b" "$dst"
done
for f in ${files[@]+"${files[@]}"}; do
    src=${f%%:*} dst=${f#*:}
    if [ "$src" = "$f" ] || [ -z "$dst" ]; then bad "--file wants SRC:DEST, got '$f'"; fi
    [ -e "$src" ] || bad "extra file '$src' does not exist"
    case $dst in /*) ;; *) bad "--file DEST must be absolute, got '$dst'" ;; esac
    mkdir -p "$stage$(dirname "$dst")"
    cp -a "$src" "$stage$dst"
done

# Owned by root whoever builds it; sorted for a stable archive.
( cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet ) \
    | gzip -1 -n >"$out.tmp"
mv "$out.tmp" "$out"
printf '%s\n' "$kver" >"$out.kver"
hilvm_log "initramfs $out ($(du -k "$out" | cut -f1) KiB) for kernel $kver: modules ${order[*]}; programs: ${bins[*]:-none}"
