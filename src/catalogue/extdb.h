/* SPDX-License-Identifier: MIT */
/*
 * The extension activation database: which system extensions and dexts an
 * app asked for, which the administrator approved, which replaced which, as
 * `systemextensionsctl list` shows them.  One SQLite file (ringd passes
 * ROOT/var/lib/ringkit/extensions.db); every operation is one IMMEDIATE
 * transaction, so a kill -9 at any point leaves the state before or after
 * that operation, never between.  States, transitions and the functions
 * that perform them are drawn in extdb.c and docs/activation.md.
 *
 * An extension is named by its bundle identifier; at most one version of an
 * identifier is active (waiting for user or enabled) at a time, and it
 * belongs to one team.  Older rows stay as replaced, terminating or
 * uninstalled, with their history.
 *
 * Every mutating call returns 0 (or a count where said) or a negative errno
 * and, when `out` is not NULL, fills it: an error code mirroring
 * OSSystemExtensionErrorDomain and a message naming the extension.
 * -EINVAL is returned for NULL or empty required arguments.  SQLite
 * failures map to -EBUSY (locked), -ENOSPC, -EIO, -EROFS, -EBADMSG
 * (corrupt file), -ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/diag.h"
#include "value/value.h"

#define RK_EXTDB_SCHEMA_VERSION 1

typedef struct rk_extdb rk_extdb;

typedef enum rk_extdb_state {
        RK_EXTDB_WAITING_FOR_USER, /* "activated waiting for user" */
        RK_EXTDB_ENABLED,          /* "activated enabled" */
        RK_EXTDB_TERMINATING,      /* "terminating for uninstall" */
        RK_EXTDB_UNINSTALLED,      /* "uninstalled" */
        RK_EXTDB_REPLACED,         /* "replaced": a later row took its place */
        _RK_EXTDB_STATE_MAX,
        _RK_EXTDB_STATE_INVALID = -1,
} rk_extdb_state;

/* OSSystemExtensionErrorDomain codes, same numbers; 0 is success. */
typedef enum rk_extdb_error {
        RK_EXTDB_OK = 0,
        RK_EXTDB_ERR_UNKNOWN = 1,
        RK_EXTDB_ERR_MISSING_ENTITLEMENT = 2,
        RK_EXTDB_ERR_UNSUPPORTED_PARENT_BUNDLE_LOCATION = 3,
        RK_EXTDB_ERR_EXTENSION_NOT_FOUND = 4,
        RK_EXTDB_ERR_EXTENSION_MISSING_IDENTIFIER = 5,
        RK_EXTDB_ERR_DUPLICATE_EXTENSION_IDENTIFIER = 6, /* Apple: duplicateExtensionIdentifer */
        RK_EXTDB_ERR_UNKNOWN_EXTENSION_CATEGORY = 7,
        RK_EXTDB_ERR_CODE_SIGNATURE_INVALID = 8,
        RK_EXTDB_ERR_VALIDATION_FAILED = 9,
        RK_EXTDB_ERR_FORBIDDEN_BY_SYSTEM_POLICY = 10,
        RK_EXTDB_ERR_REQUEST_CANCELED = 11,
        RK_EXTDB_ERR_REQUEST_SUPERSEDED = 12,
        RK_EXTDB_ERR_AUTHORIZATION_REQUIRED = 13,
        /* ringkit's own: the operation does not apply to the current state */
        RK_EXTDB_ERR_INVALID_STATE = 100,
} rk_extdb_error;

/* What an activation request (or accepted replacement) led to. */
typedef enum rk_extdb_outcome {
        RK_EXTDB_OUTCOME_NONE,
        RK_EXTDB_OUTCOME_WAITING_FOR_USER,  /* recorded, needs approve */
        RK_EXTDB_OUTCOME_ENABLED,           /* replacement of an approved version: enabled at once */
        RK_EXTDB_OUTCOME_ALREADY_ACTIVE,    /* same version and code already active: nothing done */
        RK_EXTDB_OUTCOME_REPLACEMENT_NEEDED,/* a newer version is pending; accept or refuse it */
} rk_extdb_outcome;

typedef struct rk_extdb_request {
        const char *team;            /* Team ID from the signature */
        const char *identifier;      /* CFBundleIdentifier */
        const char *version;         /* CFBundleVersion, dotted numbers */
        const char *short_version;   /* CFBundleShortVersionString, may be NULL */
        const char *app_path;        /* the requesting app */
        const char *app_identifier;  /* its CFBundleIdentifier, may be NULL */
        const char *store_path;      /* ringd's copy of the extension */
        const uint8_t *cdhash;       /* code directory hash */
        size_t cdhash_len;
        bool force;                  /* administrator: allow a downgrade or same-version swap */
} rk_extdb_request;

typedef struct rk_extdb_result {
        rk_extdb_error error;
        rk_extdb_outcome outcome;
        rk_extdb_state state; /* state of the row acted on, when one was */
        int64_t row;          /* its row id, 0 when none */
        char message[512];
} rk_extdb_result;

