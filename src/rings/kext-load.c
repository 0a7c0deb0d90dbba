/* SPDX-License-Identifier: MIT */
/*
 * Kext mechanics: load rules, loading verified bytes, the pointer-
 * authentication analogue, sealing, panics.  See kext-load.h and
 * docs/kexts.md.
 *
 * What stays true here:
 *   - an image is dlopen()ed only from the sealed memfd whose bytes passed
 *     rk_kext_elf_check(), through /proc/self/fd/N: the checked bytes are
 *     the loaded bytes;
 *   - every kext function pointer ringd calls is read from an rk_kslot
 *     (or a kext's rk_kext_fn) and authenticated first; the MAC binds the
 *     pointer to the slot's address;
 *   - a sealed image is never unmapped (mseal forbids it; kexts are not
 *     unloaded).
 *
 * The fault handler and the panic path are process-wide (a signal handler
 * has no context to be handed): the frame stack of calls into kexts and
 * the report paths are the only globals, written before any kext runs.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rings/kext-load.h"

#ifndef GNU_PROPERTY_X86_FEATURE_1_AND
#define GNU_PROPERTY_X86_FEATURE_1_AND 0xc0000002u
#endif
#ifndef GNU_PROPERTY_X86_FEATURE_1_IBT
#define GNU_PROPERTY_X86_FEATURE_1_IBT (1u << 0)
#define GNU_PROPERTY_X86_FEATURE_1_SHSTK (1u << 1)
#endif
#ifndef GNU_PROPERTY_AARCH64_FEATURE_1_AND
#define GNU_PROPERTY_AARCH64_FEATURE_1_AND 0xc0000000u
#endif
#ifndef GNU_PROPERTY_AARCH64_FEATURE_1_BTI
#define GNU_PROPERTY_AARCH64_FEATURE_1_BTI (1u << 0)
#define GNU_PROPERTY_AARCH64_FEATURE_1_PAC (1u << 1)
#endif
#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY 0x6474e553
#endif
#ifndef NT_GNU_PROPERTY_TYPE_0
#define NT_GNU_PROPERTY_TYPE_0 5
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

_Static_assert(sizeof(rk_kext_table) <= 4096, "a kext's table fits one page");

static void whyf(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t len, const char *fmt, ...) {
        va_list ap;
        if (!why || !len)
                return;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
}

/* ---- load rules ---- */

unsigned rk_kext_host_machine(void) {
#if defined(__x86_64__)
        return EM_X86_64;
#elif defined(__aarch64__)
        return EM_AARCH64;
#else
        return EM_NONE;
#endif
}

static const char *machine_name(unsigned m) {
        switch (m) {
        case EM_X86_64: return "EM_X86_64";
        case EM_AARCH64: return "EM_AARCH64";
        case EM_386: return "EM_386";
        case EM_ARM: return "EM_ARM";
        case EM_RISCV: return "EM_RISCV";
        case EM_PPC64: return "EM_PPC64";
        case EM_S390: return "EM_S390";
        default: return "another machine";
        }
}

/* The FEATURE_1_AND bits of the property note in [off, off+size), or -1 when there is none. */
static int64_t note_feature(const uint8_t *buf, size_t off, size_t size, size_t align, uint32_t want_type) {
        size_t p = off, end = off + size, m = align == 8 ? 7 : 3; /* notes pad to their segment's alignment */

        while (p + 12 <= end) {
                uint32_t namesz, descsz, type;
                size_t name_off, desc_off, next;
                memcpy(&namesz, buf + p, 4);
                memcpy(&descsz, buf + p + 4, 4);
                memcpy(&type, buf + p + 8, 4);
                name_off = p + 12;
                if (namesz > size || descsz > size)
                        return -1;
                desc_off = off + ((name_off - off + namesz + m) & ~m);
                next = off + ((desc_off - off + descsz + m) & ~m);
                if (desc_off > end || desc_off + descsz > end)
                        return -1;
                if (type == NT_GNU_PROPERTY_TYPE_0 && namesz == 4 && memcmp(buf + name_off, "GNU", 4) == 0) {
                        size_t q = desc_off, qend = desc_off + descsz;
                        while (q + 8 <= qend) {
                                uint32_t pr_type, pr_size;
                                memcpy(&pr_type, buf + q, 4);
                                memcpy(&pr_size, buf + q + 4, 4);
                                if (pr_size > qend - q - 8)
                                        return -1;
                                if (pr_type == want_type && pr_size >= 4) {
                                        uint32_t bits;
                                        memcpy(&bits, buf + q + 8, 4);
                                        return bits;
                                }
                                q += 8 + ((pr_size + 7u) & ~(size_t) 7);
                        }
                }
                if (next <= p)
                        return -1;
                p = next;
        }
        return -1;
}

