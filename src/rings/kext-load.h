/* SPDX-License-Identifier: MIT */
/*
 * The mechanics of kexts, shared by ringd (src/ringd/kext.c), the sealing
 * test and bench-kext: the ELF load rules, loading verified bytes, the
 * pointer-authentication analogue, sealing, and the panic path.  Policy
 * (trust, precedence, safe mode, matching) is ringd's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringkit/kext.h"

/* ---- load rules ---- */

/*
 * Check an ELF image against the host's rules: ELF64 little-endian shared
 * object for `machine` (EM_X86_64 or EM_AARCH64), program headers and
 * segments inside the file, and the GNU property note with the
 * control-flow protection that machine needs (x86-64: IBT and SHSTK;
 * aarch64: BTI and PAC).  With `relax_cfi` a missing protection passes
 * and *relaxed says what was missing.  0, or -ENOEXEC with the reason in
 * why (NUL-terminated, cut to why_len).
 */
int rk_kext_elf_check(const uint8_t *buf, size_t len, unsigned machine, bool relax_cfi, char *why, size_t why_len,
                      bool *relaxed);
unsigned rk_kext_host_machine(void); /* EM_X86_64 or EM_AARCH64 */

/* ---- pointer authentication ---- */

/* A function pointer as ringd keeps it: the pointer and a MAC of (pointer, &slot) under the key. */
typedef struct rk_kslot {
        uintptr_t ptr;
        uint64_t mac;
} rk_kslot;

int rk_kpac_init(void);  /* a fresh random key; 0 or -errno (getrandom) */
uint64_t rk_kpac_mac(uintptr_t ptr, const void *slot);
void rk_kpac_sign(rk_kslot *slot, uintptr_t ptr);
/* The pointer when it authenticates; otherwise a kext panic naming kext and slot (does not return). */
uintptr_t rk_kpac_auth(const rk_kslot *slot, const char *kext, const char *what);

/* ---- images ---- */

#define RK_KEXT_MAX_CLASSES 24
#define RK_KEXT_NAME_MAX 64

/* ringd's record of one class: name and signed callbacks (sealed after the module start) */
typedef struct rk_kext_class_rec {
        char name[RK_KEXT_NAME_MAX];
        rk_kslot probe, start, stop, call;
} rk_kext_class_rec;

/* One page per kext: its classes and module callbacks, sealed with its code. */
typedef struct rk_kext_table {
        char kext[RK_KEXT_NAME_MAX];
        rk_kslot mod_start, mod_stop;
        uint32_t n;
        bool sealed;
        rk_kext_class_rec classes[RK_KEXT_MAX_CLASSES];
} rk_kext_table;

typedef struct rk_kext_image {
        char *name;             /* bundle identifier, for reports */
        void *dl;               /* dlopen handle */
        rk_kext_table *table;   /* its page */
        struct { uintptr_t start, end; int prot; const char *what; } ranges[16]; /* what sealing covers */
        size_t n_ranges;
        bool sealed, used_mseal;
} rk_kext_image;

/*
 * Load the image in memfd (sealed, verified bytes): ELF rules, dlopen of
 * /proc/self/fd/N (the same bytes, no window), the descriptor, and the
 * ranges to seal.  0, or -ENOEXEC/-ENOENT/-EPROTO/-ENOMEM with why.
 */
int rk_kext_image_load(int memfd, const char *name, bool relax_cfi, rk_kext_image **ret, char *why, size_t why_len,
                       bool *relaxed);
/* The class record for `name`, or NULL. */
const rk_kext_class_rec *rk_kext_image_class(const rk_kext_image *img, const char *name);
/* Add a class (the module start's register_class). */
int rk_kext_image_add_class(rk_kext_image *img, const rk_kext_class *cls);
/*
 * Make code, read-only data, RELRO and the table read-only and seal them
 * (mseal, syscall 462; mprotect alone where the kernel has none).  0 or -errno.
 */
int rk_kext_image_seal(rk_kext_image *img);
/* Free the record; an image that never sealed is dlclosed, a sealed one stays mapped for the process's life. */
void rk_kext_image_free(rk_kext_image *img);

/* mseal(2): 0, or -errno (-ENOSYS where the kernel has none). */
int rk_mseal(void *addr, size_t len);

/* ---- faults and panics ---- */

/* Calls into kext code are framed so a fault inside names the kext. */
typedef struct rk_kext_frame {
        const char *kext, *what;
        struct rk_kext_frame *prev;
} rk_kext_frame;
void rk_kext_enter(rk_kext_frame *f, const char *kext, const char *what);
void rk_kext_leave(rk_kext_frame *f);

/*
 * Where a panic is reported: stderr (ringd's log), `panic_path` (a report,
 * appended) and `flag_path` (the safe-mode flag, created with the reason).
 * Paths may be NULL.  0 or -ENAMETOOLONG.
 */
int rk_kext_panic_setup(const char *panic_path, const char *flag_path);
/*
 * Install the fault handlers (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, on
 * an alternate stack) before the first kext code runs.  A fault outside
 * kext code goes to the action that was there before (a sanitizer's, or the
 * default).  Idempotent.  0 or -errno.
 */
int rk_kext_fault_handlers_install(void);
/* Report, set the flag, abort.  Async-signal-safe after its formatting. */
_Noreturn void rk_kext_panic(const char *kext, const char *what, const char *reason);
