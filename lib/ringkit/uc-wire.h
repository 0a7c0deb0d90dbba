/* SPDX-License-Identifier: MIT */
/*
 * The user-client wire: what an app (libringkit, lib/ringkit/client.c) and
 * a dext (libringdriver, lib/ringdriver/userclient.c) say to each other
 * once ringd has handed each one end of a connection.  Not installed.
 *
 * Three channels per connection, all set up through the socket:
 *
 *  1. The socket (AF_UNIX SOCK_SEQPACKET, rk_channel framing of ipc/msg.h,
 *     one fd per message).  Set-up, descriptors, async calls and their
 *     completions, large structures, and death: a closed socket is the
 *     other side gone (-ECONNRESET/-EPIPE).
 *
 *         dext                                  app
 *         ACCEPT {status} + doorbell eventfd --->        (status < 0: refused, then closed)
 *                                           <--- SHM {size} + memfd (the call page)
 *         SHM_OK {status}                   --->
 *                                           <--- MEMORY {id, size} + memfd;   MEMORY_OK {id, status} --->
 *                                           <--- MEMORY_FREE {id}
 *                                           <--- CALL (uc_call + scalars + struct)  peer = call number
 *         REPLY (uc_reply + scalars + struct) -->  peer = the call's number
 *         ASYNC_DONE (uc_reply, async_ref)  --->   later, for an async call
 *         QUEUE {qid, size} + memfd, QUEUE_EVENT {qid} + eventfd --->
 *
 *  2. The call page (struct uc_shm, a memfd the app creates and both map):
 *     one synchronous call at a time, without a system call when both sides
 *     are awake.  The app writes the request and bumps req_seq; if the
 *     dext said it sleeps (dext_sleeping), the app rings the doorbell
 *     eventfd, which the dext's event loop watches.  The dext answers and
 *     sets resp_seq = req_seq, then spins a little (adaptive, at most
 *     UC_DEXT_SPIN_USEC) for the next request before it sleeps again.  The
 *     app spins (adaptive, at most UC_APP_SPIN_USEC) for resp_seq, then
 *     sleeps on it with FUTEX_WAIT -- unless the driver is running that
 *     very request (serving == req_seq): then it is on a CPU and will
 *     answer without a wake-up, and the app spins on (at most
 *     UC_APP_BUSY_SPIN_USEC), as for a 1 MiB copy out of a memory
 *     descriptor; it then sleeps on resp_seq with FUTEX_WAIT
 *     (shared, not private: two processes), waking every UC_APP_POLL_MS to
 *     check the socket for a hang-up; the dext FUTEX_WAKEs when
 *     app_waiting is set.  Sleep flags are set, then the condition
 *     re-checked (sequentially consistent), so no wake-up is lost.
 *     Each side publishes the CPU it runs on (app_cpu, dext_cpu); when
 *     both are on the same CPU neither spins -- the other side cannot run
 *     while it does -- and each hand-off is one futex or eventfd wake-up.
 *
 *  3. Data queues (struct uc_queue_hdr + a byte ring, a memfd the dext
 *     creates): one producer (the dext), one consumer (the app).  Records
 *     are a u32 length and the bytes, padded to 8; a length of
 *     UC_QUEUE_WRAP sends the reader back to offset 0.  The producer writes
 *     the record, then publishes tail (release); the consumer reads up to
 *     tail (acquire), then publishes head.  The producer writes the
 *     eventfd only when the consumer set `waiting`: a reader that keeps up
 *     costs no system call per event.
 *
 * Every length read from the peer is checked against what arrived and
 * against the limits below before it is used.
 */
#pragma once

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UC_VERSION 1

enum {
        UC_ACCEPT = 1,
        UC_SHM = 2,
        UC_SHM_OK = 3,
        UC_CALL = 4,
        UC_REPLY = 5,
        UC_ASYNC_DONE = 6,
        UC_MEMORY = 7,
        UC_MEMORY_OK = 8,
        UC_MEMORY_FREE = 9,
        UC_QUEUE = 10,
        UC_QUEUE_EVENT = 11,
};

#define UC_SCALAR_MAX 16
#define UC_SHM_STRUCT_MAX 4096u /* structures up to this size travel in the call page */
#define UC_QUEUE_WRAP 0xffffffffu
#define UC_QUEUE_MIN 4096u
#define UC_QUEUE_MAX (64u << 20)
#define UC_MEMORY_MAX ((uint64_t) 1 << 34)
#define UC_POPULATE_MAX ((uint64_t) 64 << 20) /* descriptors up to this are mapped MAP_POPULATE on both sides */

