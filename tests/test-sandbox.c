/* SPDX-License-Identifier: MIT */
/*
 * Verified exec: a changed byte is refused, the memfd is sealed, the warm
 * cache hits on an unchanged file and never on a changed one.
 * Sandbox: rk_sandbox_apply() in a forked child, which tries each forbidden
 * action and each allowed one and writes "name errno" lines to a pipe; the
 * parent checks them.  Runs as root (it drops to uid RK_TEST_UID); a case is
 * skipped, saying why, only when the kernel lacks landlock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rings/sandbox.h"
#include "shared/macro.h"
#include "test.h"

#define RK_TEST_UID 61234

typedef struct fixture {
        char dir[64], bundle[96], data[96], exe[128];
        uint8_t sha[RK_SHA256_LEN];
} fixture;

static void write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (fd >= 0) {
                CHECK(write(fd, s, strlen(s)) == (ssize_t) strlen(s));
                close(fd);
        }
}

static void sha_of(const char *s, uint8_t out[RK_SHA256_LEN]) {
        EVP_Digest(s, strlen(s), out, NULL, EVP_sha256(), NULL);
}

static bool fixture_init(fixture *f) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/rk-sandbox-XXXXXX");
        if (!mkdtemp(f->dir))
                return false;
        chmod(f->dir, 0755);
        snprintf(f->bundle, sizeof(f->bundle), "%s/bundle", f->dir);
        snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
        snprintf(f->exe, sizeof(f->exe), "%s/bundle/driver", f->dir);
        if (mkdir(f->bundle, 0755) < 0 || mkdir(f->data, 0700) < 0)
                return false;
        if (chown(f->data, RK_TEST_UID, RK_TEST_UID) < 0)
                return false;
        write_file(f->exe, "#!/bin/true\nthe verified bytes\n");
        sha_of("#!/bin/true\nthe verified bytes\n", f->sha);
        return true;
}

static void fixture_done(fixture *f) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        CHECK(system(cmd) == 0);
}

TEST(sha256_hex) {
        uint8_t b[RK_SHA256_LEN];
        CHECK_INTEQ(rk_sha256_from_hex("00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", b), 0);
        CHECK(b[1] == 0x11 && b[31] == 0xff);
        CHECK_INTEQ(rk_sha256_from_hex("0011", b), -EINVAL);
        CHECK_INTEQ(rk_sha256_from_hex("zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", b), -EINVAL);
}

TEST(verified_exec_sealed) {
        fixture f;
        rk_diag d;
        int fd = -1;
        char buf[64] = { 0 };

        ASSERT(fixture_init(&f));
        rk_diag_init(&d);
        CHECK_INTEQ(rk_verified_exec_prepare(f.exe, f.sha, &fd, &d), 0);
        ASSERT(fd >= 0);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK_INTEQ(pread(fd, buf, sizeof(buf) - 1, 0), 31);
        CHECK_STREQ(buf, "#!/bin/true\nthe verified bytes\n");
        CHECK_INTEQ(rk_memfd_check_sealed(fd), 0);
        /* write, grow, shrink, shared writable map, removing seals: all refused */
        errno = 0;
        CHECK(pwrite(fd, "X", 1, 0) < 0 && errno == EPERM);
        errno = 0;
        CHECK(pwrite(fd, "X", 1, 31) < 0 && errno == EPERM);
        errno = 0;
        CHECK(ftruncate(fd, 100) < 0 && errno == EPERM);
        errno = 0;
        CHECK(ftruncate(fd, 3) < 0 && errno == EPERM);
        errno = 0;
        CHECK(mmap(NULL, 31, PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EPERM);
        errno = 0;
        CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0 && errno == EPERM);
        close(fd);
        rk_diag_done(&d);
        fixture_done(&f);
}

TEST(verified_exec_changed_byte) {
        fixture f;
        rk_diag d;
        int fd = -1;

        ASSERT(fixture_init(&f));
        rk_diag_init(&d);
        write_file(f.exe, "#!/bin/true\nthe verified bytez\n");
        CHECK_INTEQ(rk_verified_exec_prepare(f.exe, f.sha, &fd, &d), -EBADMSG);
        CHECK_INTEQ(fd, -1);
        ASSERT(d.n == 1);
        CHECK(strstr(d.items[0].message, "changed on disk after activation") != NULL);
        CHECK_STREQ(d.items[0].file, f.exe);
        rk_diag_done(&d);
        fixture_done(&f);
}