/*
 * Opens (creating when missing) the database at path, O_NOFOLLOW, WAL,
 * synchronous=FULL, foreign keys on.  Returns 0, -EINVAL, -ENOMEM,
 * -ENOENT/-EACCES (cannot open), -EBADMSG (not a database, or corrupt:
 * reported to diag naming the file), -EPROTONOSUPPORT (schema newer than
 * this code), -EBUSY.
 */
int rk_extdb_open(const char *path, rk_extdb **ret, rk_diag *diag);
rk_extdb *rk_extdb_close(rk_extdb *db); /* returns NULL */
static inline void rk_extdb_closep(rk_extdb **db) {
        if (*db)
                rk_extdb_close(*db);
}

/*
 * An app asks for an extension.  New identifier: a row waiting for user.
 * Same version and code already active: 0, outcome ALREADY_ACTIVE.  Newer
 * CFBundleVersion than the active one: 0, outcome REPLACEMENT_NEEDED (kept
 * pending; a second request replaces the pending one).  Older version:
 * -EPERM forbiddenBySystemPolicy unless req->force; same version with other
 * code: -EEXIST validationFailed unless force; with force, the request
 * replaces the active row at once.  Identifier active under another team:
 * -EEXIST duplicateExtensionIdentifer.  Missing identifier: -EINVAL
 * extensionMissingIdentifier; missing team or cdhash: -EINVAL
 * codeSignatureInvalid.
 */
int rk_extdb_request_activation(rk_extdb *db, const rk_extdb_request *req, rk_extdb_result *out);
/*
 * The requester accepts the pending replacement: the new version becomes
 * enabled when the old one was enabled (same team, already approved),
 * waiting for user otherwise; the old row becomes replaced.  -ENOENT
 * extensionNotFound when nothing is pending; -ESTALE requestSuperseded when
 * the pending request is another team's or version.
 */
int rk_extdb_accept_replacement(rk_extdb *db, const char *team, const char *identifier,
                                const char *version, rk_extdb_result *out);
/* The requester refuses: the pending request is dropped (error set to
 * requestCanceled in out, return 0); -ENOENT / -ESTALE as above. */
int rk_extdb_refuse_replacement(rk_extdb *db, const char *team, const char *identifier,
                                const char *version, rk_extdb_result *out);
/* waiting → enabled.  -ENOENT extensionNotFound, -EALREADY invalidState. */
int rk_extdb_approve(rk_extdb *db, const char *identifier, rk_extdb_result *out);
/* waiting → uninstalled.  -ENOENT, -EBUSY invalidState when enabled. */
int rk_extdb_deny(rk_extdb *db, const char *identifier, rk_extdb_result *out);
/* waiting|enabled → terminating.  -ENOENT, -EALREADY when already terminating. */
int rk_extdb_deactivate(rk_extdb *db, const char *identifier, rk_extdb_result *out);
/* terminating|replaced → uninstalled, once the process is gone.  Returns
 * the number of rows moved, -ENOENT when none. */
int rk_extdb_finish_uninstall(rk_extdb *db, const char *identifier, rk_extdb_result *out);
/* Removes every extension row, pending request and history; settings stay.
 * -EPERM forbiddenBySystemPolicy unless developer mode is on (read in the
 * same transaction). */
int rk_extdb_reset(rk_extdb *db, rk_extdb_result *out);

int rk_extdb_set_developer_mode(rk_extdb *db, bool on);
/* 1 on, 0 off (the default), or a negative errno. */
int rk_extdb_get_developer_mode(rk_extdb *db);

/*
 * Every row (uninstalled ones too), in row order, as an array of
 * dictionaries: row, team, identifier, version, short_version, state (the
 * systemextensionsctl words), state_id, app_path, app_identifier,
 * store_path, cdhash (data), created, updated (dates), replaced_by (row,
 * when set); a pending replacement is a dictionary under "pending" (team,
 * version, short_version, app_path, store_path).
 */
int rk_extdb_list(rk_extdb *db, rk_value **ret);
/* The active row of identifier, else its latest row.  -ENOENT when none. */
int rk_extdb_get(rk_extdb *db, const char *identifier, rk_value **ret);

/*
 * Verifies the invariants (extdb.c lists them); every violation goes to
 * diag naming the row and identifier.  Returns 0 when consistent, -EBADMSG
 * when not, or another negative errno when the checks could not run.
 */
int rk_extdb_check(rk_extdb *db, rk_diag *diag);

const char *rk_extdb_state_name(rk_extdb_state s); /* "activated enabled" */
const char *rk_extdb_state_id(rk_extdb_state s);   /* "activated_enabled" */
rk_extdb_state rk_extdb_state_from_id(const char *id);
const char *rk_extdb_error_name(rk_extdb_error e); /* "extensionNotFound" */
/* CFBundleVersion order: dot-separated numbers, missing parts are 0. */
int rk_extdb_version_compare(const char *a, const char *b);
