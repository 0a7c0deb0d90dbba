/* SPDX-License-Identifier: MIT */
/*
 * The extension activation database (API in extdb.h, user view in
 * docs/activation.md).
 *
 * State machine of one row (one version of one extension):
 *
 *     request_activation ─────┐        accept_replacement / forced request
 *     accept_replacement (old │        of an approved identifier
 *       one was waiting)      ▼                  │
 *              ┌──── activated waiting for user  │
 *         deny │          │ approve              ▼
 *              │          └──────────► activated enabled
 *              │          │                      │
 *              │          │ deactivate           │ deactivate
 *              │          ▼                      ▼
 *              │     terminating for uninstall ◄─┘
 *              │          │ finish_uninstall
 *              ▼          ▼
 *           uninstalled ◄──────── replaced ◄── (waiting|enabled) when a later
 *                   finish_uninstall             row takes its place
 *
 * Transitions and the function that performs each:
 *
 *   (new)       → waiting      rk_extdb_request_activation, rk_extdb_accept_replacement
 *   (new)       → enabled      rk_extdb_accept_replacement / forced request over an enabled row
 *   waiting     → enabled      rk_extdb_approve
 *   waiting     → uninstalled  rk_extdb_deny
 *   waiting     → terminating  rk_extdb_deactivate
 *   enabled     → terminating  rk_extdb_deactivate
 *   waiting     → replaced     rk_extdb_accept_replacement / forced request
 *   enabled     → replaced     rk_extdb_accept_replacement / forced request
 *   terminating → uninstalled  rk_extdb_finish_uninstall
 *   replaced    → uninstalled  rk_extdb_finish_uninstall
 *   any         → (deleted)    rk_extdb_reset, developer mode only
 *
 * Invariants (rk_extdb_check verifies them):
 *   1. every row's state is one of the five;
 *   2. at most one active (waiting or enabled) row per identifier, so at
 *      most one enabled version per (team, identifier);
 *   3. a replaced row's replaced_by names a later row of the same team and
 *      identifier;
 *   4. a row's history starts with (none → s), each entry starts where the
 *      previous ended, each step is in the table above, and the last ends
 *      in the row's state;
 *   5. a pending replacement names the active row of its identifier and
 *      team, and a version above it.
 *
 * Every operation is one BEGIN IMMEDIATE … COMMIT: it reads and writes
 * under the write lock, so two ringd connections cannot interleave, and
 * with WAL + synchronous=FULL a kill at any point leaves either the state
 * before the COMMIT or after it.  Timestamps are Unix seconds (real).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "catalogue/extdb.h"
#include "shared/macro.h"

struct rk_extdb {
        sqlite3 *sql;
        char *path;
};

static const char *const state_ids[_RK_EXTDB_STATE_MAX] = {
        [RK_EXTDB_WAITING_FOR_USER] = "activated_waiting_for_user",
        [RK_EXTDB_ENABLED] = "activated_enabled",
        [RK_EXTDB_TERMINATING] = "terminated_waiting_to_uninstall",
        [RK_EXTDB_UNINSTALLED] = "uninstalled",
        [RK_EXTDB_REPLACED] = "replaced",
};

static const char *const state_names[_RK_EXTDB_STATE_MAX] = {
        [RK_EXTDB_WAITING_FOR_USER] = "activated waiting for user",
        [RK_EXTDB_ENABLED] = "activated enabled",
        [RK_EXTDB_TERMINATING] = "terminating for uninstall",
        [RK_EXTDB_UNINSTALLED] = "uninstalled",
        [RK_EXTDB_REPLACED] = "replaced",
};

/* Allowed (from → to); from == -1 is creation. */
static const struct {
        int from, to;
} transitions[] = {
        { -1, RK_EXTDB_WAITING_FOR_USER },
        { -1, RK_EXTDB_ENABLED },
        { RK_EXTDB_WAITING_FOR_USER, RK_EXTDB_ENABLED },
        { RK_EXTDB_WAITING_FOR_USER, RK_EXTDB_UNINSTALLED },
        { RK_EXTDB_WAITING_FOR_USER, RK_EXTDB_TERMINATING },
        { RK_EXTDB_ENABLED, RK_EXTDB_TERMINATING },
        { RK_EXTDB_WAITING_FOR_USER, RK_EXTDB_REPLACED },
        { RK_EXTDB_ENABLED, RK_EXTDB_REPLACED },
        { RK_EXTDB_TERMINATING, RK_EXTDB_UNINSTALLED },
        { RK_EXTDB_REPLACED, RK_EXTDB_UNINSTALLED },
};

#define ACTIVE_SQL "('activated_waiting_for_user','activated_enabled')"

static const char schema_sql[] =
        "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE extensions("
        " row INTEGER PRIMARY KEY,"
        " team TEXT NOT NULL, ident TEXT NOT NULL,"
        " version TEXT NOT NULL, short_version TEXT NOT NULL,"
        " state TEXT NOT NULL CHECK(state IN ('activated_waiting_for_user','activated_enabled',"
        "  'terminated_waiting_to_uninstall','uninstalled','replaced')),"
        " app_path TEXT NOT NULL, app_ident TEXT NOT NULL, store_path TEXT NOT NULL,"
        " cdhash BLOB NOT NULL,"
        " replaced_by INTEGER REFERENCES extensions(row),"
        " created REAL NOT NULL, updated REAL NOT NULL);"
        "CREATE INDEX extensions_ident ON extensions(ident, state);"
        "CREATE TABLE history("
        " seq INTEGER PRIMARY KEY,"
        " ext INTEGER NOT NULL REFERENCES extensions(row),"
        " from_state TEXT, to_state TEXT NOT NULL, op TEXT NOT NULL, at REAL NOT NULL);"
        "CREATE INDEX history_ext ON history(ext, seq);"
        "CREATE TABLE pending("
        " ident TEXT PRIMARY KEY,"
        " team TEXT NOT NULL, version TEXT NOT NULL, short_version TEXT NOT NULL,"
        " app_path TEXT NOT NULL, app_ident TEXT NOT NULL, store_path TEXT NOT NULL,"
        " cdhash BLOB NOT NULL,"
        " replaces INTEGER NOT NULL REFERENCES extensions(row),"
        " created REAL NOT NULL);"
        "PRAGMA user_version = 1;";

