/* SPDX-License-Identifier: MIT */
/*
 * test-dext: a driver whose behaviour the test personality chooses, for
 * ringd's integration tests.  Keys read from the personality (or provider):
 *
 *   RKTestRecord     path: append "EVENT TAG PROVIDER" lines for init, probe,
 *                    start, stop, free (O_APPEND: one line per write, so
 *                    several processes may share the file)
 *   RKTestProbe      "decline" (-ENODEV) or "fail" (-EIO)
 *   RKTestScore      integer: probe sets the score to it
 *   RKTestStart      "fail" (-EIO), "crash" (abort), "hang" (never answers),
 *                    "exit" (_exit(0) without answering)
 *   RKTestCrashAfter integer ms: abort() that long after start
 *   RKTestGarbage    true: after start, write a malformed datagram on the
 *                    ringd channel
 *   RKTestCloseChannel true: after start, close the ringd channel
 *   RKTestForks      integer: after start, fork that many sleeping children
 *   RKTestHandleRead true: at start, read 32 bytes of the provider handle and
 *                    record "handle DEV:ID BYTES" (printable bytes, rest '.'),
 *                    then try to open the provider's RKDevNode itself and
 *                    record "selfopen ERRNO-NAME" (0 when it could)
 *   RKTestOpenDevice string: at start, ask ringd for that kernel interface
 *                    (rk_driver_open_device: "uinput", "uhid") and record
 *                    "devopen NAME OK" or "devopen NAME ERRNO-NAME"
 *   RKTestUHID       string: at start, make a virtual HID keyboard of that
 *                    name through uhid (a descriptor from ringd), record
 *                    "uhid created" (or "uhid ERRNO-NAME"), then type "a"
 *                    (press, release) on it every 500 ms, 40 times
 *   RKTestDataWrite  true: at start, write and read back a file in the
 *                    bundle's data directory; record "datadir OK PATH" or
 *                    "datadir ERRNO-NAME"
 *   RKTestSandboxProbe true: at start, try what a sandboxed dext must not do
 *                    (open files and device nodes outside its sandbox, make an
 *                    inet socket, ptrace its parent, become root, fork past
 *                    its task limit, write its bundle) and log each outcome
 *                    into ringd's log: "sandbox probe: WHAT: refused (ERRNO)"
 *                    or "sandbox probe: WHAT: ALLOWED"
 *   RKTestEcho       true: at start, write "ping" to the provider handle and
 *                    read it back; sets RKTestEchoed to what came back
 *   RKTestPrint      string S: at start, write "out: S" to standard output
 *                    and then "err: S" to standard error (each flushed), and
 *                    log "log: S" (rk_driver_log), all of which ringd keeps
 *                    for `ringctl log`
 *   RKTestPublish    string: publish a nub of that class (name = class) with
 *                    RKTestLayer = this layer + 1, and a fresh socketpair
 *                    end as its handle
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/uhid.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <limits.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringkit/driver.h"

static void record(rk_driver *d, const char *event) {
        const char *path = NULL, *tag = getenv("RINGKIT_INSTANCE");
        char line[512];
        int fd, n;

        if (rk_driver_get_string(d, "RKTestRecord", &path) < 0)
                return;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        n = snprintf(line, sizeof(line), "%s %s %s %d\n", event, tag ? tag : "?", rk_driver_get_provider_name(d),
                     (int) getpid());
        if (write(fd, line, (size_t) n) < 0)
                perror("record");
        close(fd);
}

static bool is(rk_driver *d, const char *key, const char *value) {
        const char *s = NULL;
        return rk_driver_get_string(d, key, &s) == 0 && strcmp(s, value) == 0;
}

static bool flag(rk_driver *d, const char *key) {
        bool b = false;
        return rk_driver_get_bool(d, key, &b) == 0 && b;
}

static int t_init(rk_driver *d) {
        record(d, "init");
        return 0;
}

static int t_probe(rk_driver *d, int64_t *score) {
        int64_t s;

        record(d, "probe");
        if (is(d, "RKTestProbe", "decline"))
                return -ENODEV;
        if (is(d, "RKTestProbe", "fail"))
                return -EIO;
        if (rk_driver_get_integer(d, "RKTestScore", &s) == 0)
                *score = s;
        return 0;
}

static void crash_now(rk_driver *d, rk_driver_timer *t, void *ud) {
        record(d, "crash");
        abort();
}

static void echo(rk_driver *d) {
        int fd = rk_driver_get_provider_handle(d);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[16] = "";
        ssize_t n;

        if (fd < 0 || write(fd, "ping", 4) != 4 || poll(&p, 1, 2000) != 1)
                return;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n > 0) {
                buf[n] = 0;
                rk_driver_set_string(d, "RKTestEchoed", buf);
        }
}

static void record_line(rk_driver *d, const char *line) {
        const char *path = NULL;
        int fd;

        if (rk_driver_get_string(d, "RKTestRecord", &path) < 0)
                return;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        if (write(fd, line, strlen(line)) < 0)
                perror("record");
        close(fd);
}

static void handle_read(rk_driver *d) {
        int fd = rk_driver_get_provider_handle(d), self;
        const char *node = NULL;
        char buf[33] = "", line[160];
        struct stat st;
        ssize_t n = -1;

        (void) rk_driver_get_string(d, "RKDevNode", &node);
        if (fd >= 0 && fstat(fd, &st) == 0)
                n = pread(fd, buf, 32, 0);
        for (ssize_t k = 0; k < n; k++)
                if (buf[k] < 0x20 || buf[k] > 0x7e)
                        buf[k] = '.';
        buf[n > 0 ? n : 0] = 0;
        snprintf(line, sizeof(line), "handle %s %s\n", fd < 0 ? "none" : S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode) ? "dev" : "other", buf);
        record_line(d, line);
        self = node ? open(node, O_RDONLY | O_CLOEXEC) : -1;
        snprintf(line, sizeof(line), "selfopen %s\n", self >= 0 ? "0" : strerrorname_np(errno) ?: "?");
        if (self >= 0)
                close(self);
        record_line(d, line);
}

static void probe_result(rk_driver *d, const char *what, int r) {
        if (r < 0)
                rk_driver_log(d, RK_LOG_NOTICE, "sandbox probe: %s: refused (%s)", what, strerrorname_np(-r) ?: "?");
        else
                rk_driver_log(d, RK_LOG_WARNING, "sandbox probe: %s: ALLOWED", what);
}

static int try_open(const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static void sandbox_probe(rk_driver *d) {
        pid_t kids[64];
        int n = 0, r, s;

        probe_result(d, "open /etc/shadow", try_open("/etc/shadow", O_RDONLY));
        probe_result(d, "open /etc/passwd", try_open("/etc/passwd", O_RDONLY));
        probe_result(d, "create /tmp/rk-sandbox-probe", try_open("/tmp/rk-sandbox-probe", O_WRONLY | O_CREAT));
        probe_result(d, "open /dev/zero", try_open("/dev/zero", O_RDONLY));
        probe_result(d, "open /dev/kmsg", try_open("/dev/kmsg", O_RDONLY));
        s = socket(AF_INET, SOCK_STREAM, 0);
        probe_result(d, "inet socket", s < 0 ? -errno : 0);
        if (s >= 0)
                close(s);
        s = socket(AF_NETLINK, SOCK_RAW, 0);
        probe_result(d, "netlink socket", s < 0 ? -errno : 0);
        if (s >= 0)
                close(s);
        r = (int) ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
        probe_result(d, "ptrace its parent", r < 0 ? -errno : 0);
        probe_result(d, "setuid(0)", setuid(0) < 0 ? -errno : 0);
        { /* its bundle is read-only to it */
                const char *bf = NULL;
                if (rk_driver_get_string(d, "RKTestBundleFile", &bf) == 0)
                        probe_result(d, "write its bundle", try_open(bf, O_WRONLY | O_APPEND));
        }
        /* fork until refused: the task limit, not the machine, says no */
        r = 0;
        while (n < (int) (sizeof(kids) / sizeof(kids[0]))) {
                pid_t p = fork();
                if (p == 0) {
                        pause();
                        _exit(0);
                }
                if (p < 0) {
                        r = -errno;
                        break;
                }
                kids[n++] = p;
        }
        {
                char what[64];
                snprintf(what, sizeof(what), "fork past its task limit (after %d children)", n);
                probe_result(d, what, r);
        }
        for (int k = 0; k < n; k++) {
                kill(kids[k], SIGKILL);
                waitpid(kids[k], NULL, 0);
        }
}

