#!/bin/sh
# `npm run package:deb`: builds dist/qga-ts_<version>_amd64.deb with dpkg-deb, a drop-in replacement
# for Debian's qemu-guest-agent (see packaging/README.md for what is installed where and why).
#
#   sh packaging/build-deb.sh [--no-sea-build] [--compress=xz|gzip] [--out=DIR]
#
# --no-sea-build  use the existing dist/qga-ts instead of running `npm run package` first
# --compress      xz (default: about 27 MB, ~50 s) or gzip (about 40 MB, ~17 s)
# --out           where the .deb goes (default dist/)
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
build_sea=yes
compress=xz
out_dir="$REPO/dist"
for arg in "$@"; do
	case "$arg" in
		--no-sea-build) build_sea=no ;;
		--compress=xz | --compress=gzip) compress=${arg#--compress=} ;;
		--out=*) out_dir=${arg#--out=} ;;
		*)
			echo "build-deb.sh: unknown argument '$arg'" >&2
			exit 2
			;;
	esac
done

say() { printf '[package:deb] %s\n' "$*"; }
die() {
	printf '[package:deb] error: %s\n' "$*" >&2
	exit 1
}

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"

if [ "$build_sea" = yes ]; then
	(cd "$REPO" && npm run --silent package)
fi
BIN="$REPO/dist/qga-ts"
# The helper exactly as embedded in the executable (stripped by build-sea.ts).
ADDON="$REPO/dist/sea/qga_native.node"
[ -x "$BIN" ] || die "$BIN is missing: run npm run package"
[ -f "$ADDON" ] || die "$ADDON is missing: run npm run package"
[ -f "$REPO/init/fsfreeze-hook" ] || die "init/fsfreeze-hook is missing"

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}

# Debian versions sort a pre-release with '~' (0.2.0~rc.1 < 0.2.0); npm writes it with '-'.
npm_version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$REPO/package.json" | head -n 1)
[ -n "$npm_version" ] || die "no version in package.json"
VERSION=$(printf '%s' "$npm_version" | tr '-' '~')
ARCH=amd64
PKG=qga-ts

STAGE="$REPO/dist/deb/${PKG}_${VERSION}_${ARCH}"
rm -rf "$STAGE"
umask 022
mkdir -p "$STAGE/DEBIAN" \
	"$STAGE/usr/sbin" \
	"$STAGE/usr/lib/qga-ts" \
	"$STAGE/lib/systemd/system" \
	"$STAGE/lib/udev/rules.d" \
	"$STAGE/etc/qemu/fsfreeze-hook.d" \
	"$STAGE/var/lib/qga-ts" \
	"$STAGE/usr/share/doc/$PKG/examples"

install -m 0755 "$BIN" "$STAGE/usr/sbin/qga-ts"
# The packaged copy of the helper: the executable prefers it to extracting its embedded one.
install -m 0644 "$ADDON" "$STAGE/usr/lib/qga-ts/qga_native.node"
# Same for serialport's binding when the project depends on serialport (isa-serial).
serialport_binding="$REPO/node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node"
if [ -f "$serialport_binding" ]; then
	install -m 0644 "$serialport_binding" "$STAGE/usr/lib/qga-ts/serialport-bindings-cpp.node"
fi
install -m 0644 "$REPO/init/qga-ts.service" "$STAGE/lib/systemd/system/qga-ts.service"
install -m 0644 "$REPO/init/qga-ts.rules" "$STAGE/lib/udev/rules.d/60-qga-ts.rules"
install -m 0644 "$REPO/init/qemu-ga.conf.example" "$STAGE/etc/qemu/qemu-ga.conf"
install -m 0755 "$REPO/init/fsfreeze-hook" "$STAGE/etc/qemu/fsfreeze-hook"
# Extraction directory of last resort for root (normally unused: /usr/lib/qga-ts has the helper).
chmod 0700 "$STAGE/var/lib/qga-ts"

