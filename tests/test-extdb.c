/* SPDX-License-Identifier: MIT */
/*
 * Tests for the extension activation database: every transition, valid and
 * refused, with its error code and message; replacement accepted and
 * refused; downgrades; reset and developer mode; broken files; the
 * consistency checker; and the crash test (issue 5 item 7): a child runs
 * random operations and is SIGKILLed at 200 random moments, after each the
 * database must pass rk_extdb_check and equal the state after the last
 * operation the child reported committed, or after the one in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalogue/extdb.h"
#include "shared/macro.h"
#include "test.h"

typedef struct tmp {
        char dir[64];
        char db[128];
} tmp;

static void tmp_init(tmp *t) {
        snprintf(t->dir, sizeof t->dir, "/tmp/rk-extdb-XXXXXX");
        if (!mkdtemp(t->dir))
                abort();
        snprintf(t->db, sizeof t->db, "%s/extensions.db", t->dir);
}

static void tmp_done(tmp *t) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", t->dir);
}

static uint8_t hash_bytes[4][32];

static rk_extdb_request req(const char *id, const char *version, const char *team, unsigned code) {
        for (unsigned i = 0; i < 32; i++)
                hash_bytes[code & 3][i] = (uint8_t) (code * 31 + i);
        return (rk_extdb_request){
                .team = team, .identifier = id, .version = version, .short_version = version,
                .app_path = "/Applications/Example.app", .app_identifier = "com.example.app",
                .store_path = "/var/lib/ringkit/store/x", .cdhash = hash_bytes[code & 3], .cdhash_len = 32,
        };
}

static rk_extdb *open_db(tmp *t) {
        rk_extdb *db = NULL;
        if (rk_extdb_open(t->db, &db, NULL) < 0)
                return NULL;
        return db;
}

static bool consistent(rk_extdb *db) {
        rk_diag d;
        rk_diag_init(&d);
        int r = rk_extdb_check(db, &d);
        if (r != 0)
                rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        return r == 0;
}

static const char *state_of(rk_extdb *db, const char *id) {
        static char buf[64];
        rk_value *v = NULL;
        if (rk_extdb_get(db, id, &v) < 0)
                return "(none)";
        snprintf(buf, sizeof buf, "%s", rk_dict_get_string(v, "state_id") ?: "(null)");
        rk_value_unref(v);
        return buf;
}

static size_t n_rows(rk_extdb *db) {
        rk_value *v = NULL;
        if (rk_extdb_list(db, &v) < 0)
                return (size_t) -1;
        size_t n = rk_array_size(v);
        rk_value_unref(v);
        return n;
}

#define CHECK_ERR(r, expect_r, res, code, id)                                      \
        do {                                                                       \
                CHECK_INTEQ((r), (expect_r));                                      \
                CHECK_INTEQ((res).error, (code));                                  \
                CHECK(strstr((res).message, (id)) != NULL);                        \
        } while (0)

TEST(version_compare) {
        CHECK(rk_extdb_version_compare("1.2", "1.10") < 0);
        CHECK(rk_extdb_version_compare("1.2.0", "1.2") == 0);
        CHECK(rk_extdb_version_compare("2", "1.9.9") > 0);
        CHECK(rk_extdb_version_compare("1.0b2", "1.0b10") < 0);
        CHECK(rk_extdb_version_compare("10", "9") > 0);
        CHECK_STREQ(rk_extdb_state_name(RK_EXTDB_TERMINATING), "terminating for uninstall");
        CHECK_INTEQ(rk_extdb_state_from_id("activated_enabled"), RK_EXTDB_ENABLED);
        CHECK_INTEQ(rk_extdb_state_from_id("bogus"), _RK_EXTDB_STATE_INVALID);
        CHECK_STREQ(rk_extdb_error_name(RK_EXTDB_ERR_DUPLICATE_EXTENSION_IDENTIFIER), "duplicateExtensionIdentifer");
        CHECK_INTEQ(RK_EXTDB_ERR_AUTHORIZATION_REQUIRED, 13);
}

TEST(activate_approve) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_WAITING_FOR_USER);
        CHECK_INTEQ(res.state, RK_EXTDB_WAITING_FOR_USER);
        CHECK_STREQ(state_of(db, "com.example.drv"), "activated_waiting_for_user");
        /* asking again while waiting changes nothing */
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_ALREADY_ACTIVE);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        CHECK_INTEQ(res.state, RK_EXTDB_ENABLED);
        CHECK_STREQ(state_of(db, "com.example.drv"), "activated_enabled");
        int r = rk_extdb_approve(db, "com.example.drv", &res);
        CHECK_ERR(r, -EALREADY, res, RK_EXTDB_ERR_INVALID_STATE, "com.example.drv");
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_ALREADY_ACTIVE);
        CHECK_INTEQ(res.state, RK_EXTDB_ENABLED);
        r = rk_extdb_approve(db, "com.example.none", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.none");
        CHECK_INTEQ(n_rows(db), 1);
        CHECK(consistent(db));
        rk_extdb_close(db);
        /* persisted */
        db = open_db(&t);
        ASSERT(db);
        CHECK_STREQ(state_of(db, "com.example.drv"), "activated_enabled");
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(same_version_other_code) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "3", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        q = req("com.example.drv", "3", "TEAMA", 2);
        int r = rk_extdb_request_activation(db, &q, &res);
        CHECK_ERR(r, -EEXIST, res, RK_EXTDB_ERR_VALIDATION_FAILED, "com.example.drv");
        q.force = true;
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_ENABLED);
        CHECK_INTEQ(n_rows(db), 2);
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

