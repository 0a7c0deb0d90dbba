/* SPDX-License-Identifier: MIT */
/*
 * Output logs: what the processes ringd launches -- dext instances, warm
 * spares, system extensions -- write to their standard output and error.
 * User view: docs/system-extensions.md ("Its output").
 *
 * Each launch gets a pipe (outlog_pipe()): the write end becomes the
 * child's fd 1 and fd 2, ringd keeps the read end, non-blocking, in its
 * loop.  What arrives is cut into lines and each line goes
 *
 *   - into ringd's log as "TAG: line" (TAG the instance's tag, bundle#N, or
 *     the system extension's), at most RATE_LINES a second per bundle; the
 *     rest are counted, and one line says how many were not logged when the
 *     second is over (a timer) or the pipe closes;
 *   - into the bundle's ring of the last KEEP_LINES lines, kept by bundle id
 *     for as long as ringd runs, so it outlives the process: after a crash,
 *     `ringctl log BUNDLE` (the "log" control command) shows what it printed.
 *
 * What stays true here:
 *
 *   - A kept line is at most LINE_BYTES bytes (longer ones are cut into
 *     several, never inside a UTF-8 sequence) of valid UTF-8 without control
 *     characters: C0 and C1 controls and DEL become '?', except tab; '\r' is
 *     dropped; every byte that is not part of a valid UTF-8 sequence
 *     (overlong, surrogate, beyond U+10FFFF, cut short) becomes '?'.  So a
 *     reply always encodes (the binary plist codec refuses invalid UTF-8) and
 *     JSON output is always valid.
 *   - One wake-up reads at most READ_ROUNDS * READ_CHUNK bytes of one pipe,
 *     then returns to the loop (level triggered: it comes back), so a chatty
 *     process cannot starve the loop.
 *   - A pipe record lives until its EOF or a read error: the process's exit
 *     does not end it (its last lines may still be in the pipe), and a pipe
 *     whose spawn failed just reads EOF.  outlog_done() drains and frees them
 *     all; ringd's copy of a write end never outlives the spawn.
 *   - The line numbers of a bundle count from 1 since ringd started; the
 *     newest kept line is number `total`, the oldest total - kept + 1, and
 *     line n sits in ring[(n - 1) % KEEP_LINES].
 *
 * Bundles are looked up by a linear walk: there are few (one per bundle that
 * ever ran), and a lookup happens once per pipe and per request, not per line.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "shared/macro.h"
#include "value/bplist.h"

#define LINE_BYTES 1024        /* longest kept line; longer ones are split */
#define KEEP_LINES 256         /* per bundle */
#define READ_CHUNK 4096
#define READ_ROUNDS 16         /* per wake-up */
#define DRAIN_BYTES (1 << 20)  /* outlog_done(): at most this much more per pipe */
#define RATE_LINES 100         /* into ringd's log, per bundle and second */
#define RATE_WINDOW_USEC 1000000ULL
/* a reply's lines: the message's limit, less room for the rest of the reply */
#define REPLY_BUDGET (RK_MSG_PAYLOAD_MAX - 2048)

typedef struct kept {
        uint64_t time_usec;    /* CLOCK_REALTIME, when the line was complete */
        const char *tag;       /* in the same allocation, after text */
        char text[];
} kept;

typedef struct obundle obundle;
struct obundle {
        ringd *d;
        char *id;
        kept *ring[KEEP_LINES]; /* NULL: never filled, or a line that could not be allocated */
        uint64_t total;
        /* ringd's log: RATE_LINES per window */
        uint64_t window_start;  /* CLOCK_MONOTONIC */
        unsigned logged;
        uint64_t dropped;       /* lines of this window not logged */
        char *dropped_tag;      /* the tag they came from; the bundle id when several */
        rk_source *summary;     /* fires when the window ends, to say how many */
        obundle *next;
};

typedef struct opipe opipe;
struct opipe {
        ringd *d;
        obundle *b;
        char *tag;
        int fd;
        rk_source *src;
        size_t len;             /* bytes in line */
        unsigned char seq[4];   /* a UTF-8 sequence begun, not yet complete */
        size_t n_seq, want_seq;
        bool quiet;             /* outlog_keep_message(): ringd's log has the line already */
        opipe *next;
        char line[LINE_BYTES + 1];
};

/* `ringctl log --follow`: a control client sent each new line of a bundle as an RK_CTL_EVENT */
#define MAX_FOLLOWERS 16
typedef struct follower {
        ctl_client *c;
        char *bundle;
        uint64_t missed;        /* lines its queue could not take since the last one it did */
} follower;