const char *rk_extdb_state_id(rk_extdb_state s) {
        return s >= 0 && s < _RK_EXTDB_STATE_MAX ? state_ids[s] : NULL;
}

const char *rk_extdb_state_name(rk_extdb_state s) {
        return s >= 0 && s < _RK_EXTDB_STATE_MAX ? state_names[s] : NULL;
}

rk_extdb_state rk_extdb_state_from_id(const char *id) {
        for (int i = 0; id && i < _RK_EXTDB_STATE_MAX; i++)
                if (streq(id, state_ids[i]))
                        return i;
        return _RK_EXTDB_STATE_INVALID;
}

const char *rk_extdb_error_name(rk_extdb_error e) {
        static const char *const names[] = {
                "ok", "unknown", "missingEntitlement", "unsupportedParentBundleLocation",
                "extensionNotFound", "extensionMissingIdentifier", "duplicateExtensionIdentifer",
                "unknownExtensionCategory", "codeSignatureInvalid", "validationFailed",
                "forbiddenBySystemPolicy", "requestCanceled", "requestSuperseded",
                "authorizationRequired",
        };
        if (e == RK_EXTDB_ERR_INVALID_STATE)
                return "invalidState";
        return (unsigned) e < ELEMENTSOF(names) ? names[e] : NULL;
}

/* One dotted component, naturally: digit runs by value, the rest bytewise
 * ("1b2" < "1b10"). */
static int compare_part(const char *a, size_t na, const char *b, size_t nb) {
        size_t i = 0, j = 0;
        while (i < na && j < nb) {
                bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
                if (da && db) {
                        unsigned long long x = 0, y = 0;
                        for (; i < na && a[i] >= '0' && a[i] <= '9'; i++)
                                x = x * 10 + (unsigned) (a[i] - '0');
                        for (; j < nb && b[j] >= '0' && b[j] <= '9'; j++)
                                y = y * 10 + (unsigned) (b[j] - '0');
                        if (x != y)
                                return x < y ? -1 : 1;
                        continue;
                }
                if (a[i] != b[j])
                        return (unsigned char) a[i] < (unsigned char) b[j] ? -1 : 1;
                i++, j++;
        }
        return (na - i) == (nb - j) ? 0 : (na - i) < (nb - j) ? -1 : 1;
}

int rk_extdb_version_compare(const char *a, const char *b) {
        a = a ? a : "";
        b = b ? b : "";
        while (*a || *b) {
                size_t na = strcspn(a, "."), nb = strcspn(b, ".");
                /* a missing part counts as 0: "1.2" == "1.2.0" */
                int c = compare_part(na ? a : "0", na ? na : 1, nb ? b : "0", nb ? nb : 1);
                if (c)
                        return c;
                a += na + (a[na] == '.');
                b += nb + (b[nb] == '.');
        }
        return 0;
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int sql_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_SCHEMA:
                return -EBADMSG;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        default:
                return -EIO;
        }
}

_printf_(4, 5) static int fail(rk_extdb_result *out, int r, rk_extdb_error code, const char *fmt, ...) {
        if (out) {
                va_list ap;
                out->error = code;
                va_start(ap, fmt);
                vsnprintf(out->message, sizeof out->message, fmt, ap);
                va_end(ap);
        }
        return r;
}

static int sql_fail(rk_extdb *db, rk_extdb_result *out, int rc, const char *what) {
        return fail(out, sql_errno(rc) ?: -EIO, RK_EXTDB_ERR_UNKNOWN, "%s: %s: %s", db->path, what,
                    sqlite3_errmsg(db->sql));
}

static void result_init(rk_extdb_result *out) {
        if (out)
                *out = (rk_extdb_result){ .state = _RK_EXTDB_STATE_INVALID };
}

static void result_row(rk_extdb_result *out, int64_t row, rk_extdb_state s) {
        if (out) {
                out->row = row;
                out->state = s;
        }
}

/* Prepare and bind: 's' text (NULL → SQL NULL), 'i' int64, 'd' double,
 * 'b' blob (pointer, size_t). */
