#!/usr/bin/env bash
# Builds the minimal Debian guest of test/vm/debian-guest.test.ts: debootstrap (minbase + systemd,
# udev and Debian's own kernel with an initramfs-tools initrd), the qga-ts .deb installed inside it
# with dpkg, all in one raw ext4 image (root on /dev/vda, booted with -kernel/-initrd).
#
#   test/vm/debian/build-image.sh DEB          (root: debootstrap, chroot)
#
# stdout, last lines:
#   IMAGE=/abs/image.raw  KERNEL=/abs/vmlinuz  INITRD=/abs/initrd.img
#   BASE=cached|built in N s   IMAGE_BUILD=cached|built in N s
# progress goes to stderr.
#
# Two cached layers under ${QGA_VM_CACHE:-test/vm/.cache}/debian/:
#   base-<key>.tar (+ .vmlinuz, .initrd)  the debootstrapped root; key = the package list, suite,
#                                        mirror and the code of build_base below
#   image-<key>.raw                      base + the .deb; key = base key, the .deb's sha256 and the
#                                        code of build_image below
#   debs/                                debootstrap's download cache
# So a new .deb costs an unpack, a dpkg -i and a mkfs (about a minute), not a new debootstrap.
# Boot the image read-only (QEMU snapshot=on): the cache stays pristine.
#
# Environment: QGA_DEBIAN_SUITE (bookworm), QGA_DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${QGA_VM_CACHE:-$(cd "$here/.." && pwd)/.cache}/debian
suite=${QGA_DEBIAN_SUITE:-bookworm}
mirror=${QGA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# pidof (sysvinit-utils) and e2fsprogs are part of minbase already.
packages=systemd,systemd-sysv,udev,linux-image-amd64,initramfs-tools
image_size=1536M

log() { printf 'debian-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 DEB"
deb=$(readlink -f "$1")
[[ -f $deb ]] || die "$1 not found"
[[ $(id -u) -eq 0 ]] || die "root is needed (debootstrap, chroot)"
for tool in debootstrap mkfs.ext4 tar sha256sum flock unshare chroot; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

mkdir -p "$cache/debs"
exec 9>"$cache/.lock"
flock 9

build_base() { # STAGE: debootstrap and the settings a headless test guest needs
    local stage=$1
    debootstrap --variant=minbase --include="$packages" --cache-dir="$cache/debs" \
        "$suite" "$stage" "$mirror" >&2
    echo qga-debian > "$stage/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tqga-debian\n' > "$stage/etc/hosts"
    printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' > "$stage/etc/fstab"
    # Root without a password, for poking at the console by hand (the test does not log in).
    chroot "$stage" passwd -d root >&2
    # Nothing here should compete with the boot under TCG.
    for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
        ln -sf /dev/null "$stage/etc/systemd/system/$unit"
    done
    rm -f "$stage"/var/cache/apt/archives/*.deb "$stage"/var/lib/apt/lists/*_Packages
}

build_image() { # STAGE DEB: install the package as an admin would, with no daemon started
    local stage=$1 pkg=$2
    # policy-rc.d stops invoke-rc.d from starting anything; the maintainer scripts also skip
    # systemctl/udevadm by themselves when /run/systemd/system and /run/udev are absent (a chroot).
    printf '#!/bin/sh\nexit 101\n' > "$stage/usr/sbin/policy-rc.d"
    chmod 0755 "$stage/usr/sbin/policy-rc.d"
    cp "$pkg" "$stage/tmp/qga-ts.deb"
    # /proc for the maintainer scripts, in a private mount namespace: gone when dpkg is done.
    unshare --mount --propagation private -- /bin/sh -ec "
        mount -t proc proc '$stage/proc'
        chroot '$stage' dpkg -i /tmp/qga-ts.deb
    " >&2
    chroot "$stage" dpkg-query -W -f='${Package} ${Version} ${Status}\n' qga-ts >&2
    rm -f "$stage/tmp/qga-ts.deb" "$stage/usr/sbin/policy-rc.d"
    # The journal also goes to the serial console, so that a failing test shows why the agent
    # did not answer (the unit's stderr lands in the journal).
    mkdir -p "$stage/etc/systemd/journald.conf.d"
    printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\nTTYPath=/dev/ttyS0\n' \
        > "$stage/etc/systemd/journald.conf.d/50-qga-test-console.conf"
    for file in usr/sbin/qga-ts lib/systemd/system/qga-ts.service lib/udev/rules.d/60-qga-ts.rules; do
        [[ -e $stage/$file || -e $stage/usr/$file ]] || die "the .deb did not install /$file"
    done
}

base_key=$( {
    echo "$suite $mirror $packages"
    declare -f build_base
} | sha256sum | cut -c1-16)
base=$cache/base-$base_key
deb_hash=$(sha256sum "$deb" | cut -c1-64)
image_key=$( {
    echo "$base_key $deb_hash $image_size"
    declare -f build_image
} | sha256sum | cut -c1-16)
image=$cache/image-$image_key.raw

base_note=cached
if [[ ! -s $base.tar ]]; then
    started=$SECONDS
    stage=$cache/stage-base
    rm -rf "$stage"
    log "debootstrap $suite ($packages) from $mirror"
    build_base "$stage"
    kernel=$(ls "$stage"/boot/vmlinuz-* | sort -V | tail -n1)
    initrd=$(ls "$stage"/boot/initrd.img-* | sort -V | tail -n1)
    [[ -s $kernel && -s $initrd ]] || die "debootstrap left no kernel or initrd in /boot"
    cp "$kernel" "$base.vmlinuz.part" && mv "$base.vmlinuz.part" "$base.vmlinuz"
    cp "$initrd" "$base.initrd.part" && mv "$base.initrd.part" "$base.initrd"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$stage" -cf "$base.tar.part" .
    mv "$base.tar.part" "$base.tar"
    rm -rf "$stage"
    base_note="built in $((SECONDS - started)) s"
    log "base $base_note"
fi

image_note=cached
if [[ ! -s $image ]]; then
    started=$SECONDS
    stage=$cache/stage-image
    rm -rf "$stage"
    mkdir -p "$stage"
    log "unpacking the base, installing $(basename "$deb")"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$stage" -xf "$base.tar"
    build_image "$stage" "$deb"
    log "mkfs.ext4 -d ($image_size)"
    rm -f "$image.part"
    mkfs.ext4 -q -F -L qga-root -d "$stage" "$image.part" "$image_size" >&2
    mv "$image.part" "$image"
    rm -rf "$stage"
    # One image per .deb is kept; older ones only take space.
    ls -t "$cache"/image-*.raw | tail -n +3 | xargs -r rm -f
    image_note="built in $((SECONDS - started)) s"
    log "image $image_note"
fi

echo "IMAGE=$image"
echo "KERNEL=$base.vmlinuz"
echo "INITRD=$base.initrd"
echo "BASE=$base_note"
echo "IMAGE_BUILD=$image_note"