struct outlog_state {
        obundle *bundles;
        opipe *pipes;
        follower followers[MAX_FOLLOWERS];
        size_t n_followers;
};

int outlog_init(ringd *d) {
        d->outlog = calloc(1, sizeof(*d->outlog));
        return d->outlog ? 0 : -ENOMEM;
}

static obundle *bundle_find(ringd *d, const char *id) {
        for (obundle *b = d->outlog ? d->outlog->bundles : NULL; b; b = b->next)
                if (streq(b->id, id))
                        return b;
        return NULL;
}

static obundle *bundle_get(ringd *d, const char *id) {
        obundle *b = bundle_find(d, id);

        if (b)
                return b;
        b = calloc(1, sizeof(*b));
        if (!b || !(b->id = strdup(id)))
                return mfree(b);
        b->d = d;
        b->next = d->outlog->bundles;
        d->outlog->bundles = b;
        return b;
}

/* ---- ringd's log, rate-limited ---- */

static void summarize(obundle *b) {
        if (!b->dropped)
                return;
        log_info(b->d, "%s: %llu lines not logged (over %d a second); ringctl log %s shows the last %d lines",
                 b->dropped_tag ? b->dropped_tag : b->id, (unsigned long long) b->dropped, RATE_LINES, b->id,
                 KEEP_LINES);
        b->dropped = 0;
        b->dropped_tag = mfree(b->dropped_tag);
        if (b->summary)
                (void) rk_source_set_enabled(b->summary, RK_SOURCE_OFF);
}

static int on_summary(rk_source *s, uint64_t usec, void *ud) {
        summarize(ud);
        return 0;
}

static void log_line(obundle *b, const char *tag, const char *text) {
        uint64_t now = rk_now();

        if (now - b->window_start >= RATE_WINDOW_USEC) {
                summarize(b);
                b->window_start = now;
                b->logged = 0;
        }
        if (b->logged < RATE_LINES) {
                b->logged++;
                log_info(b->d, "%s: %s", tag, text);
                return;
        }
        if (b->dropped++ == 0) {
                uint64_t at = b->window_start + RATE_WINDOW_USEC;
                b->dropped_tag = strdup(tag);
                if (b->summary || rk_loop_add_time(b->d->loop, &b->summary, at, on_summary, b) >= 0) {
                        (void) rk_source_set_time(b->summary, at);
                        (void) rk_source_set_enabled(b->summary, RK_SOURCE_ONESHOT);
                }
        } else if (b->dropped_tag && !streq(b->dropped_tag, tag) && !streq(b->dropped_tag, b->id)) {
                free(b->dropped_tag);
                b->dropped_tag = strdup(b->id);
        }
}

/* ---- lines ---- */

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int line_value(const kept *k, rk_value **ret);

/* Line number n (just kept) to those who follow its bundle: {log, n, time_usec, tag, text, missed?}. */
static void follow_push(obundle *b, const kept *k, uint64_t n) {
        struct outlog_state *o = b->d->outlog;

        for (size_t i = 0; i < o->n_followers; i++) {
                follower *f = &o->followers[i];
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                if (!streq(f->bundle, b->id))
                        continue;
                if (line_value(k, &e) < 0 || rk_dict_set_string(e, "log", b->id) < 0 ||
                    rk_dict_set_integer(e, "n", n, false) < 0 ||
                    (f->missed && rk_dict_set_integer(e, "missed", f->missed, false) < 0) || control_event(f->c, e) < 0) {
                        f->missed++; /* a follower that does not read: its queue is full; it hears how many later */
                        continue;
                }
                f->missed = 0;
        }
}

static void keep(obundle *b, const char *tag, const char *text, size_t len) {
        size_t tl = strlen(tag);
        kept **slot = &b->ring[b->total++ % KEEP_LINES];
        kept *k;

        free(*slot);
        *slot = k = malloc(sizeof(*k) + len + 1 + tl + 1);
        if (!k)
                return; /* the number counts; the line reads as missing */
        k->time_usec = realtime_usec();
        memcpy(k->text, text, len + 1);
        memcpy(k->text + len + 1, tag, tl + 1);
        k->tag = k->text + len + 1;
        if (b->d->outlog->n_followers)
                follow_push(b, k, b->total);
}