static int vprep(rk_extdb *db, sqlite3_stmt **st, const char *sql, const char *types, va_list ap) {
        int rc = sqlite3_prepare_v2(db->sql, sql, -1, st, NULL);
        for (int i = 0; rc == SQLITE_OK && types[i]; i++) {
                if (types[i] == 's')
                        rc = sqlite3_bind_text(*st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
                else if (types[i] == 'i')
                        rc = sqlite3_bind_int64(*st, i + 1, va_arg(ap, int64_t));
                else if (types[i] == 'd')
                        rc = sqlite3_bind_double(*st, i + 1, va_arg(ap, double));
                else {
                        const void *p = va_arg(ap, const void *);
                        size_t n = va_arg(ap, size_t);
                        rc = sqlite3_bind_blob(*st, i + 1, p, (int) n, SQLITE_TRANSIENT);
                }
        }
        if (rc != SQLITE_OK) {
                sqlite3_finalize(*st);
                *st = NULL;
        }
        return rc;
}

static int prep(rk_extdb *db, sqlite3_stmt **st, const char *sql, const char *types, ...) {
        va_list ap;
        va_start(ap, types);
        int rc = vprep(db, st, sql, types, ap);
        va_end(ap);
        return rc;
}

static void finalizep(sqlite3_stmt **st) {
        if (*st)
                sqlite3_finalize(*st);
}

/* Runs a statement that returns no rows; SQLite result code. */
static int exec_stmt(rk_extdb *db, const char *sql, const char *types, ...) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        va_list ap;
        va_start(ap, types);
        int rc = vprep(db, &st, sql, types, ap);
        va_end(ap);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

typedef int (*tx_fn)(rk_extdb *db, void *ctx, rk_extdb_result *out);

/* One operation, one IMMEDIATE transaction; rolled back when fn fails. */
static int in_tx(rk_extdb *db, tx_fn fn, void *ctx, rk_extdb_result *out) {
        int rc = sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sql_fail(db, out, rc, "begin");
        int r = fn(db, ctx, out);
        if (r < 0) {
                sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                r = sql_fail(db, out, rc, "commit");
                sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
        }
        return r;
}

typedef struct ext_row {
        int64_t row;
        rk_extdb_state state;
        char *team, *version;
        uint8_t *cdhash;
        size_t cdhash_len;
} ext_row;

static void ext_row_done(ext_row *r) {
        free(r->team);
        free(r->version);
        free(r->cdhash);
        *r = (ext_row){ 0 };
}

static char *col_strdup(sqlite3_stmt *st, int i) {
        const unsigned char *s = sqlite3_column_text(st, i);
        return strdup(s ? (const char *) s : "");
}

/* The active row of ident: SQLITE_ROW with r filled, SQLITE_DONE, or an error. */
static int find_active(rk_extdb *db, const char *ident, ext_row *r) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = prep(db, &st,
                      "SELECT row, state, team, version, cdhash FROM extensions"
                      " WHERE ident = ? AND state IN " ACTIVE_SQL " ORDER BY row DESC LIMIT 1",
                      "s", ident);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc;
        r->row = sqlite3_column_int64(st, 0);
        r->state = rk_extdb_state_from_id((const char *) sqlite3_column_text(st, 1));
        r->team = col_strdup(st, 2);
        r->version = col_strdup(st, 3);
        r->cdhash_len = (size_t) sqlite3_column_bytes(st, 4);
        r->cdhash = malloc(r->cdhash_len + 1);
        if (!r->team || !r->version || !r->cdhash) {
                ext_row_done(r);
                return SQLITE_NOMEM;
        }
        memcpy(r->cdhash, sqlite3_column_blob(st, 4) ?: "", r->cdhash_len);
        return SQLITE_ROW;
}

static int add_history(rk_extdb *db, int64_t row, int from, rk_extdb_state to, const char *op) {
        return exec_stmt(db, "INSERT INTO history(ext, from_state, to_state, op, at) VALUES(?,?,?,?,?)",
                         "isssd", row, from < 0 ? NULL : state_ids[from], state_ids[to], op, now());
}

static int set_state(rk_extdb *db, int64_t row, rk_extdb_state from, rk_extdb_state to, const char *op) {
        int rc = exec_stmt(db, "UPDATE extensions SET state = ?, updated = ? WHERE row = ?", "sdi",
                           state_ids[to], now(), row);
        return rc != SQLITE_OK ? rc : add_history(db, row, (int) from, to, op);
}

static int insert_row(rk_extdb *db, const rk_extdb_request *q, rk_extdb_state s, const char *op,
                      int64_t *ret) {
        double t = now();
        int rc = exec_stmt(db,
                           "INSERT INTO extensions(team, ident, version, short_version, state, app_path,"
                           " app_ident, store_path, cdhash, created, updated) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                           "ssssssssbdd", q->team, q->identifier, q->version, q->short_version ?: "",
                           state_ids[s], q->app_path, q->app_identifier ?: "", q->store_path,
                           (const void *) q->cdhash, q->cdhash_len, t, t);
        if (rc != SQLITE_OK)
                return rc;
        *ret = sqlite3_last_insert_rowid(db->sql);
        return add_history(db, *ret, -1, s, op);
}

static int drop_pending(rk_extdb *db, const char *ident) {
        return exec_stmt(db, "DELETE FROM pending WHERE ident = ?", "s", ident);
}

/* q takes old's place: old → replaced, q → enabled when old was enabled. */
static int replace_row(rk_extdb *db, const ext_row *old, const rk_extdb_request *q, const char *op,
                       rk_extdb_result *out) {
        rk_extdb_state s = old->state == RK_EXTDB_ENABLED ? RK_EXTDB_ENABLED : RK_EXTDB_WAITING_FOR_USER;
        int64_t row;
        int rc = insert_row(db, q, s, op, &row);
        if (rc == SQLITE_OK)
                rc = set_state(db, old->row, old->state, RK_EXTDB_REPLACED, op);
        if (rc == SQLITE_OK)
                rc = exec_stmt(db, "UPDATE extensions SET replaced_by = ? WHERE row = ?", "ii", row, old->row);
        if (rc == SQLITE_OK)
                rc = drop_pending(db, q->identifier);
        if (rc != SQLITE_OK)
                return sql_fail(db, out, rc, "replace");
        result_row(out, row, s);
        if (out)
                out->outcome = s == RK_EXTDB_ENABLED ? RK_EXTDB_OUTCOME_ENABLED : RK_EXTDB_OUTCOME_WAITING_FOR_USER;
        return 0;
}

static int save_pending(rk_extdb *db, const rk_extdb_request *q, int64_t replaces) {
        return exec_stmt(db,
                         "INSERT OR REPLACE INTO pending(ident, team, version, short_version, app_path,"
                         " app_ident, store_path, cdhash, replaces, created) VALUES(?,?,?,?,?,?,?,?,?,?)",
                         "sssssssbid", q->identifier, q->team, q->version, q->short_version ?: "",
                         q->app_path, q->app_identifier ?: "", q->store_path, (const void *) q->cdhash,
                         q->cdhash_len, replaces, now());
}

