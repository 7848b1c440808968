// Numbers the boot assembly and the Swift kernel share (no C code here:
// Guest/Boot/entry.S includes it too).
#ifndef MMLAB_BOOT_CONSTANTS_H
#define MMLAB_BOOT_CONSTANTS_H

/// RAM the boot page tables map (at 0 and at -2 GiB), in MiB: everything the
/// deprivileged boot pass touches must lie below it. A whole page directory
/// (1 GiB), so the pass can stock the zeroed list of a 1 GiB guest at CPL 3.
#define MMLAB_BOOT_IDENTITY_MIB 1024

#endif
