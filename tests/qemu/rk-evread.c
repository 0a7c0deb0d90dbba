/* SPDX-License-Identifier: MIT */
/*
 * rk-evread: the QEMU lane's guest-side input reader.  Opens an evdev node,
 * prints "ready" once it is open (so the guest script can ask the host to
 * send keys only then), then prints one line per key event:
 *
 *   key CODE VALUE          (VALUE 1 press, 0 release, 2 repeat)
 *
 * and exits 0 after COUNT key events, 1 when TIMEOUT_MS passes first, 2 on
 * a usage or I/O error.  Plain C and libc only: it runs in the busybox
 * initramfs next to ringd.
 *
 * usage: rk-evread DEVICE COUNT TIMEOUT_MS
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
        struct input_event ev[16];
        long long deadline;
        int fd, count, seen = 0;

        if (argc != 4) {
                fprintf(stderr, "usage: %s DEVICE COUNT TIMEOUT_MS\n", argv[0]);
                return 2;
        }
        count = atoi(argv[2]);
        deadline = now_ms() + atoll(argv[3]);
        fd = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        printf("ready\n");
        fflush(stdout);
        while (seen < count) {
                long long left = deadline - now_ms();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (left <= 0)
                        break;
                if (poll(&p, 1, (int) left) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("poll");
                        return 2;
                }
                n = read(fd, ev, sizeof(ev));
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
                        return 2;
                }
                for (size_t k = 0; k < (size_t) n / sizeof(ev[0]) && seen < count; k++)
                        if (ev[k].type == EV_KEY) {
                                printf("key %u %d\n", ev[k].code, ev[k].value);
                                seen++;
                        }
                fflush(stdout);
        }
        close(fd);
        return seen >= count ? 0 : 1;
}