TEST(verified_exec_refuses) {
        fixture f;
        char link[128];
        int fd = -1;

        ASSERT(fixture_init(&f));
        snprintf(link, sizeof(link), "%s/link", f.dir);
        CHECK(symlink(f.exe, link) == 0);
        CHECK_INTEQ(rk_verified_exec_prepare(link, f.sha, &fd, NULL), -ELOOP);
        CHECK_INTEQ(rk_verified_exec_prepare(f.bundle, f.sha, &fd, NULL), -ENOEXEC);
        CHECK_INTEQ(rk_verified_exec_prepare(NULL, f.sha, &fd, NULL), -EINVAL);
        CHECK_INTEQ(fd, -1);
        fixture_done(&f);
}

/* ctime cannot be set from user space: wait until the file is old enough for the cache. */
static void age_ctime(const char *path) {
        struct stat st;
        struct timespec now;
        if (stat(path, &st) < 0)
                return;
        for (;;) {
                clock_gettime(CLOCK_REALTIME, &now);
                if (now.tv_sec > st.st_ctim.tv_sec + 2)
                        return;
                usleep(100 * 1000);
        }
}

TEST(verified_exec_cache) {
        _cleanup_(closep) int a = -1, b = -1, c = -1, e = -1;
        rk_vexec_cache *cache = NULL;
        unsigned hits, misses;
        uint8_t sha2[RK_SHA256_LEN];
        fixture f;

        ASSERT(fixture_init(&f));
        ASSERT(rk_vexec_cache_new(&cache) == 0);
        /* fresh file: ctime too recent to trust, so no entry yet */
        CHECK_INTEQ(rk_verified_exec_prepare_cached(cache, f.exe, f.sha, &a, NULL), 0);
        age_ctime(f.exe);
        CHECK_INTEQ(rk_verified_exec_prepare_cached(cache, f.exe, f.sha, &b, NULL), 0);
        CHECK_INTEQ(rk_verified_exec_prepare_cached(cache, f.exe, f.sha, &c, NULL), 0);
        rk_vexec_cache_stats(cache, &hits, &misses);
        CHECK_INTEQ(hits, 1);
        CHECK_INTEQ(misses, 2);
        CHECK_INTEQ(rk_memfd_check_sealed(c), 0);
        /* same size, one byte changed, mtime put back: ctime still gives it away */
        {
                struct stat st;
                ASSERT(stat(f.exe, &st) == 0);
                write_file(f.exe, "#!/bin/true\nthe verified bytez\n");
                struct timespec ts[2] = { st.st_atim, st.st_mtim };
                CHECK(utimensat(AT_FDCWD, f.exe, ts, 0) == 0);
        }
        CHECK_INTEQ(rk_verified_exec_prepare_cached(cache, f.exe, f.sha, &e, NULL), -EBADMSG);
        rk_vexec_cache_stats(cache, &hits, &misses);
        CHECK_INTEQ(hits, 1);
        sha_of("#!/bin/true\nthe verified bytez\n", sha2);
        CHECK_INTEQ(rk_verified_exec_prepare_cached(cache, f.exe, sha2, &e, NULL), 0);
        rk_vexec_cache_free(cache);
        fixture_done(&f);
}

/* ---- the sandbox, in a forked child ------------------------------------- */

static int try_open(const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC, 0644);
        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