static void replacement_case(bool approve_first) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1.0", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        int64_t old = res.row;
        if (approve_first)
                CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        q = req("com.example.drv", "1.1", "TEAMA", 2);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_REPLACEMENT_NEEDED);
        rk_value *v = NULL;
        ASSERT(rk_extdb_get(db, "com.example.drv", &v) == 0);
        CHECK_STREQ(rk_dict_get_string(rk_dict_get(v, "pending"), "version"), "1.1");
        v = rk_value_unref(v);
        CHECK(consistent(db));
        int r = rk_extdb_accept_replacement(db, "TEAMA", "com.example.drv", "1.2", &res);
        CHECK_ERR(r, -ESTALE, res, RK_EXTDB_ERR_REQUEST_SUPERSEDED, "com.example.drv");
        r = rk_extdb_accept_replacement(db, "TEAMB", "com.example.drv", "1.1", &res);
        CHECK_ERR(r, -ESTALE, res, RK_EXTDB_ERR_REQUEST_SUPERSEDED, "com.example.drv");
        CHECK_INTEQ(rk_extdb_accept_replacement(db, "TEAMA", "com.example.drv", "1.1", &res), 0);
        CHECK_INTEQ(res.state, approve_first ? RK_EXTDB_ENABLED : RK_EXTDB_WAITING_FOR_USER);
        CHECK_INTEQ(res.outcome, approve_first ? RK_EXTDB_OUTCOME_ENABLED : RK_EXTDB_OUTCOME_WAITING_FOR_USER);
        ASSERT(rk_extdb_list(db, &v) == 0);
        ASSERT(rk_array_size(v) == 2);
        rk_value *o = rk_array_get(v, 0);
        CHECK_STREQ(rk_dict_get_string(o, "state"), "replaced");
        uint64_t by = 0;
        CHECK(rk_dict_get_u64(o, "replaced_by", &by) && (int64_t) by == res.row);
        CHECK(old != res.row);
        v = rk_value_unref(v);
        r = rk_extdb_accept_replacement(db, "TEAMA", "com.example.drv", "1.1", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK(consistent(db));
        /* the replaced row is cleaned once its process is gone */
        CHECK_INTEQ(rk_extdb_finish_uninstall(db, "com.example.drv", &res), 1);
        CHECK_STREQ(state_of(db, "com.example.drv"),
                    approve_first ? "activated_enabled" : "activated_waiting_for_user");
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(replacement_accept_enabled) {
        replacement_case(true);
}

TEST(replacement_accept_waiting) {
        replacement_case(false);
}

TEST(replacement_refuse) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        q = req("com.example.drv", "2", "TEAMA", 2);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_REPLACEMENT_NEEDED);
        CHECK_INTEQ(rk_extdb_refuse_replacement(db, "TEAMA", "com.example.drv", "2", &res), 0);
        CHECK_INTEQ(res.error, RK_EXTDB_ERR_REQUEST_CANCELED);
        CHECK(strstr(res.message, "com.example.drv") != NULL);
        int r = rk_extdb_refuse_replacement(db, "TEAMA", "com.example.drv", "2", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK_STREQ(state_of(db, "com.example.drv"), "activated_enabled");
        CHECK_INTEQ(n_rows(db), 1);
        /* a pending request is dropped when the active one is deactivated */
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_deactivate(db, "com.example.drv", &res), 0);
        r = rk_extdb_accept_replacement(db, "TEAMA", "com.example.drv", "2", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(downgrade) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "2.0", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        q = req("com.example.drv", "1.9", "TEAMA", 2);
        int r = rk_extdb_request_activation(db, &q, &res);
        CHECK_ERR(r, -EPERM, res, RK_EXTDB_ERR_FORBIDDEN_BY_SYSTEM_POLICY, "com.example.drv");
        CHECK(strstr(res.message, "2.0") && strstr(res.message, "1.9"));
        CHECK_INTEQ(n_rows(db), 1);
        q.force = true;
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.state, RK_EXTDB_ENABLED);
        rk_value *v = NULL;
        ASSERT(rk_extdb_get(db, "com.example.drv", &v) == 0);
        CHECK_STREQ(rk_dict_get_string(v, "version"), "1.9");
        rk_value_unref(v);
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(duplicate_identifier_other_team) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        q = req("com.example.drv", "5", "TEAMB", 2);
        int r = rk_extdb_request_activation(db, &q, &res);
        CHECK_ERR(r, -EEXIST, res, RK_EXTDB_ERR_DUPLICATE_EXTENSION_IDENTIFIER, "com.example.drv");
        CHECK(strstr(res.message, "TEAMA") && strstr(res.message, "TEAMB"));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(deny) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_deny(db, "com.example.drv", &res), 0);
        CHECK_INTEQ(res.state, RK_EXTDB_UNINSTALLED);
        CHECK_STREQ(state_of(db, "com.example.drv"), "uninstalled");
        int r = rk_extdb_deny(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        r = rk_extdb_approve(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        /* ask again: a new row */
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(res.outcome, RK_EXTDB_OUTCOME_WAITING_FOR_USER);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        r = rk_extdb_deny(db, "com.example.drv", &res);
        CHECK_ERR(r, -EBUSY, res, RK_EXTDB_ERR_INVALID_STATE, "com.example.drv");
        CHECK_INTEQ(n_rows(db), 2);
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(deactivate_uninstall) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        int r = rk_extdb_finish_uninstall(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        r = rk_extdb_deactivate(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        /* waiting can be deactivated too */
        CHECK_INTEQ(rk_extdb_deactivate(db, "com.example.drv", &res), 0);
        CHECK_INTEQ(res.state, RK_EXTDB_TERMINATING);
        CHECK_INTEQ(rk_extdb_finish_uninstall(db, "com.example.drv", &res), 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        CHECK_INTEQ(rk_extdb_deactivate(db, "com.example.drv", &res), 0);
        CHECK_STREQ(state_of(db, "com.example.drv"), "terminated_waiting_to_uninstall");
        r = rk_extdb_deactivate(db, "com.example.drv", &res);
        CHECK_ERR(r, -EALREADY, res, RK_EXTDB_ERR_INVALID_STATE, "com.example.drv");
        r = rk_extdb_approve(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK_INTEQ(rk_extdb_finish_uninstall(db, "com.example.drv", &res), 1);
        CHECK_STREQ(state_of(db, "com.example.drv"), "uninstalled");
        r = rk_extdb_finish_uninstall(db, "com.example.drv", &res);
        CHECK_ERR(r, -ENOENT, res, RK_EXTDB_ERR_EXTENSION_NOT_FOUND, "com.example.drv");
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(bad_arguments) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), -EINVAL);
        CHECK_INTEQ(res.error, RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER);
        q = req("com.example.drv", "1", NULL, 1);
        int r = rk_extdb_request_activation(db, &q, &res);
        CHECK_ERR(r, -EINVAL, res, RK_EXTDB_ERR_CODE_SIGNATURE_INVALID, "com.example.drv");
        q = req("com.example.drv", "", "TEAMA", 1);
        r = rk_extdb_request_activation(db, &q, &res);
        CHECK_ERR(r, -EINVAL, res, RK_EXTDB_ERR_VALIDATION_FAILED, "com.example.drv");
        CHECK_INTEQ(rk_extdb_request_activation(NULL, &q, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_request_activation(db, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_approve(db, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_deny(NULL, "x", NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_deactivate(db, "", NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_finish_uninstall(db, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_accept_replacement(db, "T", NULL, "1", NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_reset(NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_list(db, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_get(db, "x", NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_check(NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_extdb_open(NULL, &db, NULL), -EINVAL);
        rk_value *v = NULL;
        CHECK_INTEQ(rk_extdb_get(db, "com.example.none", &v), -ENOENT);
        CHECK_INTEQ(n_rows(db), 0);
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(reset_and_developer_mode) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_get_developer_mode(db), 0);
        CHECK_INTEQ(rk_extdb_reset(db, &res), -EPERM);
        CHECK_INTEQ(res.error, RK_EXTDB_ERR_FORBIDDEN_BY_SYSTEM_POLICY);
        CHECK(strstr(res.message, "developer mode") != NULL);
        CHECK_INTEQ(n_rows(db), 1);
        CHECK_INTEQ(rk_extdb_set_developer_mode(db, true), 0);
        rk_extdb_close(db);
        db = open_db(&t);
        ASSERT(db);
        CHECK_INTEQ(rk_extdb_get_developer_mode(db), 1);
        CHECK_INTEQ(rk_extdb_reset(db, &res), 0);
        CHECK_INTEQ(n_rows(db), 0);
        CHECK_INTEQ(rk_extdb_get_developer_mode(db), 1);
        CHECK_INTEQ(rk_extdb_set_developer_mode(db, false), 0);
        CHECK_INTEQ(rk_extdb_get_developer_mode(db), 0);
        CHECK(consistent(db));
        rk_extdb_close(db);
        tmp_done(&t);
}

static int write_file(const char *path, const void *p, size_t n) {
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        size_t w = fwrite(p, 1, n, f);
        return fclose(f) == 0 && w == n ? 0 : -EIO;
}

static int raw_exec(const char *path, const char *sql) {
        sqlite3 *s = NULL;
        int rc = sqlite3_open(path, &s);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s, sql, NULL, NULL, NULL);
        sqlite3_close(s);
        return rc;
}

static bool diag_mentions(const rk_diag *d, const char *what) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->items[i].message, what) || (d->items[i].file && strstr(d->items[i].file, what)))
                        return true;
        return false;
}

TEST(garbage_file) {
        tmp t;
        tmp_init(&t);
        char junk[8192];
        for (size_t i = 0; i < sizeof junk; i++)
                junk[i] = (char) (i * 7 + 3);
        ASSERT(write_file(t.db, junk, sizeof junk) == 0);
        rk_diag d;
        rk_diag_init(&d);
        rk_extdb *db = NULL;
        CHECK_INTEQ(rk_extdb_open(t.db, &db, &d), -EBADMSG);
        CHECK(!db);
        CHECK(rk_diag_count(&d, RK_DIAG_ERROR) == 1);
        CHECK(diag_mentions(&d, "extensions.db"));
        CHECK(diag_mentions(&d, "not a readable SQLite database"));
        rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        /* a database of something else */
        unlink(t.db);
        ASSERT(raw_exec(t.db, "CREATE TABLE other(x);") == SQLITE_OK);
        rk_diag_init(&d);
        CHECK_INTEQ(rk_extdb_open(t.db, &db, &d), -EBADMSG);
        CHECK(diag_mentions(&d, "other objects"));
        rk_diag_done(&d);
        tmp_done(&t);
}

TEST(truncated_file) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        char id[64];
        for (int i = 0; i < 200; i++) {
                snprintf(id, sizeof id, "com.example.drv%d", i);
                rk_extdb_request q = req(id, "1", "TEAMA", 1);
                CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        }
        rk_extdb_close(db);
        /* keep the header, trash a middle page */
        int fd = open(t.db, O_WRONLY | O_CLOEXEC);
        ASSERT(fd >= 0);
        char junk[4096];
        memset(junk, 0xa5, sizeof junk);
        CHECK(pwrite(fd, junk, sizeof junk, 4096 * 2) == (ssize_t) sizeof junk);
        close(fd);
        rk_diag d;
        rk_diag_init(&d);
        int r = rk_extdb_open(t.db, &db, &d);
        if (r == 0) {
                /* the damage is found by the checker, not by a crash */
                CHECK(rk_extdb_check(db, &d) < 0);
                CHECK(rk_diag_count(&d, RK_DIAG_ERROR) >= 1);
                rk_extdb_close(db);
        } else
                CHECK(r == -EBADMSG);
        rk_diag_done(&d);
        tmp_done(&t);
}

TEST(schema_version) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_close(db);
        ASSERT(raw_exec(t.db, "PRAGMA user_version = 99;") == SQLITE_OK);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_extdb_open(t.db, &db, &d), -EPROTONOSUPPORT);
        CHECK(diag_mentions(&d, "schema version 99"));
        rk_diag_done(&d);
        ASSERT(raw_exec(t.db, "PRAGMA user_version = 1;") == SQLITE_OK);
        db = open_db(&t);
        CHECK(db);
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(symlink_refused) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_close(db);
        char link[160];
        snprintf(link, sizeof link, "%s/link.db", t.dir);
        ASSERT(symlink(t.db, link) == 0);
        CHECK(rk_extdb_open(link, &db, NULL) < 0);
        tmp_done(&t);
}

/* The checker finds each broken invariant. */
static void broken(const char *sql, const char *what) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(db, "com.example.drv", &res), 0);
        q = req("com.example.drv", "2", "TEAMA", 2);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_accept_replacement(db, "TEAMA", "com.example.drv", "2", &res), 0);
        q = req("com.example.other", "1", "TEAMA", 3);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        CHECK(consistent(db));
        rk_extdb_close(db);
        ASSERT(raw_exec(t.db, sql) == SQLITE_OK);
        db = open_db(&t);
        ASSERT(db);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_extdb_check(db, &d), -EBADMSG);
        if (!diag_mentions(&d, what)) {
                fprintf(stderr, "expected \"%s\" for: %s\n", what, sql);
                rk_diag_print(&d, stderr);
                CHECK(false);
        }
        rk_diag_done(&d);
        rk_extdb_close(db);
        tmp_done(&t);
}

TEST(check_finds_breakage) {
        broken("UPDATE extensions SET state = 'activated_enabled' WHERE row = 1", "more than one active");
        broken("UPDATE extensions SET replaced_by = 3 WHERE row = 1", "not by a later row");
        broken("UPDATE extensions SET replaced_by = NULL WHERE row = 1", "not by a later row");
        broken("UPDATE extensions SET state = 'uninstalled' WHERE row = 3", "does not end in the row's state");
        broken("DELETE FROM history WHERE ext = 2", "does not end in the row's state");
        broken("UPDATE history SET from_state = 'uninstalled' WHERE seq = (SELECT max(seq) FROM history"
               " WHERE ext = 1)", "breaks its chain");
        broken("INSERT INTO history(ext, from_state, to_state, op, at) VALUES(3, 'activated_waiting_for_user',"
               " 'replaced', 'x', 0); UPDATE extensions SET state = 'replaced', replaced_by = NULL WHERE row = 3",
               "not by a later row");
        broken("INSERT INTO history(ext, from_state, to_state, op, at) VALUES(2, 'activated_enabled',"
               " 'activated_waiting_for_user', 'x', 0); UPDATE extensions SET state = 'activated_waiting_for_user'"
               " WHERE row = 2", "impossible step");
        broken("INSERT INTO pending VALUES('com.example.other', 'TEAMB', '9', '9', '/a', 'a', '/s', x'00', 3, 0)",
               "pending replacement");
        broken("UPDATE history SET to_state = 'bogus' WHERE seq = (SELECT min(seq) FROM history WHERE ext = 3)",
               "history");
        broken("UPDATE history SET from_state = 'bogus' WHERE seq = (SELECT max(seq) FROM history WHERE ext = 1)",
               "breaks its chain");
        broken("INSERT INTO pending VALUES('com.example.other', 'TEAMA', '0.9', '0.9', '/a', 'a', '/s', x'00', 3, 0)",
               "older active row");
}

/*
 * Crash test.  The child keeps a shadow database in step with the real one:
 * before each operation it applies it to the shadow, sends the shadow's
 * digest as the "in flight" state, applies it to the real database, then
 * sends "done".  After the SIGKILL the parent reopens the real database,
 * checks it, and requires its digest to be the last done state or the in
 * flight one.  Digests leave out timestamps; row ids are deterministic.
 */
enum { MSG_INTENT = 1, MSG_DONE = 2, MSG_READY = 3 };

typedef struct crash_msg {
        uint32_t kind, k;
        uint64_t digest;
} crash_msg;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ULL;
        return h;
}

static int digest_db(const char *path, uint64_t *ret) {
        static const char *const queries[] = {
                "SELECT row, team, ident, version, short_version, state, app_path, app_ident, store_path,"
                " hex(cdhash), replaced_by FROM extensions ORDER BY row",
                "SELECT seq, ext, from_state, to_state, op FROM history ORDER BY seq",
                "SELECT ident, team, version, short_version, app_path, app_ident, store_path, hex(cdhash),"
                " replaces FROM pending ORDER BY ident",
                "SELECT key, value FROM settings ORDER BY key",
        };
        sqlite3 *s = NULL;
        uint64_t h = 0xcbf29ce484222325ULL;
        int rc = sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL);
        for (size_t q = 0; rc == SQLITE_OK && q < ELEMENTSOF(queries); q++) {
                sqlite3_stmt *st = NULL;
                rc = sqlite3_prepare_v2(s, queries[q], -1, &st, NULL);
                while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                        for (int c = 0; c < sqlite3_column_count(st); c++) {
                                const unsigned char *t = sqlite3_column_text(st, c);
                                h = fnv(h, t ? (const char *) t : "\1NULL", t ? strlen((const char *) t) : 5);
                                h = fnv(h, "|", 1);
                        }
                        h = fnv(h, "\n", 1);
                        rc = SQLITE_OK;
                }
                if (rc == SQLITE_DONE)
                        rc = SQLITE_OK;
                sqlite3_finalize(st);
                h = fnv(h, "#", 1);
        }
        sqlite3_close(s);
        *ret = h;
        return rc == SQLITE_OK ? 0 : -EIO;
}

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static const char *const crash_ids[] = { "com.example.a", "com.example.b", "com.example.c" };
static const char *const crash_versions[] = { "1", "1.1", "2", "2.0.1", "3", "10" };