doc="$STAGE/usr/share/doc/$PKG"
install -m 0644 "$REPO/README.md" "$doc/README.md"
install -m 0644 "$REPO/packaging/README.md" "$doc/PACKAGING.md"
install -m 0644 "$REPO/init/qemu-ga.conf.example" "$doc/examples/qemu-ga.conf.example"
install -m 0644 "$REPO/init/qga-ts.openrc" "$doc/examples/qga-ts.openrc"
install -m 0644 "$REPO/init/qga-ts.sysvinit" "$doc/examples/qga-ts.sysvinit"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: qga-ts

Files: *
Copyright: $(date -u -d "@$epoch" +%Y) the qga-ts contributors
License: GPL-2.0-or-later
 On Debian systems the full text is in /usr/share/common-licenses/GPL-2.

Files: usr/sbin/qga-ts
Comment: embeds the Node.js runtime (MIT license, with the licenses of its
 bundled dependencies: V8, libuv, OpenSSL, ICU, zlib and others; see
 https://github.com/nodejs/node/blob/main/LICENSE) and npm packages under the
 MIT license (pino, zod, serialport, prom-client).
License: GPL-2.0-or-later and MIT
EOF
gzip -9n >"$doc/changelog.gz" <<EOF
$PKG ($VERSION) unstable; urgency=medium

  * Built from the qga-ts repository by packaging/build-deb.sh.

 -- qga-ts maintainers <maintainers@qga-ts.invalid>  $(LC_ALL=C date -u -R -d "@$epoch")
EOF

# Deliberate departures from Debian policy, each with its reason, so lintian reports only news.
mkdir -p "$STAGE/usr/share/lintian/overrides"
install -m 0644 "$REPO/packaging/debian/lintian-overrides" "$STAGE/usr/share/lintian/overrides/$PKG"

cat >"$STAGE/DEBIAN/conffiles" <<EOF
/etc/qemu/qemu-ga.conf
/etc/qemu/fsfreeze-hook
EOF

installed_kib=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
# The floor is checked against the binaries by test/packaging/deb.test.ts: Node 24 needs
# glibc 2.28 and libstdc++ from GCC 7 (CXXABI_1.3.11); Debian 10 calls libgcc-s1 libgcc1.
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: qga-ts maintainers <maintainers@qga-ts.invalid>
Installed-Size: $installed_kib
Depends: libc6 (>= 2.28), libgcc-s1 (>= 3.4) | libgcc1 (>= 1:3.4), libstdc++6 (>= 7)
Provides: qemu-guest-agent
Conflicts: qemu-guest-agent
Replaces: qemu-guest-agent
Section: admin
Priority: optional
Description: QEMU Guest Agent reimplemented in TypeScript, as one executable
 qga-ts speaks the QEMU Guest Agent protocol of qemu-ga byte for byte, takes
 its options and /etc/qemu/qemu-ga.conf, and implements qemu-ga 10.2's Linux
 command set plus guest-get-statvfs. It replaces the qemu-guest-agent package:
 udev starts it when the virtio-serial port org.qemu.guest_agent.0 (libvirt,
 Proxmox) or com.163.spice.0 (a dedicated monitoring port) appears, and one
 process serves both.
 .
 /usr/sbin/qga-ts is a single executable with the Node.js 24 runtime inside;
 no Node.js installation is needed.
EOF

for script in preinst postinst prerm postrm; do
	install -m 0755 "$REPO/packaging/debian/$script" "$STAGE/DEBIAN/$script"
done

(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums" "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles"

mkdir -p "$out_dir"
DEB="$out_dir/${PKG}_${VERSION}_${ARCH}.deb"
if [ "$compress" = xz ]; then level=-z6; else level=-z9; fi
say "building $DEB ($compress)"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Z"$compress" "$level" --build "$STAGE" "$DEB" >/dev/null
say "wrote $DEB ($(stat -c %s "$DEB") bytes)"