static int activate_new(rk_extdb *db, const rk_extdb_request *q, rk_extdb_result *out) {
        int64_t row;
        int rc = drop_pending(db, q->identifier);
        if (rc == SQLITE_OK)
                rc = insert_row(db, q, RK_EXTDB_WAITING_FOR_USER, "request_activation", &row);
        if (rc != SQLITE_OK)
                return sql_fail(db, out, rc, "insert");
        result_row(out, row, RK_EXTDB_WAITING_FOR_USER);
        if (out)
                out->outcome = RK_EXTDB_OUTCOME_WAITING_FOR_USER;
        return 0;
}

/* An active row exists for q's identifier: same, newer, older or clash. */
static int activate_over(rk_extdb *db, const rk_extdb_request *q, const ext_row *old, rk_extdb_result *out) {
        const char *id = q->identifier;
        if (!streq(old->team, q->team))
                return fail(out, -EEXIST, RK_EXTDB_ERR_DUPLICATE_EXTENSION_IDENTIFIER,
                            "%s: already activated by team %s, requested by team %s", id, old->team, q->team);
        int c = rk_extdb_version_compare(q->version, old->version);
        bool same_code = old->cdhash_len == q->cdhash_len && memcmp(old->cdhash, q->cdhash, q->cdhash_len) == 0;
        if (c == 0 && same_code) {
                result_row(out, old->row, old->state);
                if (out)
                        out->outcome = RK_EXTDB_OUTCOME_ALREADY_ACTIVE;
                return 0;
        }
        if (c == 0 && !q->force)
                return fail(out, -EEXIST, RK_EXTDB_ERR_VALIDATION_FAILED,
                            "%s: version %s is already active with other code", id, q->version);
        if (c < 0 && !q->force)
                return fail(out, -EPERM, RK_EXTDB_ERR_FORBIDDEN_BY_SYSTEM_POLICY,
                            "%s: downgrade from version %s to %s refused", id, old->version, q->version);
        if (c <= 0)
                return replace_row(db, old, q, "forced_activation", out);
        int rc = save_pending(db, q, old->row);
        if (rc != SQLITE_OK)
                return sql_fail(db, out, rc, "pending");
        result_row(out, old->row, old->state);
        if (out)
                out->outcome = RK_EXTDB_OUTCOME_REPLACEMENT_NEEDED;
        return 0;
}

static int tx_request(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        const rk_extdb_request *q = ctx;
        _cleanup_(ext_row_done) ext_row old = { 0 };
        int rc = find_active(db, q->identifier, &old);
        if (rc == SQLITE_DONE)
                return activate_new(db, q, out);
        if (rc != SQLITE_ROW)
                return sql_fail(db, out, rc, "lookup");
        return activate_over(db, q, &old, out);
}

static bool empty(const char *s) {
        return !s || !*s;
}

int rk_extdb_request_activation(rk_extdb *db, const rk_extdb_request *req, rk_extdb_result *out) {
        result_init(out);
        if (!db || !req)
                return fail(out, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "no database or request");
        if (empty(req->identifier))
                return fail(out, -EINVAL, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER,
                            "extension of %s has no identifier", req->app_path ?: "(no app)");
        if (empty(req->team) || !req->cdhash || req->cdhash_len == 0)
                return fail(out, -EINVAL, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID,
                            "%s: no team identifier or code directory hash", req->identifier);
        if (empty(req->version))
                return fail(out, -EINVAL, RK_EXTDB_ERR_VALIDATION_FAILED, "%s: no CFBundleVersion",
                            req->identifier);
        if (empty(req->app_path) || empty(req->store_path))
                return fail(out, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "%s: no app or store path", req->identifier);
        return in_tx(db, tx_request, (void *) req, out);
}

typedef struct repl_ctx {
        const char *team, *ident, *version;
        bool accept;
} repl_ctx;

typedef struct pending_row {
        char *col[6]; /* team, version, short_version, app_path, app_ident, store_path */
        uint8_t *cdhash;
        size_t cdhash_len;
} pending_row;

static void pending_row_done(pending_row *p) {
        for (size_t i = 0; i < ELEMENTSOF(p->col); i++)
                free(p->col[i]);
        free(p->cdhash);
}

static int find_pending(rk_extdb *db, const char *ident, pending_row *p) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = prep(db, &st,
                      "SELECT team, version, short_version, app_path, app_ident, store_path, cdhash"
                      " FROM pending WHERE ident = ?", "s", ident);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc;
        for (int i = 0; i < 6; i++)
                if (!(p->col[i] = col_strdup(st, i)))
                        return SQLITE_NOMEM;
        p->cdhash_len = (size_t) sqlite3_column_bytes(st, 6);
        if (!(p->cdhash = malloc(p->cdhash_len + 1)))
                return SQLITE_NOMEM;
        memcpy(p->cdhash, sqlite3_column_blob(st, 6) ?: "", p->cdhash_len);
        return SQLITE_ROW;
}

static int tx_replacement(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        const repl_ctx *c = ctx;
        _cleanup_(pending_row_done) pending_row p = { 0 };
        int rc = find_pending(db, c->ident, &p);
        if (rc == SQLITE_DONE)
                return fail(out, -ENOENT, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "%s: no replacement pending", c->ident);
        if (rc != SQLITE_ROW)
                return sql_fail(db, out, rc, "pending");
        if (!streq(p.col[0], c->team) || !streq(p.col[1], c->version))
                return fail(out, -ESTALE, RK_EXTDB_ERR_REQUEST_SUPERSEDED,
                            "%s: the pending replacement is team %s version %s, not team %s version %s",
                            c->ident, p.col[0], p.col[1], c->team, c->version);
        if (!c->accept) {
                if ((rc = drop_pending(db, c->ident)) != SQLITE_OK)
                        return sql_fail(db, out, rc, "pending");
                return fail(out, 0, RK_EXTDB_ERR_REQUEST_CANCELED, "%s: replacement by version %s refused",
                            c->ident, c->version);
        }
        rk_extdb_request q = {
                .team = p.col[0], .identifier = c->ident, .version = p.col[1], .short_version = p.col[2],
                .app_path = p.col[3], .app_identifier = p.col[4], .store_path = p.col[5],
                .cdhash = p.cdhash, .cdhash_len = p.cdhash_len,
        };
        _cleanup_(ext_row_done) ext_row old = { 0 };
        rc = find_active(db, c->ident, &old);
        if (rc == SQLITE_DONE) /* invariant 5 makes this unreachable; stay safe */
                return activate_new(db, &q, out);
        if (rc != SQLITE_ROW)
                return sql_fail(db, out, rc, "lookup");
        return replace_row(db, &old, &q, "accept_replacement", out);
}