static void end_line(opipe *p) {
        p->line[p->len] = 0;
        keep(p->b, p->tag, p->line, p->len);
        if (!p->quiet)
                log_line(p->b, p->tag, p->line);
        p->len = 0;
}

static void put(opipe *p, char c) {
        if (p->len == LINE_BYTES)
                end_line(p);
        p->line[p->len++] = c;
}

/* The range of the second byte of a sequence led by `lead` (RFC 3629's table). */
static void second_range(unsigned char lead, unsigned char *lo, unsigned char *hi) {
        *lo = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
        *hi = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
}

static void put_seq(opipe *p) {
        if (p->seq[0] == 0xc2 && p->seq[1] < 0xa0) { /* U+0080..U+009F: C1 controls */
                put(p, '?');
                return;
        }
        if (p->len + p->n_seq > LINE_BYTES)
                end_line(p);
        memcpy(p->line + p->len, p->seq, p->n_seq);
        p->len += p->n_seq;
}

static void bad_seq(opipe *p) {
        size_t n = p->n_seq;

        p->n_seq = 0;
        for (size_t k = 0; k < n; k++)
                put(p, '?');
}

static void feed(opipe *p, unsigned char c) {
        if (p->n_seq > 0) {
                unsigned char lo = 0x80, hi = 0xbf;
                if (p->n_seq == 1)
                        second_range(p->seq[0], &lo, &hi);
                if (c >= lo && c <= hi) {
                        p->seq[p->n_seq++] = c;
                        if (p->n_seq == p->want_seq) {
                                put_seq(p);
                                p->n_seq = 0;
                        }
                        return;
                }
                bad_seq(p); /* and c starts afresh */
        }
        if (c == '\n')
                end_line(p);
        else if (c == '\r')
                ; /* CRLF endings, progress bars */
        else if (c == '\t' || (c >= 0x20 && c < 0x7f))
                put(p, (char) c);
        else if (c >= 0xc2 && c <= 0xf4) {
                p->seq[0] = c;
                p->n_seq = 1;
                p->want_seq = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        } else
                put(p, '?'); /* C0 controls, DEL, continuation bytes alone, 0xc0, 0xc1, 0xf5.. */
}

/* ---- messages through a dext's channel ---- */

void outlog_keep_message(ringd *d, const char *bundle, const char *tag, const char *msg) {
        obundle *b = d->outlog && msg && *msg ? bundle_get(d, bundle) : NULL;
        opipe *p = b ? calloc(1, sizeof(*p)) : NULL;

        if (!p)
                return;
        /* cut and cleaned as a printed line is; a message that is several lines is several */
        p->d = d;
        p->b = b;
        p->tag = (char *) tag;
        p->fd = -EBADF;
        p->quiet = true;
        for (const unsigned char *c = (const unsigned char *) msg; *c; c++)
                feed(p, *c);
        if (p->n_seq)
                bad_seq(p);
        if (p->len)
                end_line(p);
        free(p);
}

/* ---- pipes ---- */

static void pipe_free(opipe *p) {
        for (opipe **q = &p->d->outlog->pipes; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        break;
                }
        rk_source_unref(p->src);
        if (p->fd >= 0)
                close(p->fd);
        free(p->tag);
        free(p);
}

/* EOF or an error: the partial last line is a line, and whatever the window held back is summed up. */
static void pipe_end(opipe *p) {
        bad_seq(p);
        if (p->len > 0)
                end_line(p);
        summarize(p->b);
        pipe_free(p);
}