static void data_write(rk_driver *d) {
        const char *dir = rk_driver_get_data_dir(d);
        char path[PATH_MAX], line[PATH_MAX + 32], back[16] = "";
        int fd, r = 0;

        if (!dir) {
                record_line(d, "datadir none\n");
                return;
        }
        snprintf(path, sizeof(path), "%s/note", dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, "data-ok", 7) != 7 || pread(fd, back, 7, 0) != 7 || strcmp(back, "data-ok") != 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        if (r < 0 || fd < 0)
                snprintf(line, sizeof(line), "datadir %s\n", strerrorname_np(-r) ?: "EIO");
        else
                snprintf(line, sizeof(line), "datadir OK %s\n", path);
        record_line(d, line);
}

static void open_device(rk_driver *d, const char *name) {
        char line[96];
        int fd = rk_driver_open_device(d, name);

        snprintf(line, sizeof(line), "devopen %s %s\n", name, fd >= 0 ? "OK" : strerrorname_np(-fd) ?: "?");
        record_line(d, line);
        if (fd >= 0)
                close(fd);
}

/* A boot-protocol keyboard: modifiers, reserved, six keys. */
static const uint8_t kbd_desc[] = {
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01,
        0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x06, 0x75, 0x08,
        0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00, 0xc0,
};

static int uhid_fd = -1;