static int replacement(rk_extdb *db, const char *team, const char *ident, const char *version, bool accept,
                       rk_extdb_result *out) {
        result_init(out);
        if (!db || empty(team) || empty(ident) || empty(version))
                return fail(out, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "replacement: missing argument");
        repl_ctx c = { team, ident, version, accept };
        return in_tx(db, tx_replacement, &c, out);
}

int rk_extdb_accept_replacement(rk_extdb *db, const char *team, const char *identifier, const char *version,
                                rk_extdb_result *out) {
        return replacement(db, team, identifier, version, true, out);
}

int rk_extdb_refuse_replacement(rk_extdb *db, const char *team, const char *identifier, const char *version,
                                rk_extdb_result *out) {
        return replacement(db, team, identifier, version, false, out);
}

typedef enum user_op { OP_APPROVE, OP_DENY, OP_DEACTIVATE } user_op;

typedef struct user_ctx {
        const char *ident;
        user_op op;
} user_ctx;

static int count_in_state(rk_extdb *db, const char *ident, rk_extdb_state s) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = prep(db, &st, "SELECT count(*) FROM extensions WHERE ident = ? AND state = ?", "ss", ident,
                      state_ids[s]);
        if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW)
                return sql_errno(rc) ?: -EIO;
        return sqlite3_column_int(st, 0);
}

static int not_active(rk_extdb *db, const user_ctx *c, rk_extdb_result *out) {
        if (c->op == OP_DEACTIVATE && count_in_state(db, c->ident, RK_EXTDB_TERMINATING) > 0)
                return fail(out, -EALREADY, RK_EXTDB_ERR_INVALID_STATE, "%s: already terminating for uninstall",
                            c->ident);
        return fail(out, -ENOENT, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "%s: no such extension is activated", c->ident);
}

static int tx_user(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        static const char *const op_names[] = { "approve", "deny", "deactivate" };
        const user_ctx *c = ctx;
        _cleanup_(ext_row_done) ext_row r = { 0 };
        int rc = find_active(db, c->ident, &r);
        if (rc == SQLITE_DONE)
                return not_active(db, c, out);
        if (rc != SQLITE_ROW)
                return sql_fail(db, out, rc, "lookup");
        result_row(out, r.row, r.state);
        rk_extdb_state to = RK_EXTDB_TERMINATING;
        if (c->op == OP_APPROVE && r.state == RK_EXTDB_ENABLED)
                return fail(out, -EALREADY, RK_EXTDB_ERR_INVALID_STATE, "%s: version %s is already enabled",
                            c->ident, r.version);
        if (c->op == OP_DENY && r.state == RK_EXTDB_ENABLED)
                return fail(out, -EBUSY, RK_EXTDB_ERR_INVALID_STATE,
                            "%s: version %s is enabled; deactivate it instead", c->ident, r.version);
        if (c->op == OP_APPROVE)
                to = RK_EXTDB_ENABLED;
        else if (c->op == OP_DENY)
                to = RK_EXTDB_UNINSTALLED;
        rc = set_state(db, r.row, r.state, to, op_names[c->op]);
        if (rc == SQLITE_OK && c->op != OP_APPROVE)
                rc = drop_pending(db, c->ident);
        if (rc != SQLITE_OK)
                return sql_fail(db, out, rc, op_names[c->op]);
        result_row(out, r.row, to);
        return 0;
}

static int user_op_run(rk_extdb *db, const char *ident, user_op op, rk_extdb_result *out) {
        result_init(out);
        if (!db || empty(ident))
                return fail(out, -EINVAL, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER, "no extension identifier");
        user_ctx c = { ident, op };
        return in_tx(db, tx_user, &c, out);
}

int rk_extdb_approve(rk_extdb *db, const char *identifier, rk_extdb_result *out) {
        return user_op_run(db, identifier, OP_APPROVE, out);
}

int rk_extdb_deny(rk_extdb *db, const char *identifier, rk_extdb_result *out) {
        return user_op_run(db, identifier, OP_DENY, out);
}

int rk_extdb_deactivate(rk_extdb *db, const char *identifier, rk_extdb_result *out) {
        return user_op_run(db, identifier, OP_DEACTIVATE, out);
}

static int tx_finish(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        const char *ident = ctx;
        int n = 0;
        for (;;) {
                _cleanup_(finalizep) sqlite3_stmt *st = NULL;
                int rc = prep(db, &st,
                              "SELECT row, state FROM extensions WHERE ident = ? AND state IN"
                              " ('terminated_waiting_to_uninstall','replaced') ORDER BY row LIMIT 1", "s", ident);
                if (rc == SQLITE_OK)
                        rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        break;
                if (rc != SQLITE_ROW)
                        return sql_fail(db, out, rc, "lookup");
                int64_t row = sqlite3_column_int64(st, 0);
                rk_extdb_state s = rk_extdb_state_from_id((const char *) sqlite3_column_text(st, 1));
                sqlite3_finalize(TAKE_PTR(st));
                rc = set_state(db, row, s, RK_EXTDB_UNINSTALLED, "finish_uninstall");
                if (rc != SQLITE_OK)
                        return sql_fail(db, out, rc, "finish_uninstall");
                result_row(out, row, RK_EXTDB_UNINSTALLED);
                n++;
        }
        if (n == 0)
                return fail(out, -ENOENT, RK_EXTDB_ERR_EXTENSION_NOT_FOUND,
                            "%s: nothing is terminating or replaced", ident);
        return n;
}