typedef struct crash_op {
        unsigned kind;
        const char *id, *version, *team;
        unsigned code;
        bool force;
} crash_op;

static crash_op crash_pick(uint64_t *rng, rk_extdb *shadow) {
        crash_op o = { 0 };
        uint64_t x = rng_next(rng);
        o.kind = (unsigned) (x % 100);
        o.id = crash_ids[(x >> 8) % ELEMENTSOF(crash_ids)];
        unsigned vi = (unsigned) ((x >> 16) % ELEMENTSOF(crash_versions));
        o.version = crash_versions[vi];
        o.team = (x >> 24) % 16 == 0 ? "TEAMB" : "TEAMA";
        o.code = vi % 3 + ((x >> 28) % 8 == 0);
        o.force = (x >> 32) % 10 == 0;
        if (o.kind >= 40 && o.kind < 55) { /* accept/refuse: use the pending version most of the time */
                rk_value *v = NULL;
                if (rk_extdb_get(shadow, o.id, &v) == 0) {
                        const char *pv = rk_dict_get_string(rk_dict_get(v, "pending"), "version");
                        for (size_t i = 0; pv && i < ELEMENTSOF(crash_versions); i++)
                                if (streq(pv, crash_versions[i]) && (x >> 40) % 8)
                                        o.version = crash_versions[i];
                        rk_value_unref(v);
                }
        }
        return o;
}

