/* SPDX-License-Identifier: MIT */
/*
 * Kext mechanics with the code ringd uses (src/rings/kext-load.c): the ELF
 * rules on real and handcrafted images (both machines' rules), signed
 * pointers, and sealing -- each fault checked in a child process: a write
 * to the sealed code, RELRO and class table faults; mprotect back to
 * writable and munmap fail (EPERM) where the kernel has mseal.
 *
 * TEST_KEXT is the good test kext (tests/kexts/test-kext.c), TEST_KEXT_NOCFI
 * the same without control-flow protection.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rings/kext-load.h"
#include "rings/sandbox.h"
#include "test.h"

static int host_register(rk_kext *k, const rk_kext_class *cls) {
        return rk_kext_image_add_class((rk_kext_image *) k, cls);
}
static void host_klog(rk_kext *k, int level, const char *msg) {
}
static const rk_kext_host host = {
        .abi_version = RK_KEXT_ABI_VERSION,
        .size = sizeof(rk_kext_host),
        .register_class = host_register,
        .kext_log = host_klog,
};

static uint8_t *read_file(const char *path, size_t *len) {
        struct stat st;
        uint8_t *b;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &st) < 0)
                return NULL;
        b = malloc((size_t) st.st_size);
        if (b && read(fd, b, (size_t) st.st_size) != st.st_size) {
                free(b);
                b = NULL;
        }
        close(fd);
        *len = (size_t) st.st_size;
        return b;
}

/* A minimal ELF64 shared object for `machine` with one PT_NOTE property note (FEATURE_1_AND = bits). */
static size_t handmade(uint8_t *buf, unsigned machine, uint32_t type, uint32_t bits, bool with_note) {
        Elf64_Ehdr eh = {
                .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
                .e_type = ET_DYN, .e_machine = (uint16_t) machine, .e_version = EV_CURRENT,
                .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
                .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1,
        };
        size_t note_off = sizeof(eh) + sizeof(Elf64_Phdr);
        uint32_t note[] = { 4, 16, 5, 0x00554e47 /* "GNU\0" */, type, 4, bits, 0 };
        Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = sizeof(note), .p_align = 8 };

        memcpy(buf, &eh, sizeof(eh));
        if (!with_note)
                ph.p_type = PT_NULL;
        memcpy(buf + sizeof(eh), &ph, sizeof(ph));
        memcpy(buf + note_off, note, sizeof(note));
        return note_off + sizeof(note);
}

TEST(elf_rules_real) {
        const char *good = getenv("TEST_KEXT"), *nocfi = getenv("TEST_KEXT_NOCFI");
        char why[256];
        bool relaxed;
        size_t len;
        uint8_t *b;

        ASSERT(good && nocfi);
        b = read_file(good, &len);
        ASSERT(b);
        CHECK(rk_kext_elf_check(b, len, EM_X86_64, false, why, sizeof(why), &relaxed) == 0);
        /* the same bytes against the other machine's rule */
        CHECK(rk_kext_elf_check(b, len, EM_AARCH64, false, why, sizeof(why), &relaxed) == -ENOEXEC);
        CHECK(strstr(why, "built for EM_X86_64") != NULL);
        /* truncated: every cut of the headers is refused, never read past */
        for (size_t cut = 0; cut < 1024 && cut < len; cut += 7)
                CHECK(rk_kext_elf_check(b, cut, EM_X86_64, false, why, sizeof(why), NULL) == -ENOEXEC);
        free(b);
        b = read_file(nocfi, &len);
        ASSERT(b);
        CHECK(rk_kext_elf_check(b, len, EM_X86_64, false, why, sizeof(why), &relaxed) == -ENOEXEC);
        CHECK(strstr(why, "IBT and SHSTK") != NULL && strstr(why, "-fcf-protection=full") != NULL);
        CHECK(rk_kext_elf_check(b, len, EM_X86_64, true, why, sizeof(why), &relaxed) == 0 && relaxed);
        free(b);
}

TEST(elf_rules_handmade) {
        uint8_t buf[512] = { 0 };
        char why[256];
        size_t n;

        n = handmade(buf, EM_AARCH64, 0xc0000000u, 3, true);
        CHECK(rk_kext_elf_check(buf, n, EM_AARCH64, false, why, sizeof(why), NULL) == 0);
        n = handmade(buf, EM_AARCH64, 0xc0000000u, 1, true);
        CHECK(rk_kext_elf_check(buf, n, EM_AARCH64, false, why, sizeof(why), NULL) == -ENOEXEC);
        CHECK(strstr(why, "PAC missing") != NULL);
        n = handmade(buf, EM_AARCH64, 0xc0000000u, 3, false);
        CHECK(rk_kext_elf_check(buf, n, EM_AARCH64, false, why, sizeof(why), NULL) == -ENOEXEC);
        CHECK(strstr(why, "no GNU property note") != NULL);
        n = handmade(buf, EM_X86_64, 0xc0000002u, 1, true);
        CHECK(rk_kext_elf_check(buf, n, EM_X86_64, false, why, sizeof(why), NULL) == -ENOEXEC);
        CHECK(strstr(why, "SHSTK missing") != NULL);
        n = handmade(buf, EM_X86_64, 0xc0000002u, 3, true);
        CHECK(rk_kext_elf_check(buf, n, EM_X86_64, false, why, sizeof(why), NULL) == 0);
        buf[EI_CLASS] = ELFCLASS32;
        CHECK(rk_kext_elf_check(buf, n, EM_X86_64, false, why, sizeof(why), NULL) == -ENOEXEC);
        CHECK(strstr(why, "ELFCLASS32") != NULL);
        buf[EI_CLASS] = ELFCLASS64;
        /* a note whose size runs past the segment */
        {
                uint32_t big = 0xfffffff0u;
                memcpy(buf + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 4, &big, 4);
                CHECK(rk_kext_elf_check(buf, n, EM_X86_64, false, why, sizeof(why), NULL) == -ENOEXEC);
        }
        CHECK(rk_kext_elf_check((const uint8_t *) "garbage!", 8, EM_X86_64, false, why, sizeof(why), NULL) == -ENOEXEC);
        CHECK(strstr(why, "not an ELF") != NULL);
}

