#!/usr/bin/env bash
# A private libvirtd (+ virtlogd) for the virsh test, started by hand (no systemd needed).
#
#   test/vm/virsh/libvirtd.sh start DIR   -> prints URI=qemu:///system?socket=DIR/run/libvirt-sock
#   test/vm/virsh/libvirtd.sh stop DIR
#
# The daemons run in their own mount namespace in which /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt are bind mounts of directories under
# DIR. So nothing of the host's libvirt configuration or state is read or changed, a host libvirtd
# (if any) is not disturbed, and everything the daemons write stays under DIR. The only trace on
# the host is the empty mount-point directories, created if missing.
#
# qemu.conf makes QEMU run as root with no security driver and no per-VM /dev namespace (this is a
# throwaway test VM whose files live in the checkout), and logs QEMU's stdio through virtlogd.
# When /dev/kvm exists it is hidden (a bind mount of /dev/null) inside the namespace: libvirt
# would otherwise probe KVM, and on some hosts /dev/kvm hangs. Domains use type='qemu' (TCG).
set -euo pipefail

log() { printf 'libvirtd.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 start|stop DIR"
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
mounts=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)

pid_of() { [[ -s $1 ]] && cat "$1"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

stop() {
    local pidfile pid
    for pidfile in "$dir/run/libvirt/libvirtd.pid" "$dir/run/libvirt/virtlogd.pid"; do
        pid=$(pid_of "$pidfile" || true)
        if alive "$pid"; then
            kill -TERM "$pid"
            for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
            alive "$pid" && kill -KILL "$pid"
        fi
        rm -f "$pidfile"
    done
}

case $action in
stop) stop; exit 0 ;;
start) ;;
*) die "unknown action $action" ;;
esac

command -v libvirtd >/dev/null || die "libvirtd not installed (apt: libvirt-daemon libvirt-daemon-driver-qemu)"
command -v virtlogd >/dev/null || die "virtlogd not installed (apt: libvirt-daemon)"
command -v unshare >/dev/null || die "unshare not installed (util-linux)"

stop
for m in "${mounts[@]}"; do
    mkdir -p "$m" "$dir/${m#/}"
done
# The socket directory is short on purpose: unix socket paths are limited to 107 bytes.
sockdir=$dir/run/libvirt

cat > "$dir/etc/libvirt/libvirtd.conf" <<CONF
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
cat > "$dir/etc/libvirt/virtlogd.conf" <<CONF
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
CONF
cat > "$dir/etc/libvirt/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "logd"
CONF
: > "$dir/etc/libvirt/libvirt.conf"

# libvirt resolves its compiled-in QEMU user (Debian: libvirt-qemu) before it reads qemu.conf, and
# fails when the account does not exist. libvirt-daemon-system would create it; here the namespace
# gets its own passwd/group with that account added, and the host's files stay as they are.
cp /etc/passwd "$dir/etc/passwd"
cp /etc/group "$dir/etc/group"
getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:' >> "$dir/etc/group"
getent passwd libvirt-qemu >/dev/null ||
    echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >> "$dir/etc/passwd"

hide_kvm=
[[ -e /dev/kvm ]] && hide_kvm="mount --bind /dev/null /dev/kvm"

# libvirtd -d forks; both daemons keep the namespace alive until they exit.
unshare --mount --propagation private -- /bin/sh -ec "
    for m in ${mounts[*]}; do mount --bind \"$dir\$m\" \"\$m\"; done
    mount --bind \"$dir/etc/passwd\" /etc/passwd
    mount --bind \"$dir/etc/group\" /etc/group
    $hide_kvm
    virtlogd -d -p /run/libvirt/virtlogd.pid
    libvirtd -d -p /run/libvirt/libvirtd.pid
"
uri="qemu:///system?socket=$sockdir/libvirt-sock"
for _ in $(seq 300); do
    if virsh -c "$uri" version >/dev/null 2>&1; then
        echo "URI=$uri"
        exit 0
    fi
    sleep 0.2
done
log "libvirtd did not answer; its log:"
tail -n 30 "$dir/var/log/libvirt/libvirtd.log" >&2 || true
stop
exit 1