static int crash_apply(rk_extdb *db, const crash_op *o) {
        rk_extdb_result res;
        if (o->kind < 40) {
                rk_extdb_request q = req(o->id, o->version, o->team, o->code);
                q.force = o->force;
                return rk_extdb_request_activation(db, &q, &res);
        }
        if (o->kind < 50)
                return rk_extdb_accept_replacement(db, o->team, o->id, o->version, &res);
        if (o->kind < 55)
                return rk_extdb_refuse_replacement(db, o->team, o->id, o->version, &res);
        if (o->kind < 72)
                return rk_extdb_approve(db, o->id, &res);
        if (o->kind < 78)
                return rk_extdb_deny(db, o->id, &res);
        if (o->kind < 88)
                return rk_extdb_deactivate(db, o->id, &res);
        if (o->kind < 97)
                return rk_extdb_finish_uninstall(db, o->id, &res);
        if (o->kind < 99)
                return rk_extdb_set_developer_mode(db, o->kind == 97);
        return rk_extdb_reset(db, &res);
}

static bool expected_errno(int r) {
        return r >= 0 || r == -ENOENT || r == -EEXIST || r == -EPERM || r == -ESTALE || r == -EALREADY ||
               r == -EBUSY;
}

static void send_msg(int fd, uint32_t kind, uint32_t k, uint64_t digest) {
        crash_msg m = { kind, k, digest };
        if (write(fd, &m, sizeof m) != (ssize_t) sizeof m)
                _exit(3);
}