int rk_kext_elf_check(const uint8_t *buf, size_t len, unsigned machine, bool relax_cfi, char *why, size_t why_len,
                      bool *relaxed) {
        Elf64_Ehdr eh;
        int64_t bits = -1;
        uint32_t want_type, need;
        const char *need_names, *flag;

        if (relaxed)
                *relaxed = false;
        if (!buf || len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG) != 0) {
                whyf(why, why_len, "not an ELF file (no \\177ELF magic)");
                return -ENOEXEC;
        }
        if (len < EI_NIDENT || (buf[EI_CLASS] == ELFCLASS64 && len < sizeof(eh))) {
                whyf(why, why_len, "truncated ELF header (%zu bytes)", len);
                return -ENOEXEC;
        }
        if (buf[EI_CLASS] != ELFCLASS64) {
                whyf(why, why_len, "ELF class %s, the host needs ELFCLASS64",
                     buf[EI_CLASS] == ELFCLASS32 ? "ELFCLASS32" : "invalid");
                return -ENOEXEC;
        }
        if (buf[EI_DATA] != ELFDATA2LSB) {
                whyf(why, why_len, "ELF byte order is not little-endian, the host's");
                return -ENOEXEC;
        }
        memcpy(&eh, buf, sizeof(eh));
        if (eh.e_machine != machine) {
                whyf(why, why_len, "built for %s (e_machine %u), the host is %s", machine_name(eh.e_machine),
                     (unsigned) eh.e_machine, machine_name(machine));
                return -ENOEXEC;
        }
        if (eh.e_type != ET_DYN) {
                whyf(why, why_len, "not a shared object (e_type %u, a kext must be ET_DYN)", (unsigned) eh.e_type);
                return -ENOEXEC;
        }
        if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
            (len - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum) {
                whyf(why, why_len, "truncated or corrupt ELF: program headers outside the file");
                return -ENOEXEC;
        }
        if (machine == EM_AARCH64) {
                want_type = GNU_PROPERTY_AARCH64_FEATURE_1_AND;
                need = GNU_PROPERTY_AARCH64_FEATURE_1_BTI | GNU_PROPERTY_AARCH64_FEATURE_1_PAC;
                need_names = "BTI and PAC";
                flag = "-mbranch-protection=standard";
        } else {
                want_type = GNU_PROPERTY_X86_FEATURE_1_AND;
                need = GNU_PROPERTY_X86_FEATURE_1_IBT | GNU_PROPERTY_X86_FEATURE_1_SHSTK;
                need_names = "IBT and SHSTK";
                flag = "-fcf-protection=full";
        }
        for (size_t k = 0; k < eh.e_phnum; k++) {
                Elf64_Phdr ph;
                memcpy(&ph, buf + eh.e_phoff + k * sizeof(ph), sizeof(ph));
                if ((ph.p_type == PT_LOAD || ph.p_type == PT_NOTE || ph.p_type == PT_GNU_PROPERTY ||
                     ph.p_type == PT_DYNAMIC) &&
                    (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)) {
                        whyf(why, why_len, "truncated ELF: segment %zu ends at %llu, the file has %zu bytes", k,
                             (unsigned long long) (ph.p_offset + ph.p_filesz), len);
                        return -ENOEXEC;
                }
                if ((ph.p_type == PT_GNU_PROPERTY || ph.p_type == PT_NOTE) && bits < 0)
                        bits = note_feature(buf, ph.p_offset, ph.p_filesz, ph.p_align, want_type);
        }
        if (bits < 0 || ((uint32_t) bits & need) != need) {
                char missing[64] = "";
                if (bits < 0)
                        snprintf(missing, sizeof(missing), "no GNU property note with %s", need_names);
                else
                        snprintf(missing, sizeof(missing), "%s%s%s missing",
                                 ((uint32_t) bits & need & 1u) ? "" : (machine == EM_AARCH64 ? "BTI" : "IBT"),
                                 ((uint32_t) bits & need) == 0 ? " and " : "",
                                 ((uint32_t) bits & need & 2u) ? "" : (machine == EM_AARCH64 ? "PAC" : "SHSTK"));
                whyf(why, why_len, "control-flow protection: %s (build with %s)", missing, flag);
                if (!relax_cfi)
                        return -ENOEXEC;
                if (relaxed)
                        *relaxed = true;
        }
        return 0;
}