static int try_socket(int family, int type) {
        int fd = socket(family, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

static int try_fork(void) {
        pid_t p = fork();
        if (p < 0)
                return errno;
        if (p == 0)
                _exit(0);
        waitpid(p, NULL, 0);
        return 0;
}

static int try_tcp(bool do_bind) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(do_bind ? 0 : 9) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return errno;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        r = do_bind ? bind(fd, (struct sockaddr *) &sa, sizeof(sa)) : connect(fd, (struct sockaddr *) &sa, sizeof(sa));
        r = r < 0 ? errno : 0;
        close(fd);
        return r;
}

#define R(name, expr) dprintf(out, "%s %d\n", name, (expr) < 0 ? errno : 0)

static void probe_all(const fixture *f, int out, int stray) {
        char p[160];

        dprintf(out, "read_bundle %d\n", try_open(f->exe, O_RDONLY));
        snprintf(p, sizeof(p), "%s/new", f->data);
        dprintf(out, "write_data %d\n", try_open(p, O_WRONLY | O_CREAT));
        snprintf(p, sizeof(p), "%s/new", f->bundle);
        dprintf(out, "write_bundle %d\n", try_open(p, O_WRONLY | O_CREAT));
        dprintf(out, "write_bundle_file %d\n", try_open(f->exe, O_WRONLY));
        dprintf(out, "open_outside %d\n", try_open("/etc/passwd", O_RDONLY));
        dprintf(out, "open_tmp %d\n", try_open("/tmp", O_RDONLY | O_DIRECTORY));
        dprintf(out, "dev_null %d\n", try_open("/dev/null", O_RDWR));
        dprintf(out, "dev_granted %d\n", try_open("/dev/full", O_RDWR));
        dprintf(out, "dev_zero %d\n", try_open("/dev/zero", O_RDWR));
        dprintf(out, "dev_kmsg %d\n", try_open("/dev/kmsg", O_RDONLY));
        dprintf(out, "socket_inet %d\n", try_socket(AF_INET, SOCK_STREAM));
        dprintf(out, "socket_inet6 %d\n", try_socket(AF_INET6, SOCK_DGRAM));
        dprintf(out, "socket_netlink %d\n", try_socket(AF_NETLINK, SOCK_RAW));
        dprintf(out, "socket_packet %d\n", try_socket(AF_PACKET, SOCK_RAW));
        dprintf(out, "socket_unix %d\n", try_socket(AF_UNIX, SOCK_STREAM));
        dprintf(out, "tcp_connect %d\n", try_tcp(false));
        dprintf(out, "tcp_bind %d\n", try_tcp(true));
        R("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
        R("ptrace_attach_parent", ptrace(PTRACE_ATTACH, getppid(), NULL, NULL));
        R("setuid_0", setuid(0));
        R("setresgid_0", setresgid(0, 0, 0));
        R("unshare_user", unshare(CLONE_NEWUSER));
        R("clone3", syscall(SYS_clone3, NULL, 0));
        R("ioctl_tiocsti", syscall(SYS_ioctl, 0, (unsigned long) TIOCSTI | (1UL << 32), "x"));
        dprintf(out, "fork %d\n", try_fork());
        R("stray_fd_closed", fcntl(stray, F_GETFD));
}

static void child(const fixture *f, bool no_network, int out, int stray) {
        const char *dev[] = { "/dev/full" };
        int keep[] = { out };
        rk_sandbox_config c = RK_SANDBOX_CONFIG_INIT;
        rk_diag d;
        int r;

        c.uid = RK_TEST_UID;
        c.gid = RK_TEST_UID;
        c.bundle = f->bundle;
        c.data = f->data;
        c.dev = dev;
        c.n_dev = 1;
        c.keep_fds = keep;
        c.n_keep_fds = 1;
        c.no_network = no_network;
        c.rlimit_nproc = 1;
        c.rlimit_nofile = 64;
        rk_diag_init(&d);
        r = rk_sandbox_apply(&c, &d);
        if (r < 0) {
                dprintf(out, "apply %d\n", -r);
                rk_diag_print(&d, stderr);
                _exit(1);
        }
        probe_all(f, out, stray);
        _exit(0);
}

/* Runs the child and returns its report (malloc'ed) or NULL. */
static char *run_child(const fixture *f, bool no_network, int *ret_status) {
        int p[2], stray = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: must be closed by the sandbox */
        static char buf[4096];
        size_t n = 0;
        ssize_t k;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0 || stray < 0)
                return NULL;
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                child(f, no_network, p[1], stray);
        }
        close(p[1]);
        close(stray);
        while (pid > 0 && (k = read(p[0], buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(p[0]);
        if (pid < 0 || waitpid(pid, ret_status, 0) < 0)
                return NULL;
        return strdup(buf);
}

static void expect(const char *report, const char *name, int want) {
        char key[64];
        const char *at;
        int got;

        snprintf(key, sizeof(key), "\n%s ", name);
        at = strncmp(report, key + 1, strlen(key + 1)) == 0 ? report - 1 : strstr(report, key);
        if (!at) {
                fprintf(stderr, "no line for %s in report:\n%s", name, report);
                rk_test_failed_flag = true;
                return;
        }
        got = atoi(at + strlen(key));
        if (got != want) {
                fprintf(stderr, "%s: errno %d (%s), wanted %d (%s)\n", name, got, strerror(got), want,
                        strerror(want));
                rk_test_failed_flag = true;
        }
}

static bool have_landlock(int min) {
        int abi = rk_sandbox_landlock_abi();
        if (abi < min) {
                printf("skip: landlock ABI %d < %d in this kernel\n", abi, min);
                return false;
        }
        if (geteuid() != 0) {
                printf("skip: needs root to drop to uid %d\n", RK_TEST_UID);
                return false;
        }
        return true;
}

TEST(sandbox_no_network) {
        _cleanup_(freep) char *rep = NULL;
        fixture f;
        int status = -1;

        if (!have_landlock(1))
                return;
        ASSERT(fixture_init(&f));
        chmod(f.bundle, 0777); /* so that only landlock can refuse the write */
        rep = run_child(&f, true, &status);
        ASSERT(rep);
        printf("%s", rep); /* one line per attempt: action errno */
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        expect(rep, "read_bundle", 0);
        expect(rep, "write_data", 0);
        expect(rep, "write_bundle", EACCES);
        expect(rep, "write_bundle_file", EACCES);
        expect(rep, "open_outside", EACCES);
        expect(rep, "open_tmp", EACCES);
        expect(rep, "dev_null", 0);
        expect(rep, "dev_granted", 0);
        expect(rep, "dev_zero", EACCES);
        expect(rep, "dev_kmsg", EACCES);
        expect(rep, "socket_inet", EPERM);
        expect(rep, "socket_inet6", EPERM);
        expect(rep, "socket_netlink", EPERM);
        expect(rep, "socket_packet", EPERM);
        expect(rep, "socket_unix", 0);
        expect(rep, "tcp_connect", EPERM);
        expect(rep, "ptrace_traceme", EPERM);
        expect(rep, "ptrace_attach_parent", EPERM);
        expect(rep, "setuid_0", EPERM);
        expect(rep, "setresgid_0", EPERM);
        expect(rep, "unshare_user", EPERM);
        expect(rep, "clone3", ENOSYS);
        expect(rep, "ioctl_tiocsti", EPERM);
        expect(rep, "fork", EAGAIN);
        expect(rep, "stray_fd_closed", EBADF);
        fixture_done(&f);
}

TEST(sandbox_landlock_tcp) {
        _cleanup_(freep) char *rep = NULL;
        fixture f;
        int status = -1;

        if (!have_landlock(4))
                return;
        ASSERT(fixture_init(&f));
        rep = run_child(&f, false, &status);
        ASSERT(rep);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        expect(rep, "socket_inet", 0);   /* seccomp lets it be made... */
        expect(rep, "tcp_connect", EACCES); /* ...landlock refuses to use it */
        expect(rep, "tcp_bind", EACCES);
        expect(rep, "open_outside", EACCES);
        fixture_done(&f);
}

TEST(sandbox_kills_dangerous) {
        rk_sandbox_config c = RK_SANDBOX_CONFIG_INIT;
        fixture f;
        int status = -1;
        pid_t pid;

        if (!have_landlock(1))
                return;
        ASSERT(fixture_init(&f));
        c.uid = c.gid = RK_TEST_UID;
        c.bundle = f.bundle;
        c.no_network = true;
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                if (rk_sandbox_apply(&c, NULL) < 0)
                        _exit(1);
                syscall(SYS_bpf, 0, NULL, 0);
                _exit(2);
        }
        ASSERT(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
        fixture_done(&f);
}

/* The filter built once and loaded from its fd behaves as the one built in place. */
TEST(sandbox_prebuilt_seccomp) {
        rk_sandbox_config c = RK_SANDBOX_CONFIG_INIT;
        int fd = -1, status = -1;
        fixture f;
        pid_t pid;

        if (!have_landlock(1))
                return;
        ASSERT(fixture_init(&f));
        c.uid = c.gid = RK_TEST_UID;
        c.bundle = f.bundle;
        c.no_network = true;
        ASSERT(rk_sandbox_seccomp_export(&c, &fd) == 0);
        CHECK(rk_memfd_check_sealed(fd) == 0);
        for (int round = 0; round < 2; round++) { /* one fd serves many launches */
                fflush(NULL);
                pid = fork();
                if (pid == 0) {
                        int s4;
                        c.seccomp_fd = fcntl(fd, F_DUPFD, 20); /* a copy, as a spawn's dup2 gives one */
                        if (rk_sandbox_apply(&c, NULL) < 0)
                                _exit(1);
                        if (fcntl(c.seccomp_fd, F_GETFD) != -1)
                                _exit(3); /* not closed after loading */
                        s4 = socket(AF_INET, SOCK_STREAM, 0);
                        if (s4 >= 0 || errno != EPERM)
                                _exit(4); /* no network: refused by the filter */
                        if (prctl(PR_GET_SECCOMP) != 2)
                                _exit(5);
                        if (round == 1)
                                syscall(SYS_bpf, 0, NULL, 0); /* killed */
                        _exit(0);
                }
                ASSERT(pid > 0 && waitpid(pid, &status, 0) == pid);
                if (round == 0)
                        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                else
                        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
        }
        /* garbage where the filter should be: refused, never loaded half */
        {
                int bad = memfd_create("bad", MFD_CLOEXEC);
                ASSERT(bad >= 0);
                ASSERT(write(bad, "\x08\0\0\0garbage!", 12) == 12);
                pid = fork();
                if (pid == 0) {
                        c.seccomp_fd = bad;
                        int r = rk_sandbox_apply(&c, NULL);
                        _exit(r < 0 && prctl(PR_GET_SECCOMP) == 0 ? 0 : 1);
                }
                ASSERT(pid > 0 && waitpid(pid, &status, 0) == pid);
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                close(bad);
        }
        close(fd);
        fixture_done(&f);
}

TEST(sandbox_refuses_root) {
        rk_sandbox_config c = RK_SANDBOX_CONFIG_INIT;
        int status = -1;
        pid_t pid;

        if (geteuid() != 0 || rk_sandbox_landlock_abi() < 1)
                return;
        c.uid = 0;
        c.gid = 0;
        pid = fork();
        if (pid == 0)
                _exit(rk_sandbox_apply(&c, NULL) == -EINVAL ? 0 : 1);
        ASSERT(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_INTEQ(rk_sandbox_apply(NULL, NULL), -EINVAL);
}

/* ---- the dependency-free SHA-256 against OpenSSL ---- */
#include <openssl/evp.h>

#include "shared/sha256.h"

static void hex32(const uint8_t *h, char *out) {
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", h[i]);
}

TEST(sha256_known_vectors) {
        uint8_t h[32];
        char x[65];
        static char million[1000000];

        rk_sha256("", 0, h);
        hex32(h, x);
        CHECK(streq(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        rk_sha256("abc", 3, h);
        hex32(h, x);
        CHECK(streq(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        rk_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
        hex32(h, x);
        CHECK(streq(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        memset(million, 'a', sizeof(million));
        rk_sha256(million, sizeof(million), h);
        hex32(h, x);
        CHECK(streq(x, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

TEST(sha256_matches_openssl_in_pieces) {
        static uint8_t buf[5000];
        unsigned seed = 12345;

        for (size_t k = 0; k < sizeof(buf); k++)
                buf[k] = (uint8_t) ((seed = seed * 1103515245u + 12345u) >> 16);
        for (size_t len = 0; len < sizeof(buf); len += 1 + len / 7) {
                uint8_t a[32], b[32];
                rk_sha256_ctx c;
                size_t at = 0, step = 1 + len % 97;

                rk_sha256_init(&c);
                while (at < len) { /* odd-sized pieces cross block boundaries */
                        size_t n = len - at < step ? len - at : step;
                        rk_sha256_update(&c, buf + at, n);
                        at += n;
                }
                rk_sha256_final(&c, a);
                EVP_Digest(buf, len, b, NULL, EVP_sha256(), NULL);
                if (memcmp(a, b, 32) != 0) {
                        fprintf(stderr, "length %zu differs\n", len);
                        CHECK(false);
                        break;
                }
        }
}
