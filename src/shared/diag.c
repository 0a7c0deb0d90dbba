/* SPDX-License-Identifier: MIT */
/* Diagnostics list; see diag.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "shared/diag.h"

void rk_diag_init(rk_diag *d) {
        memset(d, 0, sizeof(*d));
}

static void item_done(rk_diag_item *it) {
        free(it->file);
        free(it->bundle);
        free(it->personality);
        free(it->key);
        free(it->message);
}

void rk_diag_done(rk_diag *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                item_done(&d->items[i]);
        free(d->items);
        memset(d, 0, sizeof(*d));
}

static char *dup_or_null(const char *s, bool *oom) {
        char *p;
        if (!s)
                return NULL;
        p = strdup(s);
        if (!p)
                *oom = true;
        return p;
}

int rk_diag_add(rk_diag *d, rk_diag_level level, const rk_where *w, const char *fmt, ...) {
        rk_diag_item it = { .level = level };
        bool oom = false;
        va_list ap;
        int r;

        if (!d)
                return 0;
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 8;
                rk_diag_item *items = realloc(d->items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                d->items = items;
                d->cap = cap;
        }
        if (w) {
                it.file = dup_or_null(w->file, &oom);
                it.bundle = dup_or_null(w->bundle, &oom);
                it.personality = dup_or_null(w->personality, &oom);
                it.key = dup_or_null(w->key, &oom);
                it.line = w->line;
                it.column = w->column;
        }
        va_start(ap, fmt);
        r = vasprintf(&it.message, fmt, ap);
        va_end(ap);
        if (r < 0) {
                it.message = NULL;
                oom = true;
        }
        if (oom) {
                item_done(&it);
                return -ENOMEM;
        }
        d->items[d->n++] = it;
        return 0;
}

size_t rk_diag_count(const rk_diag *d, rk_diag_level level) {
        size_t n = 0;
        if (!d)
                return 0;
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].level == level)
                        n++;
        return n;
}

const char *rk_diag_level_name(rk_diag_level l) {
        switch (l) {
        case RK_DIAG_ERROR:
                return "error";
        case RK_DIAG_WARNING:
                return "warning";
        default:
                return "note";
        }
}

void rk_diag_item_print(const rk_diag_item *it, FILE *f) {
        if (it->file) {
                fputs(it->file, f);
                if (it->line > 0) {
                        fprintf(f, ":%d", it->line);
                        if (it->column > 0)
                                fprintf(f, ":%d", it->column);
                }
                fputs(": ", f);
        }
        fprintf(f, "%s: ", rk_diag_level_name(it->level));
        if (it->bundle)
                fprintf(f, "bundle %s: ", it->bundle);
        if (it->personality)
                fprintf(f, "personality '%s': ", it->personality);
        if (it->key)
                fprintf(f, "key %s: ", it->key);
        fprintf(f, "%s\n", it->message);
}

void rk_diag_print(const rk_diag *d, FILE *f) {
        for (size_t i = 0; i < d->n; i++)
                rk_diag_item_print(&d->items[i], f);
}
