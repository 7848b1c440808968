#!/bin/sh
# Installs what mmlab needs on a fresh Debian machine of this kind (run as
# root): idempotent, quiet when everything is already there.
set -eu

missing=""
# Debian packages: QEMU and libvirt for the libvirt backend (libvirt-dev to
# build against, the daemon and its QEMU driver to run domains); dosfstools and
# mtools make and check the FAT volumes the GuestFs tests read and write.
MMLAB_APT_PACKAGES="${MMLAB_APT_PACKAGES:-qemu-system-x86 libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients dosfstools mtools}"
for package in $MMLAB_APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: no Swift toolchain on PATH (mmlab needs Swift 6.1 or later with the Embedded Swift stdlib)" >&2
  exit 1
fi
if [ ! -e /dev/kvm ]; then
  echo "setup: warning: /dev/kvm is missing; tests that boot the guest will be skipped (or fail under MMLAB_REQUIRE_KVM=1)" >&2
fi
# The libvirt daemons, started here when nothing else (systemd) runs them.
if command -v libvirtd >/dev/null 2>&1; then
  "$(dirname "$0")/start-libvirt.sh" || echo "setup: warning: libvirtd could not be started; --backend libvirt will say so" >&2
fi
