#!/bin/sh
# Builds the guest kernel ELF. Called by the GuestImageBuilder plugin during
# `swift build`; also runnable by hand:
#   Guest/build-guest.sh SWIFTC CLANG LD_LLD PACKAGE_DIR OUTPUT.elf WORK_DIR
set -eu
swiftc=$1 clang=$2 lld=$3 package=$4 output=$5 work=$6
guest="$package/Guest"
mkdir -p "$work"

# Embedded Swift: the guest's own sources plus the shared GuestABI contract and
# the hardware-free logic of the memory manager (GuestMm) and the FAT file
# system (GuestFs), all one module here.
# No SSE/MMX anywhere (-mno-sse reaches Swift's code generation through the
# clang importer): kvm-pvm emulates the instructions after a privileged one in
# a batch, and its emulator fails on SSE (KVM_EXIT_INTERNAL_ERROR). Without
# vector registers the interrupt path also has no FPU state to save.
swift_sources=$(find "$guest" "$package/Sources/GuestABI" "$package/Sources/GuestMm" "$package/Sources/GuestFs" -name '*.swift' | LC_ALL=C sort)
# shellcheck disable=SC2086
"$swiftc" -enable-experimental-feature Embedded -target x86_64-unknown-none-elf \
  -wmo -Osize -parse-as-library -module-name GuestKernel \
  -Xfrontend -disable-stack-protector -Xfrontend -function-sections \
  -Xcc -ffreestanding -Xcc -mno-red-zone -Xcc -mcmodel=kernel -Xcc -mno-sse -Xcc -mno-sse2 -Xcc -mno-mmx \
  -I "$guest/Arch" \
  -c $swift_sources -o "$work/kernel-swift.o"

cflags="-target x86_64-unknown-none-elf -ffreestanding -fno-stack-protector -mno-red-zone -mcmodel=kernel -mgeneral-regs-only -O2 -fno-pic -I $guest/Arch"
objects="$work/kernel-swift.o"
for source in $(find "$guest" -name '*.c' -o -name '*.S' | LC_ALL=C sort); do
  object="$work/$(basename "$source").o"
  # shellcheck disable=SC2086
  "$clang" $cflags -c "$source" -o "$object"
  objects="$objects $object"
done

# shellcheck disable=SC2086
"$lld" -flavor gnu -static -nostdlib --no-pie -z max-page-size=4096 --gc-sections \
  -T "$guest/Boot/kernel.ld" -o "$output.tmp" $objects
mv "$output.tmp" "$output"
