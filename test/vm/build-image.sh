#!/usr/bin/env bash
# Builds the kernel + initramfs that the real-VM tests boot under QEMU.
#
#   test/vm/build-image.sh PAYLOAD_DIR
#
# PAYLOAD_DIR is copied to /opt/payload in the image; its executable `run` is started (and
# restarted when it exits) by /init. On success the last two lines on stdout are
#   KERNEL=/abs/path/vmlinuz
#   INITRD=/abs/path/initrd.cpio.gz
# and all progress goes to stderr.
#
# Everything is cached under test/vm/.cache/ (override with QGA_VM_CACHE):
#   kernel/<package>/   the unpacked kernel .deb, with a modules.dep made by depmod
#   base-<key>.cpio.gz  busybox + modules + node + /init; key = hash of every input
#   payload-<key>.cpio.gz, initrd-<key>.cpio.gz
# The initrd is the base archive followed by the payload archive (the kernel unpacks
# concatenated archives in order), so changing the payload never re-compresses node.
#
# Kernel selection, first match wins:
#   QGA_VM_KERNEL_DEB  path or URL of a linux-image-*.deb (for hosts without Debian apt sources)
#   QGA_VM_KERNEL_PKG  package name for `apt-get download`, e.g. linux-image-6.1.0-56-amd64
#   the package already cached (kernel/selected), else what linux-image-amd64 depends on.
#
# Options (environment; all off by default, and the default image is the same as without them):
#   QGA_VM_NO_NODE=1          leave node and its libraries out of the base archive, for a payload
#                             that brings its own program (the single executable dist/qga-ts)
#   QGA_VM_EXTRA_MODULES=LIST more modules (space separated), with their dependencies, loaded when
#                             they load (e.g. virtio_net); a name the kernel lacks is skipped
#   QGA_VM_ROOT_OVERLAY=DIR   DIR's tree goes to / of the image (files at their real paths, e.g.
#                             /usr/sbin/qga-ts and the libraries ldd lists) in an archive of its
#                             own between base and payload, cached by content; zstd-compressed
#                             when zstd is installed (much faster than gzip for the guest kernel
#                             to unpack under TCG; Debian's kernel has CONFIG_RD_ZSTD)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${QGA_VM_CACHE:-$here/.cache}
script_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

# Modules the image needs; their dependencies are added from modules.dep.
required_modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
                  virtio_console virtio_blk ext4)
# Nice to have: the ACPI power button (QMP system_powerdown) reaches acpid through evdev.
optional_modules=(button evdev)
read -r -a extra_modules <<<"${QGA_VM_EXTRA_MODULES:-}"
without_node=${QGA_VM_NO_NODE:-}
[[ $without_node == 0 ]] && without_node=
root_overlay=
if [[ -n ${QGA_VM_ROOT_OVERLAY:-} ]]; then
    root_overlay=$(cd "$QGA_VM_ROOT_OVERLAY" && pwd) || { echo "build-image: error: root overlay $QGA_VM_ROOT_OVERLAY not found" >&2; exit 1; }
fi

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 PAYLOAD_DIR"
payload_dir=$(cd "$1" && pwd) || die "payload directory $1 not found"
[[ -x $payload_dir/run ]] || die "$payload_dir/run must exist and be executable"

for tool in cpio gzip sha256sum dpkg-deb ldd flock; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
busybox_bin=$(command -v busybox) || die "busybox is required (Debian: busybox-static)"
# A dynamically linked busybox would need its libraries in the image too; refuse it.
if ldd "$busybox_bin" >/dev/null 2>&1; then
    die "$busybox_bin is dynamically linked; install busybox-static"
fi
node_bin=
if [[ -z $without_node ]]; then
    node_bin=$(readlink -f "$(command -v node)") || die "node is required"
fi

mkdir -p "$cache/kernel"
# One build at a time per cache (parallel test runs share it).
exec 9>"$cache/.lock"
flock 9

# ---------------------------------------------------------------- kernel

