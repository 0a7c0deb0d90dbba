/* SPDX-License-Identifier: MIT */
/*
 * ringctl match-alias: which modules a modules.alias file gives for each
 * modalias read on stdin, the way modprobe/libkmod would resolve them.
 *
 *   ringctl match-alias --aliases FILE [--json] < modaliases
 *
 * One output line per input line, in order: the modalias, then the
 * distinct module names that match it, sorted, space-separated (nothing
 * after the modalias when none matches).  With --json, one JSON object per
 * line: {"modalias": ..., "modules": [...], "aliases": [{"pattern", "module"}]}.
 * Exit status: 0 when every line was answered, 1 when the file cannot be
 * read or is malformed (the message names the file and the line), 2 for a
 * usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/alias.h"
#include "ringctl.h"
#include "shared/json.h"

static void usage(FILE *f) {
        fprintf(f, "usage: ringctl match-alias --aliases FILE [--json] < MODALIASES\n"
                   "\n"
                   "Read modaliases from stdin, one per line, and print each followed by the\n"
                   "modules whose aliases in FILE match it (libkmod's rules: shell globs,\n"
                   "'-' and '_' alike outside brackets).\n"
                   "  --aliases FILE  a modules.alias file (\"alias PATTERN MODULE\" lines)\n"
                   "  --json          one JSON object per line, with the matching patterns\n");
}

struct match {
        const char *module, *pattern;
};

struct matches {
        struct match *v;
        size_t n, cap;
        int oom;
};

static void collect(const char *module, const char *pattern, void *userdata) {
        struct matches *m = userdata;

        if (m->n == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 16;
                struct match *nv = realloc(m->v, cap * sizeof(*nv));
                if (!nv) {
                        m->oom = -ENOMEM;
                        return;
                }
                m->v = nv;
                m->cap = cap;
        }
        m->v[m->n++] = (struct match){ module, pattern };
}

static int cmp_match(const void *a, const void *b) {
        const struct match *x = a, *y = b;
        int r = strcmp(x->module, y->module);

        return r ? r : strcmp(x->pattern, y->pattern);
}

static void print_text(const char *modalias, const struct matches *m) {
        fputs(modalias, stdout);
        for (size_t i = 0; i < m->n; i++)
                if (i == 0 || strcmp(m->v[i].module, m->v[i - 1].module) != 0)
                        printf(" %s", m->v[i].module);
        putchar('\n');
}

static void print_json(const char *modalias, const struct matches *m) {
        rk_json j;

        rk_json_init(&j, stdout);
        rk_json_begin_object(&j);
        rk_json_key(&j, "modalias");
        rk_json_string(&j, modalias);
        rk_json_key(&j, "modules");
        rk_json_begin_array(&j);
        for (size_t i = 0; i < m->n; i++)
                if (i == 0 || strcmp(m->v[i].module, m->v[i - 1].module) != 0)
                        rk_json_string(&j, m->v[i].module);
        rk_json_end_array(&j);
        rk_json_key(&j, "aliases");
        rk_json_begin_array(&j);
        for (size_t i = 0; i < m->n; i++) {
                rk_json_begin_object(&j);
                rk_json_key(&j, "pattern");
                rk_json_string(&j, m->v[i].pattern);
                rk_json_key(&j, "module");
                rk_json_string(&j, m->v[i].module);
                rk_json_end_object(&j);
        }
        rk_json_end_array(&j);
        rk_json_end_object(&j); /* ends the line */
}

static int load(const char *path, rk_alias_index **idx) {
        unsigned line = 0;
        int r = rk_alias_index_new_from_file(path, idx, &line);

        if (r == -EBADMSG)
                fprintf(stderr, "ringctl match-alias: %s:%u: malformed line, expected 'alias PATTERN MODULE'\n", path,
                        line);
        else if (r < 0)
                fprintf(stderr, "ringctl match-alias: %s: %s\n", path, strerror(-r));
        return r;
}

int cmd_match_alias(int argc, char **argv) {
        static const struct option opts[] = {
                { "aliases", required_argument, NULL, 'a' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        rk_alias_index *idx = NULL;
        struct matches m = { 0 };
        const char *file = NULL;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        bool json = false;
        int c, r, rc = RK_EXIT_FAIL;

        optind = 0;
        while ((c = getopt_long(argc, argv, "a:jh", opts, NULL)) >= 0) {
                switch (c) {
                case 'a':
                        file = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return RK_EXIT_OK;
                default:
                        usage(stderr);
                        return RK_EXIT_USAGE;
                }
        }
        if (!file || optind < argc) {
                fprintf(stderr, "ringctl match-alias: %s\n",
                        optind < argc ? "unexpected argument (modaliases are read from stdin)"
                                      : "--aliases FILE is required");
                usage(stderr);
                return RK_EXIT_USAGE;
        }
        if (load(file, &idx) < 0)
                return RK_EXIT_FAIL;

        while ((len = getline(&line, &cap, stdin)) >= 0) {
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                m.n = 0;
                r = rk_alias_index_lookup(idx, line, collect, &m);
                if (r < 0 || m.oom) {
                        fprintf(stderr, "ringctl match-alias: %s\n", strerror(r < 0 ? -r : ENOMEM));
                        goto out;
                }
                if (m.n)
                        qsort(m.v, m.n, sizeof(*m.v), cmp_match);
                if (json)
                        print_json(line, &m);
                else
                        print_text(line, &m);
        }
        if (ferror(stdin)) {
                fprintf(stderr, "ringctl match-alias: reading stdin: %m\n");
                goto out;
        }
        if (fflush(stdout) != 0) {
                fprintf(stderr, "ringctl match-alias: writing stdout: %m\n");
                goto out;
        }
        rc = RK_EXIT_OK;
out:
        free(line);
        free(m.v);
        rk_alias_index_free(idx);
        return rc;
}