int rk_extdb_finish_uninstall(rk_extdb *db, const char *identifier, rk_extdb_result *out) {
        result_init(out);
        if (!db || empty(identifier))
                return fail(out, -EINVAL, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER, "no extension identifier");
        return in_tx(db, tx_finish, (void *) identifier, out);
}

static int read_developer_mode(rk_extdb *db) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = prep(db, &st, "SELECT value FROM settings WHERE key = 'developer_mode'", "");
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sql_errno(rc) ?: -EIO;
        return streq_ptr((const char *) sqlite3_column_text(st, 0), "1");
}

static int tx_reset(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        int dev = read_developer_mode(db);
        if (dev < 0)
                return fail(out, dev, RK_EXTDB_ERR_UNKNOWN, "%s: cannot read developer mode", db->path);
        if (!dev)
                return fail(out, -EPERM, RK_EXTDB_ERR_FORBIDDEN_BY_SYSTEM_POLICY,
                            "reset refused: developer mode is off");
        int rc = sqlite3_exec(db->sql, "DELETE FROM pending; DELETE FROM history; DELETE FROM extensions;",
                              NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sql_fail(db, out, rc, "reset");
}

int rk_extdb_reset(rk_extdb *db, rk_extdb_result *out) {
        result_init(out);
        if (!db)
                return fail(out, -EINVAL, RK_EXTDB_ERR_UNKNOWN, "no database");
        return in_tx(db, tx_reset, NULL, out);
}

static int tx_devmode(rk_extdb *db, void *ctx, rk_extdb_result *out) {
        int rc = exec_stmt(db, "INSERT OR REPLACE INTO settings(key, value) VALUES('developer_mode', ?)", "s",
                           *(bool *) ctx ? "1" : "0");
        return rc == SQLITE_OK ? 0 : sql_fail(db, out, rc, "developer mode");
}

int rk_extdb_set_developer_mode(rk_extdb *db, bool on) {
        if (!db)
                return -EINVAL;
        return in_tx(db, tx_devmode, &on, NULL);
}

int rk_extdb_get_developer_mode(rk_extdb *db) {
        if (!db)
                return -EINVAL;
        return read_developer_mode(db);
}

static int query_int(rk_extdb *db, const char *sql, int64_t *ret) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
        *ret = sqlite3_column_int64(st, 0);
        return SQLITE_OK;
}

static int open_fail(rk_extdb *db, rk_diag *diag, int r, const char *what) {
        rk_where w = { .file = db->path };
        rk_diag_add(diag, RK_DIAG_ERROR, &w, "extension database: %s: %s", what,
                    db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
        return r;
}

/* Creates the schema in a fresh file; a file with other tables is refused. */
static int create_schema(rk_extdb *db, rk_diag *diag) {
        int64_t n = 0;
        int rc = sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = query_int(db, "SELECT count(*) FROM sqlite_master", &n);
        if (rc == SQLITE_OK && n > 0) {
                sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
                rk_where w = { .file = db->path };
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "extension database: holds %" PRId64 " other objects and no schema version", n);
                return -EBADMSG;
        }
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db->sql, schema_sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int r = open_fail(db, diag, sql_errno(rc) ?: -EIO, "cannot create the schema");
                sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        return 0;
}

static void sql_version_compare(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
        sqlite3_result_int(ctx, rk_extdb_version_compare((const char *) sqlite3_value_text(argv[0]),
                                                         (const char *) sqlite3_value_text(argv[1])));
}