static void uhid_report(const uint8_t *r8) {
        struct uhid_event ev = { .type = UHID_INPUT2 };

        ev.u.input2.size = 8;
        memcpy(ev.u.input2.data, r8, 8);
        if (write(uhid_fd, &ev, sizeof(ev)) < 0)
                perror("uhid input");
}

static void uhid_type(rk_driver *d, rk_driver_timer *t, void *ud) {
        static const uint8_t press[8] = { 0, 0, 0x04 /* a */ }, release[8] = { 0 };
        static unsigned n;

        uhid_report(press);
        uhid_report(release);
        if (n++ == 0)
                record_line(d, "uhid typed\n");
        if (n >= 40)
                rk_driver_timer_cancel(t);
}

static void make_uhid(rk_driver *d, const char *name) {
        struct uhid_event ev = { .type = UHID_CREATE2 };
        char line[96];

        uhid_fd = rk_driver_open_device(d, "uhid");
        if (uhid_fd < 0) {
                snprintf(line, sizeof(line), "uhid %s\n", strerrorname_np(-uhid_fd) ?: "?");
                record_line(d, line);
                return;
        }
        snprintf((char *) ev.u.create2.name, sizeof(ev.u.create2.name), "%s", name);
        ev.u.create2.rd_size = sizeof(kbd_desc);
        ev.u.create2.bus = BUS_VIRTUAL;
        ev.u.create2.vendor = 0x1209;
        ev.u.create2.product = 0x0001;
        memcpy(ev.u.create2.rd_data, kbd_desc, sizeof(kbd_desc));
        if (write(uhid_fd, &ev, sizeof(ev)) < 0) {
                snprintf(line, sizeof(line), "uhid %s\n", strerrorname_np(errno) ?: "?");
                record_line(d, line);
                return;
        }
        record_line(d, "uhid created\n");
        {
                rk_driver_timer *t;
                (void) rk_driver_timer_new(d, 300 * 1000, 500 * 1000, uhid_type, NULL, &t);
        }
}

static void published(rk_driver *d, int64_t id, void *ud) {
        rk_driver_set_integer(d, "RKTestPublished", id);
}

static int t_start(rk_driver *d) {
        const char *cls = NULL;
        int64_t n;

        record(d, "start");
        if (rk_driver_get_string(d, "RKTestPrint", &cls) == 0) {
                printf("out: %s\n", cls);
                fflush(stdout);
                fprintf(stderr, "err: %s\n", cls);
                fflush(stderr);
                rk_driver_log(d, RK_LOG_NOTICE, "log: %s", cls);
        }
        if (is(d, "RKTestStart", "fail"))
                return -EIO;
        if (is(d, "RKTestStart", "crash"))
                abort();
        if (is(d, "RKTestStart", "exit"))
                _exit(0);
        if (is(d, "RKTestStart", "hang"))
                for (;;)
                        pause();
        if (flag(d, "RKTestEcho"))
                echo(d);
        if (flag(d, "RKTestHandleRead"))
                handle_read(d);
        if (flag(d, "RKTestSandboxProbe"))
                sandbox_probe(d);
        if (flag(d, "RKTestDataWrite"))
                data_write(d);
        if (rk_driver_get_string(d, "RKTestOpenDevice", &cls) == 0)
                open_device(d, cls);
        if (rk_driver_get_string(d, "RKTestUHID", &cls) == 0)
                make_uhid(d, cls);
        if (rk_driver_get_string(d, "RKTestPublish", &cls) == 0) {
                rk_driver_nub *nub;
                int64_t layer = 1;
                int sv[2];
                (void) rk_driver_get_integer(d, "RKTestLayer", &layer);
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return -errno;
                if (rk_driver_nub_new(d, &cls, 1, cls, &nub) == 0) {
                        rk_driver_nub_set_integer(nub, "RKTestLayer", layer + 1);
                        rk_driver_nub_publish(nub, sv[1], published, NULL);
                }
                close(sv[1]);
                /* sv[0] stays open for the instance's life: the nub's device */
        }
        if (rk_driver_get_integer(d, "RKTestCrashAfter", &n) == 0) {
                rk_driver_timer *t;
                rk_driver_timer_new(d, (uint64_t) n * 1000, 0, crash_now, NULL, &t);
        }
        if (rk_driver_get_integer(d, "RKTestForks", &n) == 0)
                for (int64_t k = 0; k < n; k++)
                        if (fork() == 0) {
                                pause();
                                _exit(0);
                        }
        if (flag(d, "RKTestGarbage")) {
                static const char junk[] = "\x01\x02 this is not a frame";
                (void) send(3, junk, sizeof(junk), 0);
        }
        if (flag(d, "RKTestCloseChannel"))
                close(3);
        return rk_driver_register_service(d);
}

static void t_stop(rk_driver *d) {
        record(d, "stop");
}

static void t_free(rk_driver *d) {
        record(d, "free");
}

static const rk_driver_class test_class = {
        .name = "RKTestDriver", .init = t_init, .probe = t_probe, .start = t_start, .stop = t_stop, .free = t_free,
};

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &test_class };
        return rk_driver_main(argc, argv, classes, 1);
}