fetch_kernel_deb() { # -> prints the path of the .deb
    local dir=$cache/kernel/downloads
    mkdir -p "$dir"
    if [[ -n ${QGA_VM_KERNEL_DEB:-} ]]; then
        case $QGA_VM_KERNEL_DEB in
        http://* | https://*)
            local dest=$dir/${QGA_VM_KERNEL_DEB##*/}
            if [[ ! -s $dest ]]; then
                log "downloading $QGA_VM_KERNEL_DEB"
                curl -fsSL -o "$dest.part" "$QGA_VM_KERNEL_DEB" && mv "$dest.part" "$dest"
            fi
            echo "$dest" ;;
        *) readlink -f "$QGA_VM_KERNEL_DEB" ;;
        esac
        return
    fi
    local pkg=${QGA_VM_KERNEL_PKG:-}
    if [[ -z $pkg && -s $cache/kernel/selected ]]; then
        pkg=$(cat "$cache/kernel/selected")
    fi
    if [[ -z $pkg ]]; then
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
              awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
        [[ -n $pkg ]] || die "cannot find the kernel package; set QGA_VM_KERNEL_DEB or QGA_VM_KERNEL_PKG"
    fi
    local existing
    existing=$(ls "$dir/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
    if [[ -z $existing ]]; then
        log "apt-get download $pkg"
        (cd "$dir" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
        existing=$(ls "$dir/${pkg}_"*.deb | head -n1)
    fi
    echo "$existing"
}

kernel_deb=$(fetch_kernel_deb)
kernel_pkg=$(dpkg-deb -f "$kernel_deb" Package)
kernel_dir=$cache/kernel/$kernel_pkg
if [[ ! -e $kernel_dir/.done ]]; then
    log "unpacking $kernel_deb"
    rm -rf "$kernel_dir"
    mkdir -p "$kernel_dir"
    dpkg-deb -x "$kernel_deb" "$kernel_dir/tree"
    kver=$(ls "$kernel_dir/tree/lib/modules" | head -n1)
    # The .deb ships no modules.dep (postinst runs depmod); make one. kmod's depmod if the
    # host has it, else busybox's; both write paths relative to the version directory.
    if command -v depmod >/dev/null; then
        depmod -b "$kernel_dir/tree" "$kver"
    else
        "$busybox_bin" depmod -b "$kernel_dir/tree" "$kver"
    fi
    cp "$kernel_dir/tree/boot/vmlinuz-$kver" "$kernel_dir/vmlinuz"
    echo "$kver" > "$kernel_dir/kver"
    touch "$kernel_dir/.done"
fi
[[ -n ${QGA_VM_KERNEL_DEB:-} ]] || echo "$kernel_pkg" > "$cache/kernel/selected"
kver=$(cat "$kernel_dir/kver")
moddir=$kernel_dir/tree/lib/modules/$kver

# ---------------------------------------------------------------- module order

declare -A mod_path=()     # module name -> path relative to $moddir
declare -A mod_deps=()     # module name -> space separated dependency paths
declare -A builtin=()
declare -A visited=()
load_order=()              # "path required|optional"

# Sets $name from a module path or name (no subshell: modules.dep has thousands of lines).
set_mod_name() { name=${1##*/}; name=${name%%.ko*}; name=${name//-/_}; }

while IFS= read -r line; do
    path=${line%%:*}
    set_mod_name "$path"
    mod_path[$name]=$path
    mod_deps[$name]=${line#*:}
done < "$moddir/modules.dep"
while IFS= read -r path; do set_mod_name "$path"; builtin[$name]=1; done < "$moddir/modules.builtin"

softdeps_of() { # pre-softdeps are aliases such as crypto-crc32c; resolve through modules.alias
    local name=$1 field alias
    # .modinfo entries are NUL-terminated key=value strings; no modinfo tool needed.
    field=$(tr '\0' '\n' < "$moddir/${mod_path[$name]}" | sed -n 's/^softdep=//p')
    for alias in $(awk '{ for (i = 1; i <= NF; i++) {
                             if ($i == "pre:") on = 1; else if ($i == "post:") on = 0
                             else if (on) print $i } }' <<<"$field"); do
        awk -v a="$alias" '$1 == "alias" && $2 == a { print $3 }' "$moddir/modules.alias"
    done
}

visit() { # depth-first, dependencies before the module itself
    local name kind=$2 dep soft
    set_mod_name "$1"
    [[ -z ${visited[$name]:-} ]] || return 0
    visited[$name]=1
    if [[ -n ${builtin[$name]:-} ]]; then log "module $name is built in"; return 0; fi
    if [[ -z ${mod_path[$name]:-} ]]; then
        [[ $kind == optional ]] && { log "optional module $name not found"; return 0; }
        die "module $name is neither in modules.dep nor in modules.builtin"
    fi
    # Soft dependencies may fail to load (crc32c_intel wants SSE4.2), so they stay optional.
    for soft in $(softdeps_of "$name"); do visit "$soft" optional; done
    for dep in ${mod_deps[$name]}; do visit "$dep" "$kind"; done
    load_order+=("${mod_path[$name]} $kind")
}
for m in "${required_modules[@]}"; do visit "$m" required; done
for m in "${optional_modules[@]}" ${extra_modules[@]+"${extra_modules[@]}"}; do visit "$m" optional; done

# ---------------------------------------------------------------- base archive

node_libs=
[[ -z $node_bin ]] || node_libs=$(ldd "$node_bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u)
base_key=$( {
    echo "$script_hash $kernel_pkg $kver"
    [[ -z $without_node ]] || echo "without node"
    printf '%s\n' "${load_order[@]}"
    sha256sum "$busybox_bin" $node_bin $node_libs
    sha256sum "$here/image/"*
} | sha256sum | cut -c1-16)
base_cpio=$cache/base-$base_key.cpio.gz

make_cpio() { # DIR OUT [COMPRESSOR...]: newc, owned by root whoever builds it, deterministic order
    local dir=$1 out=$2
    shift 2
    (( $# > 0 )) || set -- gzip -6 -n
    (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
        "$@" > "$out.part"
    mv "$out.part" "$out"
}

if [[ ! -s $base_cpio ]]; then
    log "building base archive $base_cpio"
    stage=$cache/stage-base
    rm -rf "$stage"
    mkdir -p "$stage"
    (cd "$stage" && mkdir -p bin sbin usr/bin usr/sbin etc/qga-vm proc sys dev tmp run root var \
        mnt/data opt/payload "lib/modules/$kver")
    ln -s ../run "$stage/var/run"
    ln -s ../tmp "$stage/var/tmp"
    cp "$busybox_bin" "$stage/bin/busybox"
    for applet in $("$busybox_bin" --list-full); do
        [[ -e $stage/$applet || -L $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
    done
    ln -sf busybox "$stage/bin/sh"

    # Modules at their usual place, so busybox modprobe also works for request_module().
    : > "$stage/etc/qga-vm/modules"
    for entry in "${load_order[@]}"; do
        path=${entry% *}
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$path")"
        cp "$moddir/$path" "$stage/lib/modules/$kver/$path"
        echo "$entry" >> "$stage/etc/qga-vm/modules"
    done
    cp "$moddir/modules.builtin" "$moddir/modules.order" "$stage/lib/modules/$kver/"
    for entry in "${load_order[@]}"; do
        set_mod_name "${entry% *}"
        echo "${mod_path[$name]}:${mod_deps[$name]}"
    done > "$stage/lib/modules/$kver/modules.dep"
    grep -E ' (crc32c_generic|crc32c_intel)$' "$moddir/modules.alias" \
        > "$stage/lib/modules/$kver/modules.alias" || true

    # node as /usr/bin/node, and every library it links at the same paths (the loader path is
    # baked into node). Not a link to node's own path: that may lie under /tmp (a clean clone's
    # node_modules), which the guest's /init covers with a tmpfs.
    if [[ -n $node_bin ]]; then
        for f in $node_libs; do
            mkdir -p "$stage$(dirname "$f")"
            cp -L "$f" "$stage$f"
        done
        rm -f "$stage/usr/bin/node"
        cp -L "$node_bin" "$stage/usr/bin/node"
    fi

    install -m 0755 "$here/image/init" "$stage/init"
    for f in shutdown poweroff reboot halt; do
        rm -f "$stage/sbin/$f"
        install -m 0755 "$here/image/shutdown" "$stage/sbin/$f"
    done
    mkdir -p "$stage/etc/acpi/PWRF"
    install -m 0755 "$here/image/power-button" "$stage/etc/acpi/PWRF/00000080"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        > "$stage/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$stage/etc/group"
    printf 'root::19000:0:99999:7:::\n' > "$stage/etc/shadow"
    chmod 0640 "$stage/etc/shadow"
    printf 'ID=qga-vm\nNAME="qga-ts test VM"\nPRETTY_NAME="qga-ts test VM (busybox initramfs)"\nVERSION_ID="1"\n' \
        > "$stage/etc/os-release"
    echo qga-vm > "$stage/etc/hostname"
    ln -s /proc/self/mounts "$stage/etc/mtab"
    echo "$kver" > "$stage/etc/qga-vm/kernel-release"

    make_cpio "$stage" "$base_cpio"
    rm -rf "$stage"
fi

# ---------------------------------------------------------------- root overlay

# Keyed by every path, type, mode, link target and file content under the overlay.
root_key=
root_cpio=
if [[ -n $root_overlay ]]; then
    root_key=$( (cd "$root_overlay" &&
        find . -mindepth 1 -printf '%y %m %p %l\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) |
        sha256sum | cut -c1-16)
    if command -v zstd >/dev/null; then
        root_cpio=$cache/root-$root_key.cpio.zst
        root_compressor=(zstd -q -T0 -9)
    else
        root_cpio=$cache/root-$root_key.cpio.gz
        root_compressor=(gzip -6 -n)
    fi
    if [[ ! -s $root_cpio ]]; then
        log "building root overlay archive from $root_overlay"
        make_cpio "$root_overlay" "$root_cpio" "${root_compressor[@]}"
        ls -t "$cache"/root-*.cpio.* | tail -n +4 | xargs -r rm -f
    fi
fi

# ---------------------------------------------------------------- payload + initrd

payload_key=$( (cd "$payload_dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16)
initrd=$cache/initrd-$base_key${root_key:+-$root_key}-$payload_key.cpio.gz
if [[ ! -s $initrd ]]; then
    log "building payload archive from $payload_dir"
    stage=$cache/stage-payload
    rm -rf "$stage"
    mkdir -p "$stage/opt"
    cp -a "$payload_dir" "$stage/opt/payload"
    make_cpio "$stage" "$cache/payload-$payload_key.cpio.gz"
    rm -rf "$stage"
    cat "$base_cpio" ${root_cpio:+"$root_cpio"} "$cache/payload-$payload_key.cpio.gz" > "$initrd.part"
    mv "$initrd.part" "$initrd"
    # Keep the cache from growing without bound while payloads change during development.
    ls -t "$cache"/initrd-*.cpio.gz | tail -n +6 | xargs -r rm -f
    ls -t "$cache"/payload-*.cpio.gz | tail -n +6 | xargs -r rm -f
fi

echo "KERNEL=$kernel_dir/vmlinuz"
echo "INITRD=$initrd"
