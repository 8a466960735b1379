# Shared helpers for the hil VM bench scripts (sourced, not run).
# bash only. Everything here prints to stderr and never exits on its own
# except hilvm_die.

hilvm_log()  { printf 'hilvm: %s\n' "$*" >&2; }
hilvm_die()  { printf 'hilvm: error: %s\n' "$*" >&2; exit "${HILVM_DIE_CODE:-125}"; }

# Missing packages are collected here by hilvm_need_* and reported at once.
HILVM_MISSING_PKGS=""
HILVM_MISSING_WHY=""

hilvm_missing() { # PACKAGE WHY
    case " $HILVM_MISSING_PKGS " in
        *" $1 "*) ;;
        *) HILVM_MISSING_PKGS="${HILVM_MISSING_PKGS:+$HILVM_MISSING_PKGS }$1" ;;
    esac
    HILVM_MISSING_WHY="${HILVM_MISSING_WHY}  - $1: $2
"
}

hilvm_need_cmd() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || hilvm_missing "$2" "command '$1' not found"
}

# Prints the missing packages and the command that installs them.
# Returns 0 when nothing is missing, 1 otherwise.
hilvm_report_missing() {
    [ -z "$HILVM_MISSING_PKGS" ] && return 0
    {
        printf 'hilvm: missing packages for the VM bench:\n%s' "$HILVM_MISSING_WHY"
        printf 'hilvm: install them with:\n    apt-get install -y %s\n' "$HILVM_MISSING_PKGS"
    } >&2
    return 1
}

# True when FILE is an ELF without a program interpreter (statically linked).
hilvm_is_static_elf() {
    local f=$1
    [ -f "$f" ] || return 1
    head -c 4 "$f" | grep -q 'ELF' || return 1
    ! LC_ALL=C readelf -lW "$f" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# The busybox to put in the initramfs: must be the static one.
hilvm_busybox() {
    local b
    for b in "${HILVM_BUSYBOX:-}" /bin/busybox /usr/bin/busybox; do
        [ -n "$b" ] && hilvm_is_static_elf "$b" && { printf '%s\n' "$b"; return 0; }
    done
    return 1
}

# Kernel discovery. HILVM_KERNEL may name the image; otherwise the newest
# /boot/vmlinuz-VER that has /lib/modules/VER/modules.dep is used.
# Prints "IMAGE VERSION".
hilvm_find_kernel() {
    local img ver best="" bestver=""
    if [ -n "${HILVM_KERNEL:-}" ]; then
        img=$HILVM_KERNEL
        ver=${HILVM_KVER:-$(basename "$img" | sed -n 's/^vmlinuz-//p')}
        [ -n "$ver" ] || return 1
        printf '%s %s\n' "$img" "$ver"
        return 0
    fi
    for img in /boot/vmlinuz-*; do
        [ -e "$img" ] || continue
        ver=${img#/boot/vmlinuz-}
        [ -f "/lib/modules/$ver/modules.dep" ] || continue
        if [ -z "$bestver" ] || [ "$(printf '%s\n%s\n' "$bestver" "$ver" | sort -V | tail -n1)" = "$ver" ]; then
            best=$img; bestver=$ver
        fi
    done
    [ -n "$best" ] || return 1
    printf '%s %s\n' "$best" "$bestver"
}

# Checks what building an initramfs needs; records missing packages.
hilvm_check_initramfs_deps() {
    hilvm_need_cmd cpio cpio
    hilvm_need_cmd gzip gzip
    hilvm_need_cmd readelf binutils
    hilvm_need_cmd find findutils
    if ! hilvm_busybox >/dev/null; then
        hilvm_missing busybox-static "no statically linked busybox at /bin/busybox (the dynamic 'busybox' package cannot run in the initramfs)"
    fi
    if ! hilvm_find_kernel >/dev/null; then
        hilvm_missing linux-image-amd64 "no /boot/vmlinuz-VERSION with /lib/modules/VERSION/modules.dep"
    fi
}

# Checks what booting needs; records missing packages.
hilvm_check_boot_deps() {
    local k img
    hilvm_need_cmd timeout coreutils
    hilvm_need_cmd md5sum coreutils
    if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
        hilvm_missing qemu-system-x86 "command 'qemu-system-x86_64' not found"
    elif ! qemu-system-x86_64 -device help 2>/dev/null | grep -q '"kvaser_pci"'; then
        hilvm_missing qemu-system-x86 "this qemu-system-x86_64 has no kvaser_pci CAN device (needs a QEMU built with CAN bus emulation, Debian's has it)"
    fi
    if k=$(hilvm_find_kernel); then
        img=${k%% *}
        [ -r "$img" ] || hilvm_missing linux-image-amd64 "kernel image $img is not readable by $(id -un) (chmod a+r it or run as root)"
    fi
}

# Checks what compiling the static guest programs needs (gcc, static libc,
# libsocketcan.a, libserialport.a).
hilvm_check_build_deps() {
    local cc=${CC:-gcc}
    if ! command -v "$cc" >/dev/null 2>&1; then
        hilvm_missing gcc "C compiler '$cc' not found"
        return
    fi
    [ "$("$cc" -print-file-name=libc.a)" != libc.a ] || hilvm_missing libc6-dev "static libc.a not found by $cc"
    [ "$("$cc" -print-file-name=libsocketcan.a)" != libsocketcan.a ] || hilvm_missing libsocketcan-dev "libsocketcan.a not found by $cc"
    [ "$("$cc" -print-file-name=libserialport.a)" != libserialport.a ] || hilvm_missing libserialport-dev "libserialport.a not found by $cc"
}