_Noreturn static void crash_child(const char *real, const char *shadow_path, uint64_t seed, int fd) {
        rk_extdb *db = NULL, *shadow = NULL;
        if (rk_extdb_open(real, &db, NULL) < 0 || rk_extdb_open(shadow_path, &shadow, NULL) < 0)
                _exit(2);
        send_msg(fd, MSG_READY, 0, 0);
        uint64_t rng = seed;
        for (uint32_t k = 1; k < 1000000; k++) {
                crash_op o = crash_pick(&rng, shadow);
                int r1 = crash_apply(shadow, &o);
                uint64_t d;
                if (!expected_errno(r1) || digest_db(shadow_path, &d) < 0)
                        _exit(4);
                send_msg(fd, MSG_INTENT, k, d);
                int r2 = crash_apply(db, &o);
                if (r2 != r1)
                        _exit(5);
                send_msg(fd, MSG_DONE, k, d);
        }
        _exit(0);
}

static int copy_db(const char *from, const char *to) {
        char p[256];
        snprintf(p, sizeof p, "%s-wal", to);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", to);
        unlink(p);
        unlink(to);
        sqlite3 *src = NULL, *dst = NULL;
        int rc = sqlite3_open(from, &src);
        if (rc == SQLITE_OK)
                rc = sqlite3_open(to, &dst);
        if (rc == SQLITE_OK) {
                sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
                rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
                if (b)
                        sqlite3_backup_finish(b);
                rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_close(dst);
        sqlite3_close(src);
        return rc == SQLITE_OK ? 0 : -EIO;
}

typedef struct crash_stats {
        unsigned kills, at_done, at_intent, ops, restarts_checked;
} crash_stats;

/* Reads what the dead child reported: last done digest, in-flight digest. */
static void crash_read(int fd, uint64_t *done, uint64_t *intent, bool *in_flight, unsigned *ops) {
        crash_msg m;
        while (read(fd, &m, sizeof m) == (ssize_t) sizeof m) {
                if (m.kind == MSG_INTENT) {
                        *intent = m.digest;
                        *in_flight = true;
                } else {
                        *done = m.digest;
                        *in_flight = false;
                        (*ops)++;
                }
        }
}

static bool crash_verify(const char *real, uint64_t done, uint64_t intent, bool in_flight, crash_stats *st) {
        rk_extdb *db = NULL;
        if (rk_extdb_open(real, &db, NULL) < 0)
                return false;
        bool ok = consistent(db);
        /* what `ringctl list` would show is the table */
        size_t listed = n_rows(db);
        rk_extdb_close(db);
        uint64_t d = 0;
        ok = ok && digest_db(real, &d) == 0;
        int64_t rows = -1;
        sqlite3 *s = NULL;
        sqlite3_stmt *q = NULL;
        if (sqlite3_open_v2(real, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(s, "SELECT count(*) FROM extensions", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
                rows = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        sqlite3_close(s);
        ok = ok && (int64_t) listed == rows;
        if (d == done)
                st->at_done++;
        else if (in_flight && d == intent)
                st->at_intent++;
        else
                ok = false;
        st->restarts_checked++;
        return ok;
}

static bool crash_iteration(tmp *t, const char *shadow, unsigned i, uint64_t *rng, crash_stats *st) {
        uint64_t start;
        if (copy_db(t->db, shadow) < 0 || digest_db(t->db, &start) < 0)
                return false;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return false;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                crash_child(t->db, shadow, 0x9e3779b97f4a7c15ULL ^ ((uint64_t) i * 0x100000001b3ULL + 1), p[1]);
        }
        close(p[1]);
        /* the random moment counts from the child's first operation, so
         * that slow start-up (sanitizers) does not eat the window */
        crash_msg ready;
        if (read(p[0], &ready, sizeof ready) != (ssize_t) sizeof ready || ready.kind != MSG_READY)
                fprintf(stderr, "iteration %u: child did not start\n", i);
        struct timespec ts = { 0, (long) (rng_next(rng) % 40000) * 1000 };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        uint64_t done = start, intent = 0;
        bool in_flight = false;
        crash_read(p[0], &done, &intent, &in_flight, &st->ops);
        close(p[0]);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
                fprintf(stderr, "iteration %u: child ended with status %#x\n", i, (unsigned) status);
                return false;
        }
        st->kills++;
        if (!crash_verify(t->db, done, intent, in_flight, st)) {
                fprintf(stderr, "iteration %u: database is not the committed state\n", i);
                return false;
        }
        return true;
}

TEST(crash_consistency) {
        tmp t;
        tmp_init(&t);
        char shadow[160];
        snprintf(shadow, sizeof shadow, "%s/shadow.db", t.dir);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_close(db);
        crash_stats st = { 0 };
        uint64_t rng = 0x5eed5eedULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned i = 0; i < 200; i++)
                ASSERT(crash_iteration(&t, shadow, i, &rng, &st));
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("crash test: %u kills, %u operations committed, after each restart: %u at the last committed "
               "state, %u at the in-flight one; %.1f s\n",
               st.kills, st.ops, st.at_done, st.at_intent,
               (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9);
        CHECK_INTEQ(st.kills, 200);
        CHECK_INTEQ(st.restarts_checked, 200);
        tmp_done(&t);
}

TEST(open_missing_directory) {
        rk_diag d;
        rk_diag_init(&d);
        rk_extdb *db = NULL;
        int r = rk_extdb_open("/nonexistent-rk-dir/extensions.db", &db, &d);
        CHECK(r == -ENOENT || r == -EACCES);
        CHECK(!db);
        CHECK(diag_mentions(&d, "/nonexistent-rk-dir/extensions.db"));
        rk_diag_done(&d);
}

TEST(two_handles) {
        tmp t;
        tmp_init(&t);
        rk_extdb *a = open_db(&t), *b = open_db(&t);
        ASSERT(a && b);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(a, &q, &res), 0);
        CHECK_INTEQ(rk_extdb_approve(b, "com.example.drv", &res), 0);
        int r = rk_extdb_approve(a, "com.example.drv", &res);
        CHECK_ERR(r, -EALREADY, res, RK_EXTDB_ERR_INVALID_STATE, "com.example.drv");
        CHECK_STREQ(state_of(a, "com.example.drv"), "activated_enabled");
        CHECK(consistent(b));
        rk_extdb_close(a);
        rk_extdb_close(b);
        tmp_done(&t);
}

/* Every descriptor SQLite opened for us is close-on-exec. */
TEST(descriptors_cloexec) {
        tmp t;
        tmp_init(&t);
        rk_extdb *db = open_db(&t);
        ASSERT(db);
        rk_extdb_result res;
        rk_extdb_request q = req("com.example.drv", "1", "TEAMA", 1);
        CHECK_INTEQ(rk_extdb_request_activation(db, &q, &res), 0);
        unsigned seen = 0;
        for (int fd = 3; fd < 1024; fd++) {
                char p[64], target[256];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                ssize_t n = readlink(p, target, sizeof target - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                if (!strstr(target, t.dir))
                        continue;
                seen++;
                CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        }
        CHECK(seen >= 2); /* the database and its WAL at least */
        rk_extdb_close(db);
        tmp_done(&t);
}