#define UC_DEXT_SPIN_USEC 64   /* adaptive spin budgets: the most ... */
#define UC_APP_SPIN_USEC 32
#define UC_SPIN_MIN_USEC 2     /* ... and the least */
#define UC_APP_BUSY_SPIN_USEC 2000 /* the app spins on while the driver runs its request, up to this */
#define UC_APP_POLL_MS 5

struct uc_accept {
        int32_t status;
        uint32_t version;
        uint32_t n_methods;
        uint32_t reserved;
};

struct uc_status {
        uint32_t id;
        int32_t status;
};

struct uc_size {
        uint32_t id;
        uint32_t reserved;
        uint64_t size;
};

#define UC_CALL_ASYNC 0x1u
#define UC_CALL_MEMORY 0x2u

struct uc_call {
        uint32_t selector;
        uint32_t flags;
        uint32_t n_scalar_in;
        uint32_t n_scalar_out;   /* the caller's capacity */
        uint32_t struct_in_len;
        uint32_t struct_out_cap;
        uint32_t mem_id;
        uint32_t reserved;
        uint64_t mem_offset, mem_len;
        uint64_t async_ref;
};

struct uc_reply {
        int32_t status;
        uint32_t n_scalar_out;
        uint32_t struct_out_len;
        uint32_t reserved;
        uint64_t async_ref;
};

struct uc_shm {
        _Atomic uint32_t req_seq;       /* app writes: a request is ready */
        _Atomic uint32_t dext_sleeping; /* dext writes 1 before it sleeps; app clears it and rings */
        _Atomic uint32_t serving;       /* dext writes the request it is running (the app keeps spinning) */
        _Atomic uint32_t dext_cpu;      /* dext writes the CPU it serves on, + 1 (0: unknown) */
        uint8_t pad0[48];
        _Atomic uint32_t resp_seq;      /* dext writes: the answer to req_seq is ready (futex word) */
        _Atomic uint32_t app_waiting;   /* app writes 1 before FUTEX_WAIT; dext clears it and wakes */
        _Atomic uint32_t dead;          /* either side sets it when it goes */
        _Atomic uint32_t app_cpu;       /* app writes the CPU it calls from, + 1 (0: unknown) */
        uint8_t pad1[48];
        struct uc_call req;
        uint64_t scalar_in[UC_SCALAR_MAX];
        uint8_t struct_in[UC_SHM_STRUCT_MAX];
        struct uc_reply resp;
        uint64_t scalar_out[UC_SCALAR_MAX];
        uint8_t struct_out[UC_SHM_STRUCT_MAX];
};

struct uc_queue_hdr {
        _Atomic uint64_t head;          /* consumer: next byte to read (monotonic) */
        uint8_t pad0[56];
        _Atomic uint64_t tail;          /* producer: end of the last record (monotonic) */
        uint8_t pad1[56];
        _Atomic uint32_t waiting;       /* consumer sleeps on the eventfd */
        uint32_t size;                  /* ring bytes after the header page, a power of two */
        _Atomic uint64_t dropped;       /* records refused because the ring was full */
        uint8_t pad2[48];
};
#define UC_QUEUE_DATA_OFFSET 4096u

static inline uint64_t uc_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static inline void uc_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}

static inline int uc_futex_wait(_Atomic uint32_t *word, uint32_t val, int timeout_ms) {
        struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long) (timeout_ms % 1000) * 1000000L };
        long r = syscall(SYS_futex, (uint32_t *) word, FUTEX_WAIT, val, timeout_ms >= 0 ? &ts : NULL, NULL, 0);
        return r < 0 ? -errno : 0;
}

static inline void uc_futex_wake(_Atomic uint32_t *word) {
        (void) syscall(SYS_futex, (uint32_t *) word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The CPU this thread runs on, + 1 (0: unknown); vDSO, no system call. */
static inline uint32_t uc_cpu(void) {
        int c = sched_getcpu();
        return c < 0 ? 0 : (uint32_t) c + 1;
}

static inline uint32_t uc_align8(uint32_t n) {
        return (n + 7u) & ~7u;
}
