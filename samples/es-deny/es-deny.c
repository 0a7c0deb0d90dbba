/* SPDX-License-Identifier: MIT */
/*
 * es-deny: a sample endpoint security system extension.  It denies the exec
 * of every path given on the command line (exact paths, or prefixes ending
 * in '/'), allows everything else with cache=true, and logs each decision
 * and each NOTIFY_EXEC to standard output.
 *
 * Ship it as Contents/MacOS/es-deny of an org.example.es-deny.systemextension
 * signed with com.apple.developer.endpoint-security.client, inside an app,
 * its paths in the Info.plist (RKArguments: an array of strings, signed with
 * the bundle); activate and approve it: ringd runs it, supervised, and
 * hands it its client connection (docs/system-extensions.md).  An
 * administrator can also run the store copy by hand, as root:
 *
 *     es-deny /usr/local/bin/forbidden /tmp/quarantine/
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringkit/es.h>

static char **deny_list;
static int n_deny;

static bool denied(const char *path) {
        for (int k = 0; k < n_deny; k++) {
                size_t n = strlen(deny_list[k]);
                if (n && deny_list[k][n - 1] == '/' ? strncmp(path, deny_list[k], n) == 0 : strcmp(path, deny_list[k]) == 0)
                        return true;
        }
        return false;
}

static void on_event(rk_es_client *c, const rk_es_message *m, void *ud) {
        const char *target = m->target.path ? m->target.path : "?";

        if (m->type == RK_ES_EVENT_TYPE_AUTH_EXEC) {
                bool deny = denied(target);
                rk_es_respond_auth_result(c, m, deny ? RK_ES_AUTH_RESULT_DENY : RK_ES_AUTH_RESULT_ALLOW, true);
                printf("%s exec %s by pid %d (%s)%s%s\n", deny ? "DENY " : "allow", target, (int) m->process.pid,
                       m->process.executable, m->target.signing.is_signed ? " signed by " : "",
                       m->target.signing.is_signed ? m->target.signing.team_id : "");
        } else if (m->type == RK_ES_EVENT_TYPE_NOTIFY_EXEC)
                printf("exec  %s by pid %d (ppid %d, uid %u)\n", target, (int) m->process.pid, (int) m->process.ppid,
                       (unsigned) m->process.uid);
        fflush(stdout);
}

int main(int argc, char **argv) {
        rk_es_event_type events[] = { RK_ES_EVENT_TYPE_AUTH_EXEC, RK_ES_EVENT_TYPE_NOTIFY_EXEC };
        rk_es_client *c = NULL;
        char *why = NULL;
        int r;

        deny_list = argv + 1;
        n_deny = argc - 1;
        r = rk_es_new_client(&c, NULL, on_event, NULL, &why);
        if (r < 0) {
                fprintf(stderr, "es-deny: no endpoint security client: %s%s%s\n", strerror(-r), why ? ": " : "",
                        why ? why : "");
                free(why);
                return 1;
        }
        if ((r = rk_es_subscribe(c, events, 2)) < 0) {
                fprintf(stderr, "es-deny: subscribe: %s\n", strerror(-r));
                rk_es_client_free(c);
                return 1;
        }
        r = rk_es_client_run(c, -1);
        rk_es_client_free(c);
        return r == -ECONNRESET ? 0 : 1;
}
