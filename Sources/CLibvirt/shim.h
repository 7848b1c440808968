// libvirt's C API for Swift (LibvirtMachine): the public API, the QEMU
// monitor passthrough (libvirt-qemu) and the error API.
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
