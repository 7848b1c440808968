// Offsets of `struct ConformanceRun` (Arch.h), for Guest/Boot/conformance.S.
// Arch.h checks each against the struct with _Static_assert, so a field
// moved on one side does not build. No C code here: the assembly includes it.
#ifndef MMLAB_CONFORMANCE_RUN_H
#define MMLAB_CONFORMANCE_RUN_H

#define RUN_ROOT 0                  // the block's CR3
#define RUN_CR0 8
#define RUN_CR4 16
#define RUN_EFER 24
#define RUN_RFLAGS 32               // RFLAGS for the supervisor loop (AC)
#define RUN_ACCESSES 40             // kernel address of the access list
#define RUN_USER_ACCESSES 48        // user address of the same list
#define RUN_COUNT 56
#define RUN_RESULTS 64              // kernel address of the block's first result record
#define RUN_USER_MODE 72
#define RUN_USER_STACK 80
#define RUN_USER_LOOP 88            // user address of conformance_user_loop
#define RUN_USER_FIXUP 96           // user address of conformance_user_fixup
#define RUN_USER_DONE 104           // user address of conformance_user_done
#define RUN_USER_MUTATE 112         // user address of conformance_user_mutate
#define RUN_PKRU 120                // PKRU, written when the block's CR4 has PKE
#define RUN_SIZE 128

#endif