static int setup(rk_extdb *db, rk_diag *diag) {
        int64_t v = 0;
        int rc = sqlite3_create_function_v2(db->sql, "rk_version_compare", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                            NULL, sql_version_compare, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return open_fail(db, diag, sql_errno(rc) ?: -EIO, "cannot register functions");
        rc = query_int(db, "PRAGMA user_version", &v);
        if (rc != SQLITE_OK)
                return open_fail(db, diag, sql_errno(rc) ?: -EIO, "not a readable SQLite database");
        if (v > RK_EXTDB_SCHEMA_VERSION) {
                rk_where w = { .file = db->path };
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "extension database: schema version %" PRId64 " is newer than this ringkit's (%d)",
                            v, RK_EXTDB_SCHEMA_VERSION);
                return -EPROTONOSUPPORT;
        }
        rc = sqlite3_exec(db->sql, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                          " PRAGMA foreign_keys = ON;", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return open_fail(db, diag, sql_errno(rc) ?: -EIO, "cannot set WAL mode");
        if (v == 0)
                return create_schema(db, diag);
        return 0;
}

int rk_extdb_open(const char *path, rk_extdb **ret, rk_diag *diag) {
        if (!path || !*path || !ret)
                return -EINVAL;
        rk_extdb *db = calloc(1, sizeof *db);
        if (!db || !(db->path = strdup(path))) {
                free(db);
                return -ENOMEM;
        }
        /* SQLite's unix VFS opens every file O_CLOEXEC itself. */
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
#ifdef SQLITE_OPEN_NOFOLLOW
        flags |= SQLITE_OPEN_NOFOLLOW;
#endif
        int rc = sqlite3_open_v2(path, &db->sql, flags, NULL);
        int r = 0;
        if (rc != SQLITE_OK)
                r = open_fail(db, diag, sql_errno(rc) ?: -EIO, "cannot open");
        if (r == 0) {
                sqlite3_busy_timeout(db->sql, 5000);
                r = setup(db, diag);
        }
        if (r < 0) {
                rk_extdb_close(db);
                return r;
        }
        *ret = db;
        return 0;
}

rk_extdb *rk_extdb_close(rk_extdb *db) {
        if (!db)
                return NULL;
        sqlite3_close_v2(db->sql);
        free(db->path);
        free(db);
        return NULL;
}

#define ROW_COLUMNS                                                                          \
        "row, team, ident, version, short_version, state, app_path, app_ident, store_path," \
        " cdhash, replaced_by, created, updated"

static int dict_set_new(rk_value *d, const char *key, int r, rk_value *v) {
        if (r >= 0)
                r = rk_dict_set(d, key, v);
        rk_value_unref(v);
        return r;
}

static int row_to_dict(sqlite3_stmt *st, rk_value **ret) {
        static const char *const text_keys[] = { NULL, "team", "identifier", "version", "short_version", NULL,
                                                 "app_path", "app_identifier", "store_path" };
        _cleanup_(rk_value_unrefp) rk_value *d = NULL;
        rk_value *v = NULL;
        int r = rk_value_new_dict(&d);
        if (r >= 0)
                r = rk_dict_set_integer(d, "row", (uint64_t) sqlite3_column_int64(st, 0), true);
        for (int i = 1; r >= 0 && i < 9; i++)
                if (text_keys[i])
                        r = rk_dict_set_string(d, text_keys[i], (const char *) sqlite3_column_text(st, i) ?: "");
        rk_extdb_state s = rk_extdb_state_from_id((const char *) sqlite3_column_text(st, 5));
        if (r >= 0)
                r = rk_dict_set_string(d, "state", rk_extdb_state_name(s) ?: "invalid");
        if (r >= 0)
                r = rk_dict_set_string(d, "state_id", rk_extdb_state_id(s) ?: "invalid");
        if (r >= 0) {
                r = rk_value_new_data(sqlite3_column_blob(st, 9), (size_t) sqlite3_column_bytes(st, 9), &v);
                r = dict_set_new(d, "cdhash", r, TAKE_PTR(v));
        }
        if (r >= 0 && sqlite3_column_type(st, 10) != SQLITE_NULL)
                r = rk_dict_set_integer(d, "replaced_by", (uint64_t) sqlite3_column_int64(st, 10), true);
        for (int i = 11; r >= 0 && i < 13; i++) {
                /* plist dates count from 2001-01-01 */
                r = rk_value_new_date(sqlite3_column_double(st, i) - 978307200.0, &v);
                r = dict_set_new(d, i == 11 ? "created" : "updated", r, TAKE_PTR(v));
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

static int pending_to_dict(rk_extdb *db, const char *ident, rk_value *d) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = prep(db, &st, "SELECT version, short_version, app_path, team, store_path FROM pending WHERE ident = ?",
                      "s", ident);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sql_errno(rc) ?: -EIO;
        _cleanup_(rk_value_unrefp) rk_value *p = NULL;
        int r = rk_value_new_dict(&p);
        if (r >= 0)
                r = rk_dict_set_string(p, "version", (const char *) sqlite3_column_text(st, 0) ?: "");
        if (r >= 0)
                r = rk_dict_set_string(p, "short_version", (const char *) sqlite3_column_text(st, 1) ?: "");
        if (r >= 0)
                r = rk_dict_set_string(p, "app_path", (const char *) sqlite3_column_text(st, 2) ?: "");
        if (r >= 0)
                r = rk_dict_set_string(p, "team", (const char *) sqlite3_column_text(st, 3) ?: "");
        if (r >= 0)
                r = rk_dict_set_string(p, "store_path", (const char *) sqlite3_column_text(st, 4) ?: "");
        return r < 0 ? r : rk_dict_set(d, "pending", p);
}

/* Rows of a SELECT ROW_COLUMNS statement, pending requests attached to active rows. */
static int collect(rk_extdb *db, sqlite3_stmt *st, rk_value *arr) {
        int rc, r = 0;
        while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                _cleanup_(rk_value_unrefp) rk_value *d = NULL;
                r = row_to_dict(st, &d);
                rk_extdb_state s = rk_extdb_state_from_id((const char *) sqlite3_column_text(st, 5));
                if (r >= 0 && (s == RK_EXTDB_WAITING_FOR_USER || s == RK_EXTDB_ENABLED))
                        r = pending_to_dict(db, (const char *) sqlite3_column_text(st, 2), d);
                if (r >= 0)
                        r = rk_array_append(arr, d);
        }
        if (r < 0)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_errno(rc) ?: -EIO;
}

static int list_where(rk_extdb *db, const char *sql, const char *ident, rk_value **ret) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(rk_value_unrefp) rk_value *arr = NULL;
        int r = rk_value_new_array(&arr);
        if (r < 0)
                return r;
        int rc = sqlite3_exec(db->sql, "BEGIN", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = ident ? prep(db, &st, sql, "s", ident) : prep(db, &st, sql, "");
        r = rc == SQLITE_OK ? collect(db, st, arr) : sql_errno(rc) ?: -EIO;
        sqlite3_finalize(TAKE_PTR(st));
        sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int rk_extdb_list(rk_extdb *db, rk_value **ret) {
        if (!db || !ret)
                return -EINVAL;
        return list_where(db, "SELECT " ROW_COLUMNS " FROM extensions ORDER BY row", NULL, ret);
}

int rk_extdb_get(rk_extdb *db, const char *identifier, rk_value **ret) {
        if (!db || empty(identifier) || !ret)
                return -EINVAL;
        _cleanup_(rk_value_unrefp) rk_value *arr = NULL;
        int r = list_where(db,
                           "SELECT " ROW_COLUMNS " FROM extensions WHERE ident = ?"
                           " ORDER BY state IN " ACTIVE_SQL " DESC, row DESC LIMIT 1",
                           identifier, &arr);
        if (r < 0)
                return r;
        if (rk_array_size(arr) == 0)
                return -ENOENT;
        *ret = rk_value_ref(rk_array_get(arr, 0));
        return 0;
}

/* Each row the query returns (row id, identifier) breaks an invariant. */
static int check_query(rk_extdb *db, rk_diag *diag, const char *sql, const char *what) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL), n = 0;
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                rk_where w = { .file = db->path, .bundle = (const char *) sqlite3_column_text(st, 1) };
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "row %" PRId64 ": %s", (int64_t) sqlite3_column_int64(st, 0),
                            what);
                n++;
                rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
                return sql_errno(rc) ?: -EIO;
        return n;
}

