/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the kext load rules' ELF reader (rk_kext_elf_check in
 * src/rings/kext-load.c): the input is checked as an image for both host
 * machines, strict and relaxed.  It must never read outside the input;
 * an accepted image must be an ELF64 little-endian ET_DYN for that
 * machine, and a refusal must say why.
 */
#include <assert.h>
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* compiled in, so that the checker is instrumented for coverage */
#include "rings/kext-load.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const unsigned machines[] = { EM_X86_64, EM_AARCH64 };
        /* an exact-size copy, so ASan sees any read past the end */
        uint8_t *buf = malloc(size ? size : 1);

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        for (size_t m = 0; m < 2; m++)
                for (int relax = 0; relax < 2; relax++) {
                        char why[256] = "";
                        bool relaxed = false;
                        int r = rk_kext_elf_check(buf, size, machines[m], relax, why, sizeof(why), &relaxed);
                        if (r == 0) {
                                uint16_t type, machine;
                                assert(size >= sizeof(Elf64_Ehdr) && buf[EI_CLASS] == ELFCLASS64);
                                memcpy(&type, buf + offsetof(Elf64_Ehdr, e_type), 2);
                                memcpy(&machine, buf + offsetof(Elf64_Ehdr, e_machine), 2);
                                assert(type == ET_DYN && machine == machines[m]);
                                assert(!relaxed || relax);
                        } else {
                                assert(r == -ENOEXEC && why[0]);
                        }
                }
        free(buf);
        return 0;
}
