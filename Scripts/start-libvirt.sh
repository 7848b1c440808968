#!/bin/sh
# Starts virtlogd and libvirtd on a machine without systemd (CI runners and
# containers of this kind), idempotently. The QEMU driver wants its run, log
# and state directories, the user libvirt-qemu and the group kvm; guests run
# as root here (qemu.conf), which the shared guest-RAM file needs too.
set -eu
mkdir -p /var/run/libvirt /var/log/libvirt /var/lib/libvirt/qemu/ram
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
conf=/etc/libvirt/qemu.conf
if ! grep -qs '^# mmlab' "$conf"; then
  mkdir -p /etc/libvirt
  cat >>"$conf" <<'CONF'
# mmlab: guests run as root, their RAM in a file the host maps
user = "root"
group = "root"
dynamic_ownership = 0
memory_backing_dir = "/var/lib/libvirt/qemu/ram"
CONF
  restart=1  # a running libvirtd read the old settings
fi
if ! pgrep -x virtlogd >/dev/null; then virtlogd -d; fi
if [ -n "${restart:-}" ] && pgrep -x libvirtd >/dev/null; then
  pkill -x libvirtd
  for _ in $(seq 40); do pgrep -x libvirtd >/dev/null || break; sleep 0.25; done
fi
# libvirtd takes a few seconds to open its socket here (it probes the host
# first); one that was just stopped may still be on its way out.
for _ in $(seq 120); do
  if pgrep -x libvirtd >/dev/null; then
    [ -S /var/run/libvirt/libvirt-sock ] && virsh -q -c qemu:///system uri >/dev/null 2>&1 && exit 0
  else
    libvirtd -d
  fi
  sleep 0.25
done
echo "start-libvirt: libvirtd did not come up within 30 s (see /var/log/libvirt/libvirtd.log)" >&2
exit 1