static bool transition_allowed(int from, int to) {
        for (size_t i = 0; i < ELEMENTSOF(transitions); i++)
                if (transitions[i].from == from && transitions[i].to == to)
                        return true;
        return false;
}

static int history_problem(rk_extdb *db, rk_diag *diag, int64_t row, const char *ident, const char *what) {
        rk_where w = { .file = db->path, .bundle = ident };
        rk_diag_add(diag, RK_DIAG_ERROR, &w, "row %" PRId64 ": history %s", row, what);
        return 1;
}

/* Invariant 4, walking each row's history in order. */
static int check_history(rk_extdb *db, rk_diag *diag) {
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->sql,
                                    "SELECT e.row, e.ident, e.state, h.from_state, h.to_state FROM extensions e"
                                    " LEFT JOIN history h ON h.ext = e.row ORDER BY e.row, h.seq", -1, &st, NULL);
        int n = 0, prev = -1;
        int64_t cur = 0;
        char ident[256] = "", state[64] = "";
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t row = sqlite3_column_int64(st, 0);
                const char *from_id = (const char *) sqlite3_column_text(st, 3);
                const char *to_id = (const char *) sqlite3_column_text(st, 4);
                if (row != cur) {
                        if (cur && (prev < 0 || !streq(state, state_ids[prev])))
                                n += history_problem(db, diag, cur, ident, "does not end in the row's state");
                        cur = row, prev = -1;
                        snprintf(ident, sizeof ident, "%s", (const char *) sqlite3_column_text(st, 1) ?: "");
                        snprintf(state, sizeof state, "%s", (const char *) sqlite3_column_text(st, 2) ?: "");
                }
                rc = SQLITE_OK;
                if (!to_id)
                        continue; /* no history at all: reported at the row's end */
                /* -1 is creation, -2 a word that names no state */
                int from = from_id ? (int) rk_extdb_state_from_id(from_id) : -1;
                int to = rk_extdb_state_from_id(to_id);
                from = from_id && from < 0 ? -2 : from;
                to = to < 0 ? -2 : to;
                if (from != prev || !transition_allowed(from, to))
                        n += history_problem(db, diag, row, ident, from != prev ? "breaks its chain" : "has an impossible step");
                prev = to;
        }
        if (rc != SQLITE_DONE)
                return sql_errno(rc) ?: -EIO;
        if (cur && (prev < 0 || !streq(state, state_ids[prev])))
                n += history_problem(db, diag, cur, ident, "does not end in the row's state");
        return n;
}

static const struct {
        const char *sql, *what;
} checks[] = {
        { "SELECT row, ident FROM extensions WHERE state NOT IN ('activated_waiting_for_user','activated_enabled',"
          "'terminated_waiting_to_uninstall','uninstalled','replaced')", "impossible state" },
        { "SELECT max(row), ident FROM extensions WHERE state IN " ACTIVE_SQL " GROUP BY ident HAVING count(*) > 1",
          "more than one active version of one identifier" },
        { "SELECT e.row, e.ident FROM extensions e LEFT JOIN extensions n ON n.row = e.replaced_by"
          " WHERE e.state = 'replaced' AND (n.row IS NULL OR n.ident != e.ident OR n.team != e.team"
          " OR n.row <= e.row)", "replaced, but not by a later row of the same team and identifier" },
        { "SELECT row, ident FROM extensions WHERE replaced_by IS NOT NULL AND state IN " ACTIVE_SQL,
          "active, yet marked replaced" },
        { "SELECT h.seq, h.ext FROM history h LEFT JOIN extensions e ON e.row = h.ext WHERE e.row IS NULL",
          "history entry of a missing row" },
        { "SELECT p.replaces, p.ident FROM pending p LEFT JOIN extensions e ON e.row = p.replaces"
          " WHERE e.row IS NULL OR e.state NOT IN " ACTIVE_SQL " OR e.ident != p.ident OR e.team != p.team"
          " OR rk_version_compare(p.version, e.version) <= 0",
          "pending replacement does not name an older active row" },
};

static int check_all(rk_extdb *db, rk_diag *diag) {
        int64_t ok = 0;
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->sql, "PRAGMA integrity_check", -1, &st, NULL), n = 0;
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sql_errno(rc) ?: -EIO;
        ok = streq_ptr((const char *) sqlite3_column_text(st, 0), "ok");
        if (!ok) {
                rk_where w = { .file = db->path };
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "integrity check: %s", sqlite3_column_text(st, 0));
                n++;
        }
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                int r = check_query(db, diag, checks[i].sql, checks[i].what);
                if (r < 0)
                        return r;
                n += r;
        }
        int r = check_history(db, diag);
        return r < 0 ? r : n + r;
}

int rk_extdb_check(rk_extdb *db, rk_diag *diag) {
        if (!db)
                return -EINVAL;
        int rc = sqlite3_exec(db->sql, "BEGIN", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sql_errno(rc) ?: -EIO;
        int r = check_all(db, diag);
        sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        return r < 0 ? r : r > 0 ? -EBADMSG : 0;
}