TEST(pointer_auth) {
        rk_kslot a, b;
        pid_t pid;
        int st;

        ASSERT(rk_kpac_init() == 0);
        rk_kpac_sign(&a, (uintptr_t) &rk_kpac_init);
        CHECK(rk_kpac_auth(&a, "t", "a") == (uintptr_t) &rk_kpac_init);
        /* a copied slot does not authenticate at its new address, nor does a changed pointer */
        b = a;
        CHECK(rk_kpac_mac(b.ptr, &b) != b.mac);
        a.ptr += 16;
        CHECK(rk_kpac_mac(a.ptr, &a) != a.mac);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 2);
                rk_kext_panic_setup(NULL, NULL);
                rk_kext_fault_handlers_install();
                (void) rk_kpac_auth(&a, "com.test.forge", "slot"); /* panics */
                _exit(0);
        }
        ASSERT(waitpid(pid, &st, 0) == pid);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* In a child: run op; 'S' = it must die of SIGSEGV, 'E' = it must return -EPERM. */
static void expect_child(const char *name, int how, int (*op)(void *), void *arg) {
        pid_t pid = fork();
        int st;

        if (pid < 0) {
                CHECK(pid >= 0);
                return;
        }
        if (pid == 0) {
                signal(SIGSEGV, SIG_DFL);
                int r = op(arg);
                _exit(r == -EPERM ? 10 : r == 0 ? 11 : 12);
        }
        if (waitpid(pid, &st, 0) != pid) {
                CHECK(false);
                return;
        }
        if (how == 'S') {
                if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV))
                        fprintf(stderr, "%s: wanted SIGSEGV, got status %#x\n", name, st);
                CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
        } else {
                if (!(WIFEXITED(st) && WEXITSTATUS(st) == 10))
                        fprintf(stderr, "%s: wanted EPERM, got status %#x\n", name, st);
                CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 10);
        }
}

static int op_write(void *p) {
        *(volatile char *) p = 0x42;
        return 0;
}
static int op_mprotect(void *p) {
        uintptr_t a = (uintptr_t) p & ~(uintptr_t) 4095;
        return mprotect((void *) a, 4096, PROT_READ | PROT_WRITE) < 0 ? -errno : 0;
}
static int op_munmap(void *p) {
        uintptr_t a = (uintptr_t) p & ~(uintptr_t) 4095;
        return munmap((void *) a, 4096) < 0 ? -errno : 0;
}

TEST(sealing) {
        const char *good = getenv("TEST_KEXT");
        char why[256] = "";
        rk_kext_image *img = NULL;
        int (*start)(rk_kext *, const rk_kext_host *);
        bool have_mseal, relaxed;
        void *code = NULL, *relro = NULL;
        int fd, r;

        ASSERT(good);
        ASSERT(rk_kpac_init() == 0);
        fd = rk_memfd_seal_file(good);
        ASSERT(fd >= 0);
        r = rk_kext_image_load(fd, "com.test.seal", false, &img, why, sizeof(why), &relaxed);
        if (r < 0)
                fprintf(stderr, "load: %s\n", why);
        ASSERT(r == 0);
        close(fd);
        start = (int (*)(rk_kext *, const rk_kext_host *)) rk_kpac_auth(&img->table->mod_start, "t", "start");
        ASSERT(start((rk_kext *) img, &host) == 0);
        CHECK(img->table->n == 4);
        CHECK(rk_kext_image_class(img, "RKTestKextDriver") != NULL);
        ASSERT(rk_kext_image_seal(img) == 0);
        CHECK(rk_kext_image_add_class(img, &(rk_kext_class){ .name = "Late", .start = (void *) 1 }) == -EPERM);
        for (size_t k = 0; k < img->n_ranges; k++) {
                if (!code && (img->ranges[k].prot & PROT_EXEC))
                        code = (void *) img->ranges[k].start;
                if (!relro && strcmp(img->ranges[k].what, "RELRO") == 0)
                        relro = (void *) img->ranges[k].start;
        }
        ASSERT(code);
        have_mseal = img->used_mseal;
        fprintf(stderr, "sealed with %s: %zu ranges\n", have_mseal ? "mseal" : "mprotect only", img->n_ranges);
        expect_child("write to code", 'S', op_write, code);
        expect_child("write to the class table", 'S', op_write, img->table);
        if (relro)
                expect_child("write to RELRO", 'S', op_write, relro);
        if (have_mseal) {
                expect_child("mprotect code writable", 'E', op_mprotect, code);
                expect_child("mprotect table writable", 'E', op_mprotect, img->table);
                expect_child("munmap the table", 'E', op_munmap, img->table);
        } else
                fprintf(stderr, "no mseal on this kernel: mprotect-back checks skipped\n");
        /* the sealed table still reads, and its pointers still authenticate */
        CHECK(rk_kpac_auth(&rk_kext_image_class(img, "RKTestKextDriver")->start, "t", "start") != 0);
        rk_kext_image_free(img); /* sealed: stays mapped */
}
