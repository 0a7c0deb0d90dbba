/* SPDX-License-Identifier: MIT */
/*
 * es-client: an endpoint security client for tests/test-es.sh, built on
 * libringkit-es.  Behaviour is chosen on the command line:
 *
 *   --subscribe A,B,...   event types (AUTH_EXEC, NOTIFY_CREATE, ...)
 *   --deny PATH           answer DENY to AUTH events whose target is PATH (repeatable)
 *   --sleep-ms N          wait N ms before answering each AUTH (to miss a deadline)
 *   --deadline MS         this client's AUTH deadline
 *   --no-cache            answer with cache=false
 *   --mute-pid N, --mute-exe PATH, --mute-exe-prefix P, --mute-target P
 *   --crash-after N       abort() on the Nth AUTH event, unanswered
 *   --log FILE            one line per event: TYPE key=value ...
 *   --ready FILE          created once subscribed and muted
 *   --resubscribe         subscribe, unsubscribe from everything, subscribe again (each must succeed)
 *
 * Exit: 0 when ringd closed the connection, 3 when refused (the reason on
 * stderr), 1 on other errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringkit/es.h"

static const char *deny[16];
static int n_deny;
static unsigned sleep_ms;
static bool no_cache, resubscribe;
static long crash_after = -1, n_auth;
static FILE *log_file;

static void on_event(rk_es_client *c, const rk_es_message *m, void *ud) {
        const char *t = m->target.path;

        if (log_file) {
                fprintf(log_file, "%s pid=%d ppid=%d uid=%u exe=%s target=%s target2=%s", rk_es_event_type_name(m->type),
                        (int) m->process.pid, (int) m->process.ppid, (unsigned) m->process.uid, m->process.executable,
                        t ? t : "-", m->target2.path ? m->target2.path : "-");
                if (m->process.signing.is_signed)
                        fprintf(log_file, " proc_signed=%s/%s", m->process.signing.team_id, m->process.signing.signing_id);
                if (m->target.signing.is_signed)
                        fprintf(log_file, " target_signed=%s/%s", m->target.signing.team_id, m->target.signing.signing_id);
                if (m->type == RK_ES_EVENT_TYPE_NOTIFY_FORK)
                        fprintf(log_file, " child=%d", (int) m->child_pid);
                if (m->type == RK_ES_EVENT_TYPE_NOTIFY_EXIT)
                        fprintf(log_file, " status=%d", m->exit_status);
                fputc('\n', log_file);
                fflush(log_file);
        }
        if (!m->is_auth)
                return;
        if (++n_auth == crash_after)
                abort();
        if (sleep_ms) {
                struct timespec ts = { sleep_ms / 1000, (long) (sleep_ms % 1000) * 1000000L };
                nanosleep(&ts, NULL);
        }
        bool d = false;
        for (int k = 0; k < n_deny; k++)
                if (t && strcmp(t, deny[k]) == 0)
                        d = true;
        rk_es_respond_auth_result(c, m, d ? RK_ES_AUTH_RESULT_DENY : RK_ES_AUTH_RESULT_ALLOW, !no_cache);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "subscribe", required_argument, NULL, 's' }, { "deny", required_argument, NULL, 'd' },
                { "sleep-ms", required_argument, NULL, 'S' },  { "deadline", required_argument, NULL, 'D' },
                { "no-cache", no_argument, NULL, 'n' },        { "resubscribe", no_argument, NULL, 'R' },        { "mute-pid", required_argument, NULL, 'p' },
                { "mute-exe", required_argument, NULL, 'e' },  { "mute-exe-prefix", required_argument, NULL, 'E' },
                { "mute-target", required_argument, NULL, 't' }, { "crash-after", required_argument, NULL, 'c' },
                { "log", required_argument, NULL, 'l' },       { "ready", required_argument, NULL, 'r' },
                {},
        };
        rk_es_event_type ev[RK_ES_EVENT_TYPE_LAST];
        size_t n_ev = 0;
        const char *ready = NULL;
        struct mute_arg { int kind; const char *v; } mutes[16];
        int n_mutes = 0, o, r;
        rk_es_client *c = NULL;
        unsigned deadline = 0;
        char *why = NULL;

        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (o) {
                case 's':
                        for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
                                int t = rk_es_event_type_from_name(tok);
                                if (t < 0) {
                                        fprintf(stderr, "es-client: unknown event type %s\n", tok);
                                        return 1;
                                }
                                ev[n_ev++] = (rk_es_event_type) t;
                        }
                        break;
                case 'd':
                        if (n_deny < 16)
                                deny[n_deny++] = optarg;
                        break;
                case 'S':
                        sleep_ms = (unsigned) atoi(optarg);
                        break;
                case 'D':
                        deadline = (unsigned) atoi(optarg);
                        break;
                case 'n':
                        no_cache = true;
                        break;
                case 'R':
                        resubscribe = true;
                        break;
                case 'p': case 'e': case 'E': case 't':
                        if (n_mutes < 16)
                                mutes[n_mutes++] = (struct mute_arg){ o, optarg };
                        break;
                case 'c':
                        crash_after = atol(optarg);
                        break;
                case 'l':
                        log_file = fopen(optarg, "a");
                        if (!log_file) {
                                perror(optarg);
                                return 1;
                        }
                        break;
                case 'r':
                        ready = optarg;
                        break;
                default:
                        return 1;
                }
        }
        r = rk_es_new_client(&c, NULL, on_event, NULL, &why);
        if (r < 0) {
                fprintf(stderr, "es-client: refused: %s: %s\n", strerror(-r), why ? why : "-");
                free(why);
                return r == -EPERM ? 3 : 1;
        }
        if (deadline && (r = rk_es_set_deadline(c, deadline)) < 0) {
                fprintf(stderr, "es-client: deadline: %s\n", strerror(-r));
                return 1;
        }
        for (int k = 0; k < n_mutes; k++) {
                switch (mutes[k].kind) {
                case 'p': r = rk_es_mute_process(c, (pid_t) atoi(mutes[k].v)); break;
                case 'e': r = rk_es_mute_path(c, mutes[k].v, RK_ES_MUTE_PATH_TYPE_LITERAL); break;
                case 'E': r = rk_es_mute_path(c, mutes[k].v, RK_ES_MUTE_PATH_TYPE_PREFIX); break;
                default: r = rk_es_mute_path(c, mutes[k].v, RK_ES_MUTE_PATH_TYPE_TARGET_PREFIX); break;
                }
                if (r < 0) {
                        fprintf(stderr, "es-client: mute %s: %s\n", mutes[k].v, strerror(-r));
                        return 1;
                }
        }
        if (n_ev && resubscribe && ((r = rk_es_subscribe(c, ev, n_ev)) < 0 || (r = rk_es_unsubscribe_all(c)) < 0)) {
                fprintf(stderr, "es-client: subscribe, then unsubscribe all: %s\n", strerror(-r));
                return 1;
        }
        if (n_ev && (r = rk_es_subscribe(c, ev, n_ev)) < 0) {
                fprintf(stderr, "es-client: subscribe: %s\n", strerror(-r));
                return 1;
        }
        if (ready) {
                FILE *f = fopen(ready, "w");
                if (f)
                        fclose(f);
        }
        r = rk_es_client_run(c, -1);
        rk_es_client_free(c);
        return r == -ECONNRESET ? 0 : 1;
}