/* Up to `max` bytes: 1 when more may follow, 0 at EOF or an error (then p is freed). */
static int pipe_read(opipe *p, size_t max) {
        char buf[READ_CHUNK];

        for (size_t done = 0; done < max;) {
                ssize_t n = read(p->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 1;
                if (n <= 0) {
                        if (n < 0)
                                log_debug(p->d, "%s: its output pipe: %m", p->tag);
                        pipe_end(p);
                        return 0;
                }
                for (ssize_t k = 0; k < n; k++)
                        feed(p, (unsigned char) buf[k]);
                done += (size_t) n;
        }
        return 1;
}

static int on_pipe(rk_source *s, int fd, uint32_t revents, void *ud) {
        (void) pipe_read(ud, (size_t) READ_ROUNDS * READ_CHUNK);
        return 0;
}

int outlog_pipe(ringd *d, const char *bundle, const char *tag, int *ret_child) {
        int fds[2], child, r;
        opipe *p;

        if (!d->outlog || !bundle || !tag || !ret_child)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->d = d;
        p->fd = -EBADF;
        if (!(p->b = bundle_get(d, bundle)) || !(p->tag = strdup(tag))) {
                free(p->tag);
                free(p);
                return -ENOMEM;
        }
        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        p->fd = fds[0];
        /* only ringd's end is non-blocking (a file status flag: set on one end, not the pair); the child's blocks, so
         * one that writes faster than ringd reads waits, as on a terminal, instead of failing with EAGAIN */
        if (fcntl(p->fd, F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                close(fds[1]);
                goto fail;
        }
        /* the child's end off the low numbers, or a dup2 onto itself would keep CLOEXEC */
        child = fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
        close(fds[1]);
        if (child < 0) {
                r = -errno;
                goto fail;
        }
        r = rk_loop_add_io(d->loop, &p->src, p->fd, EPOLLIN, on_pipe, p);
        if (r < 0) {
                close(child);
                goto fail;
        }
        p->next = d->outlog->pipes;
        d->outlog->pipes = p;
        *ret_child = child;
        return 0;
fail:
        if (p->fd >= 0)
                close(p->fd);
        free(p->tag);
        free(p);
        return r;
}

void outlog_done(ringd *d) {
        if (!d->outlog)
                return;
        /* the processes are gone (killed and reaped before this): what they wrote last is still in the pipes */
        while (d->outlog->pipes) {
                opipe *p = d->outlog->pipes;
                if (pipe_read(p, DRAIN_BYTES) > 0)
                        pipe_end(p); /* a grandchild that escaped may hold the write end: not waited for */
        }
        while (d->outlog->bundles) {
                obundle *b = d->outlog->bundles;
                d->outlog->bundles = b->next;
                summarize(b);
                rk_source_unref(b->summary);
                for (size_t k = 0; k < KEEP_LINES; k++)
                        free(b->ring[k]);
                free(b->dropped_tag);
                free(b->id);
                free(b);
        }
        for (size_t i = 0; i < d->outlog->n_followers; i++)
                free(d->outlog->followers[i].bundle);
        d->outlog = mfree(d->outlog);
}

/* ---- the log command ---- */

/* An upper bound of a string's size in a binary plist: ASCII as is, anything else as UTF-16 (at most 2 bytes per UTF-8 byte). */
static size_t plist_cost(const char *s) {
        size_t n = 0;
        bool ascii = true;

        for (; s[n]; n++)
                ascii &= (unsigned char) s[n] < 0x80;
        return (ascii ? n : 2 * n) + 16;
}

static int line_value(const kept *k, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
        int r;

        if ((r = rk_value_new_dict(&e)) < 0 || (r = rk_dict_set_integer(e, "time_usec", k->time_usec, false)) < 0 ||
            (r = rk_dict_set_string(e, "tag", k->tag)) < 0 || (r = rk_dict_set_string(e, "text", k->text)) < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

/* The reply with lines first..last (numbers; first > last: none). */
static int log_reply(obundle *b, uint64_t first, uint64_t last, bool more, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *m = control_ok_reply(), *a = NULL;
        int r;

        if (!m || (r = rk_value_new_array(&a)) < 0)
                return -ENOMEM;
        for (uint64_t n = first; n <= last; n++) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                const kept *k = b->ring[(n - 1) % KEEP_LINES];
                if (k && ((r = line_value(k, &e)) < 0 || (r = rk_array_append(a, e)) < 0))
                        return r;
        }
        if ((r = rk_dict_set_string(m, "bundle", b->id)) < 0 || (r = rk_dict_set_integer(m, "total", b->total, false)) < 0 ||
            (r = rk_dict_set_integer(m, "first", first <= last ? first : 0, false)) < 0 ||
            (r = rk_dict_set_bool(m, "more", more)) < 0 || (r = rk_dict_set(m, "lines", a)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/*
 * log {bundle, lines?, before?}: the bundle's kept lines, oldest first --
 * the newest `lines` of them (default: all kept), only those numbered below
 * `before` when given.  Reply: bundle, total (lines since ringd started),
 * first (the number of the first line returned, 0 when none), lines
 * [{time_usec, tag, text}], and more: true when older lines that were asked
 * for did not fit in one message (ask again with before = first).
 * -EINVAL (no bundle, a bad number), -ENOENT (nothing recorded).
 */
void outlog_cmd_log(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        const char *id = rk_dict_get_string(req, "bundle");
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        _cleanup_(freep) char *msg = NULL;
        uint64_t want = UINT64_MAX, before = UINT64_MAX, oldest, last, first, asked, budget = 0;
        obundle *b;
        int r;

        if (!id || !*id)
                return control_reply_error(c, peer, -EINVAL, "log: 'bundle' (a bundle identifier) is required");
        if ((rk_dict_get(req, "lines") && !rk_dict_get_u64(req, "lines", &want)) ||
            (rk_dict_get(req, "before") && !rk_dict_get_u64(req, "before", &before)))
                return control_reply_error(c, peer, -EINVAL, "log: 'lines' and 'before' must be non-negative integers");
        b = bundle_find(d, id);
        if (!b || b->total == 0) {
                if (asprintf(&msg, "log: nothing recorded for %s (not started since ringd started, or it printed nothing)",
                             id) < 0)
                        msg = NULL;
                return control_reply_error(c, peer, -ENOENT, msg);
        }
        oldest = b->total > KEEP_LINES ? b->total - KEEP_LINES + 1 : 1;
        last = before == 0 ? 0 : before - 1 < b->total ? before - 1 : b->total;
        first = last < oldest ? last + 1 : last - oldest + 1 > want ? last - want + 1 : oldest; /* first > last: none */
        asked = first;
        /* newest first into the budget: the rest is for another request */
        for (uint64_t n = last; n >= first && n > 0; n--) {
                const kept *k = b->ring[(n - 1) % KEEP_LINES];
                uint64_t cost = k ? plist_cost(k->text) + plist_cost(k->tag) + 48 : 0;
                if (budget + cost > REPLY_BUDGET) {
                        first = n + 1;
                        break;
                }
                budget += cost;
        }
        /* the estimate is an upper bound; checked anyway, as a reply too large would never arrive */
        for (;;) {
                _cleanup_(freep) char *buf = NULL;
                size_t len = 0;
                m = rk_value_unref(m);
                r = log_reply(b, first, last, first > asked, &m);
                if (r < 0)
                        return control_reply_error(c, peer, r, NULL);
                if ((r = rk_bplist_encode(m, &buf, &len)) < 0)
                        return control_reply_error(c, peer, r, NULL);
                if (len <= RK_MSG_PAYLOAD_MAX || first > last)
                        break;
                first += (last - first) / 2 + 1;
        }
        control_reply_fd(c, peer, m, -EBADF);
}

/*
 * log-follow {bundle}: from now on, each line the bundle's processes print
 * is sent to this client as an RK_CTL_EVENT {log: bundle, n, time_usec,
 * tag, text, missed?} (n: the line's number, as `log` counts them; missed:
 * lines its full queue could not take just before this one).  The bundle
 * need not have printed yet.  Reply: {bundle, next: the number the next
 * line will get}, so that a client can read the kept lines with `log` and
 * skip what it already has.  Until the client disconnects; one follow per
 * connection.
 */
void outlog_cmd_follow(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        struct outlog_state *o = d->outlog;
        const char *id = rk_dict_get_string(req, "bundle");
        _cleanup_(rk_value_unrefp) rk_value *m = NULL;
        const obundle *b;
        follower *f;

        if (!id || !*id)
                return control_reply_error(c, peer, -EINVAL, "log-follow: 'bundle' (a bundle identifier) is required");
        for (size_t i = 0; i < o->n_followers; i++)
                if (o->followers[i].c == c)
                        return control_reply_error(c, peer, -EALREADY, "log-follow: this connection already follows a bundle");
        if (o->n_followers >= MAX_FOLLOWERS)
                return control_reply_error(c, peer, -EBUSY, "log-follow: too many followers (16)");
        f = &o->followers[o->n_followers];
        *f = (follower){ .c = c, .bundle = strdup(id) };
        b = bundle_find(d, id);
        if (!f->bundle || !(m = control_ok_reply()) || rk_dict_set_string(m, "bundle", id) < 0 ||
            rk_dict_set_integer(m, "next", (b ? b->total : 0) + 1, false) < 0) {
                free(f->bundle);
                return control_reply_error(c, peer, -ENOMEM, NULL);
        }
        o->n_followers++;
        control_reply_fd(c, peer, m, -EBADF);
}

void outlog_client_gone(ringd *d, ctl_client *c) {
        struct outlog_state *o = d->outlog;

        for (size_t i = 0; o && i < o->n_followers;)
                if (o->followers[i].c == c) {
                        free(o->followers[i].bundle);
                        o->followers[i] = o->followers[--o->n_followers];
                } else
                        i++;
}
