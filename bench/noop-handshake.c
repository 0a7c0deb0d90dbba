/* SPDX-License-Identifier: MIT */
/* The baseline process for bench-ringd: one byte of handshake on fd 3, wait for the answer, exit. */
#include <unistd.h>

int main(void) {
        char c = 'h';
        if (write(3, &c, 1) != 1 || read(3, &c, 1) != 1)
                return 1;
        return 0;
}