/* ---- pointer authentication: SipHash-2-4 of (pointer, slot address) ---- */

static uint64_t pac_key[2];

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                     \
        do {                                                                         \
                v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);            \
                v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                               \
                v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                               \
                v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);            \
        } while (0)

/* SipHash-2-4 of two 64-bit words (a 16-byte message), as in the reference. */
static uint64_t siphash16(uint64_t m0, uint64_t m1) {
        uint64_t v0 = 0x736f6d6570736575ULL ^ pac_key[0], v1 = 0x646f72616e646f6dULL ^ pac_key[1];
        uint64_t v2 = 0x6c7967656e657261ULL ^ pac_key[0], v3 = 0x7465646279746573ULL ^ pac_key[1];
        uint64_t b = (uint64_t) 16 << 56;

        v3 ^= m0; SIPROUND; SIPROUND; v0 ^= m0;
        v3 ^= m1; SIPROUND; SIPROUND; v0 ^= m1;
        v3 ^= b; SIPROUND; SIPROUND; v0 ^= b;
        v2 ^= 0xff;
        SIPROUND; SIPROUND; SIPROUND; SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

int rk_kpac_init(void) {
        uint8_t k[16];
        size_t got = 0;

        while (got < sizeof(k)) {
                ssize_t n = getrandom(k + got, sizeof(k) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        memcpy(pac_key, k, sizeof(k));
        return 0;
}

uint64_t rk_kpac_mac(uintptr_t ptr, const void *slot) {
        return siphash16((uint64_t) ptr, (uint64_t) (uintptr_t) slot);
}

void rk_kpac_sign(rk_kslot *slot, uintptr_t ptr) {
        slot->ptr = ptr;
        slot->mac = ptr ? rk_kpac_mac(ptr, slot) : 0;
}

uintptr_t rk_kpac_auth(const rk_kslot *slot, const char *kext, const char *what) {
        if (slot->ptr == 0 && slot->mac == 0)
                return 0;
        if (rk_kpac_mac(slot->ptr, slot) != slot->mac)
                rk_kext_panic(kext, what, "pointer authentication failed (a forged or moved function pointer)");
        return slot->ptr;
}

/* ---- images ---- */

int rk_mseal(void *addr, size_t len) {
        if (syscall(SYS_mseal, addr, len, 0UL) < 0)
                return -errno;
        return 0;
}

static int page_size(void) {
        static int ps;
        if (!ps)
                ps = (int) sysconf(_SC_PAGESIZE);
        return ps;
}

static void add_range(rk_kext_image *img, uintptr_t start, uintptr_t end, int prot, const char *what) {
        if (end <= start || img->n_ranges >= sizeof(img->ranges) / sizeof(img->ranges[0]))
                return;
        img->ranges[img->n_ranges].start = start;
        img->ranges[img->n_ranges].end = end;
        img->ranges[img->n_ranges].prot = prot;
        img->ranges[img->n_ranges++].what = what;
}

int rk_kext_image_load(int memfd, const char *name, bool relax_cfi, rk_kext_image **ret, char *why, size_t why_len,
                       bool *relaxed) {
        uintptr_t ps = (uintptr_t) page_size();
        rk_kext_image *img = NULL;
        const rk_kext_descriptor *desc;
        struct link_map *lm = NULL;
        Elf64_Ehdr eh;
        char path[64];
        struct stat st;
        uint8_t *map;
        int r;

        if (fstat(memfd, &st) < 0)
                return -errno;
        if (st.st_size == 0) {
                whyf(why, why_len, "empty file, not an ELF shared object");
                return -ENOEXEC;
        }
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, memfd, 0);
        if (map == MAP_FAILED)
                return -errno;
        r = rk_kext_elf_check(map, (size_t) st.st_size, rk_kext_host_machine(), relax_cfi, why, why_len, relaxed);
        if (r < 0)
                goto out;
        img = calloc(1, sizeof(*img));
        if (!img || !(img->name = strdup(name))) {
                r = -ENOMEM;
                goto out;
        }
        img->table = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (img->table == MAP_FAILED) {
                img->table = NULL;
                r = -ENOMEM;
                goto out;
        }
        snprintf(img->table->kext, sizeof(img->table->kext), "%s", name);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
        img->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!img->dl) {
                const char *e = dlerror();
                whyf(why, why_len, "cannot be loaded: %s", e ? e : "dlopen failed");
                r = -ENOEXEC;
                goto out;
        }
        desc = dlsym(img->dl, "rk_kext_descriptor_v1");
        if (!desc) {
                whyf(why, why_len, "exports no %s (RK_KEXT_DECLARE)", RK_KEXT_DESCRIPTOR_SYMBOL);
                r = -ENOENT;
                goto out;
        }
        if (desc->abi_version != RK_KEXT_ABI_VERSION || !desc->start) {
                whyf(why, why_len, "descriptor ABI version %u, ringd speaks %u%s", desc->abi_version,
                     RK_KEXT_ABI_VERSION, desc->start ? "" : " (and it has no start)");
                r = -EPROTO;
                goto out;
        }
        rk_kpac_sign(&img->table->mod_start, (uintptr_t) desc->start);
        rk_kpac_sign(&img->table->mod_stop, (uintptr_t) desc->stop);
        if (dlinfo(img->dl, RTLD_DI_LINKMAP, &lm) < 0 || !lm) {
                whyf(why, why_len, "no link map: %s", dlerror());
                r = -ENOEXEC;
                goto out;
        }
        /* what sealing covers: every read-only PT_LOAD and the RELRO, page-rounded as the loader maps them */
        memcpy(&eh, map, sizeof(eh));
        for (size_t k = 0; k < eh.e_phnum; k++) {
                Elf64_Phdr ph;
                uintptr_t a, e;
                memcpy(&ph, map + eh.e_phoff + k * sizeof(ph), sizeof(ph));
                a = (uintptr_t) lm->l_addr + ph.p_vaddr;
                if (ph.p_type == PT_LOAD && !(ph.p_flags & PF_W)) {
                        e = (a + ph.p_memsz + ps - 1) & ~(ps - 1);
                        add_range(img, a & ~(ps - 1), e, ((ph.p_flags & PF_R) ? PROT_READ : 0) |
                                  ((ph.p_flags & PF_X) ? PROT_EXEC : 0), ph.p_flags & PF_X ? "code" : "read-only data");
                } else if (ph.p_type == PT_GNU_RELRO) {
                        e = (a + ph.p_memsz) & ~(ps - 1); /* as the loader protects it */
                        add_range(img, a & ~(ps - 1), e, PROT_READ, "RELRO");
                }
        }
        add_range(img, (uintptr_t) img->table, (uintptr_t) img->table + ps, PROT_READ, "callback table");
        *ret = img;
        img = NULL;
        r = 0;
out:
        munmap(map, (size_t) st.st_size);
        rk_kext_image_free(img);
        return r;
}

const rk_kext_class_rec *rk_kext_image_class(const rk_kext_image *img, const char *name) {
        for (uint32_t k = 0; img && name && k < img->table->n; k++)
                if (strcmp(img->table->classes[k].name, name) == 0)
                        return &img->table->classes[k];
        return NULL;
}

int rk_kext_image_add_class(rk_kext_image *img, const rk_kext_class *cls) {
        rk_kext_class_rec *c;

        if (!img || !cls || !cls->name || !cls->start || strlen(cls->name) >= RK_KEXT_NAME_MAX)
                return -EINVAL;
        if (img->sealed)
                return -EPERM;
        if (rk_kext_image_class(img, cls->name))
                return -EEXIST;
        if (img->table->n >= RK_KEXT_MAX_CLASSES)
                return -ENOSPC;
        c = &img->table->classes[img->table->n];
        memset(c, 0, sizeof(*c));
        snprintf(c->name, sizeof(c->name), "%s", cls->name);
        rk_kpac_sign(&c->probe, (uintptr_t) cls->probe);
        rk_kpac_sign(&c->start, (uintptr_t) cls->start);
        rk_kpac_sign(&c->stop, (uintptr_t) cls->stop);
        rk_kpac_sign(&c->call, (uintptr_t) cls->call);
        img->table->n++;
        return 0;
}

int rk_kext_image_seal(rk_kext_image *img) {
        int first = 0;

        if (img->sealed)
                return 0;
        img->table->sealed = true;
        img->used_mseal = true;
        for (size_t k = 0; k < img->n_ranges; k++) {
                void *a = (void *) img->ranges[k].start;
                size_t len = img->ranges[k].end - img->ranges[k].start;
                int r = 0;
                if (mprotect(a, len, img->ranges[k].prot) < 0)
                        r = -errno;
                if (r >= 0) {
                        r = rk_mseal(a, len);
                        if (r == -ENOSYS) {
                                img->used_mseal = false; /* mprotect alone: read-only, not sealed */
                                r = 0;
                        }
                }
                if (r < 0 && first == 0)
                        first = r;
        }
        img->sealed = true;
        return first;
}

void rk_kext_image_free(rk_kext_image *img) {
        if (!img)
                return;
        /* a sealed image's mappings (code, table) stay for the process's life: only the record goes */
        if (!img->sealed && img->dl)
                dlclose(img->dl);
        if (!img->sealed && img->table)
                munmap(img->table, (size_t) page_size());
        free(img->name);
        free(img);
}

/* ---- faults and panics ---- */

static rk_kext_frame *volatile current;
static char panic_path[512], flag_path[512];
static volatile sig_atomic_t panicking;

void rk_kext_enter(rk_kext_frame *f, const char *kext, const char *what) {
        f->kext = kext;
        f->what = what;
        f->prev = current;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        current = f;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void rk_kext_leave(rk_kext_frame *f) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        current = f->prev;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* async-signal-safe string building */
typedef struct sbuf {
        char b[768];
        size_t n;
} sbuf;

static void sb_str(sbuf *s, const char *x) {
        while (x && *x && s->n < sizeof(s->b) - 1)
                s->b[s->n++] = *x++;
}

static void sb_hex(sbuf *s, uintptr_t v) {
        char t[2 + 16];
        int n = 0;
        sb_str(s, "0x");
        do {
                t[n++] = "0123456789abcdef"[v & 15];
                v >>= 4;
        } while (v && n < 16);
        while (n && s->n < sizeof(s->b) - 1)
                s->b[s->n++] = t[--n];
}

static void write_all(int fd, const char *b, size_t n) {
        while (n) {
                ssize_t w = write(fd, b, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                b += w;
                n -= (size_t) w;
        }
}

static void report(const char *kext, const char *what, const char *reason, uintptr_t addr, bool has_addr) {
        sbuf s = { .n = 0 };
        int fd;

        sb_str(&s, "ringd: kext panic: ");
        sb_str(&s, kext ? kext : "?");
        sb_str(&s, ": ");
        sb_str(&s, reason);
        if (has_addr) {
                sb_str(&s, " at ");
                sb_hex(&s, addr);
        }
        sb_str(&s, " in ");
        sb_str(&s, what ? what : "?");
        sb_str(&s, "; ringd stops, and the next start is in safe mode (no third-party kexts until `ringctl safe-mode clear`)\n");
        write_all(2, s.b, s.n);
        if (panic_path[0] && (fd = open(panic_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
                write_all(fd, s.b, s.n);
                close(fd);
        }
        if (flag_path[0] && (fd = open(flag_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
                write_all(fd, s.b + 19, s.n - 19); /* without "ringd: kext panic: " */
                fsync(fd);
                close(fd);
        }
}

_Noreturn void rk_kext_panic(const char *kext, const char *what, const char *reason) {
        struct sigaction sa = { .sa_handler = SIG_DFL };

        panicking = 1;
        report(kext, what, reason, 0, false);
        sigaction(SIGABRT, &sa, NULL);
        abort();
}

static const char *sig_reason(int sig) {
        switch (sig) {
        case SIGSEGV: return "SIGSEGV (invalid memory access)";
        case SIGBUS: return "SIGBUS (bus error)";
        case SIGILL: return "SIGILL (illegal instruction)";
        case SIGFPE: return "SIGFPE (arithmetic fault)";
        case SIGABRT: return "SIGABRT (abort)";
        default: return "fatal signal";
        }
}

static const int fault_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
static struct sigaction old_actions[sizeof(fault_sigs) / sizeof(fault_sigs[0])];
static bool handlers_installed;

static void on_fault(int sig, siginfo_t *si, void *uc) {
        rk_kext_frame *f = current;
        struct sigaction sa = { .sa_handler = SIG_DFL };

        (void) uc;
        if (f && !panicking) {
                panicking = 1;
                report(f->kext, f->what, sig_reason(sig), (uintptr_t) si->si_addr, sig != SIGABRT);
        } else {
                /* not a kext's fault: whoever handled it before us (a sanitizer, or the default) gets it */
                for (size_t k = 0; k < sizeof(fault_sigs) / sizeof(fault_sigs[0]); k++)
                        if (fault_sigs[k] == sig)
                                sa = old_actions[k];
        }
        sigaction(sig, &sa, NULL);
        if (sig == SIGABRT)
                raise(sig);
        /* SIGSEGV/SIGBUS/SIGILL/SIGFPE: returning re-runs the faulting instruction under that action */
}

int rk_kext_panic_setup(const char *ppath, const char *fpath) {
        if ((ppath && strlen(ppath) >= sizeof(panic_path)) || (fpath && strlen(fpath) >= sizeof(flag_path)))
                return -ENAMETOOLONG;
        snprintf(panic_path, sizeof(panic_path), "%s", ppath ? ppath : "");
        snprintf(flag_path, sizeof(flag_path), "%s", fpath ? fpath : "");
        return 0;
}

int rk_kext_fault_handlers_install(void) {
        static char altstack[64 * 1024];
        stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
        struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };

        if (handlers_installed)
                return 0;
        if (sigaltstack(&ss, NULL) < 0)
                return -errno;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < sizeof(fault_sigs) / sizeof(fault_sigs[0]); k++)
                if (sigaction(fault_sigs[k], &sa, &old_actions[k]) < 0)
                        return -errno;
        handlers_installed = true;
        return 0;
}
