/* SPDX-License-Identifier: MIT */
/*
 * Code directories: the sealed list of a bundle's files.
 *
 * A code directory holds the SHA-256 of every regular file under a bundle
 * directory, by relative path ("Contents/MacOS/Foo"), sorted bytewise.
 * Symlinks are recorded as links with their target and never followed;
 * directories are implied by the paths.  Contents/_CodeSignature/ of the
 * bundle itself is left out (it holds the seal).  A nested bundle
 * (Contents/Library/SystemExtensions/ *.dext|*.systemextension,
 * Contents/PlugIns/ *.kext) is sealed by its own signature: the parent
 * records only <nested>/Contents/_CodeSignature/CodeDirectory, so changing a
 * nested file shows up when the nested bundle is verified, and re-signing
 * the nested bundle shows up in its parent.  Sockets, FIFOs and devices make
 * a bundle unsealable (-EBADMSG).
 *
 * Serialized form (a plist dictionary; binary on disk):
 *   RKCodeDirectoryVersion  integer 1
 *   CFBundleIdentifier      string
 *   TeamIdentifier          string (absent for ad-hoc use)
 *   EntitlementsHash        data(32), SHA-256 of Entitlements.plist bytes (absent: none)
 *   Files                   dict: path -> data(32) | { symlink: target }
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/diag.h"
#include "value/value.h"

#define RK_CODEDIR_VERSION 1
#define RK_CODEDIR_MAX_FILES 65536
#define RK_CODEDIR_MAX_DEPTH 32
#define RK_SIGNATURE_DIR "Contents/_CodeSignature"
#define RK_CODEDIR_FILE "Contents/_CodeSignature/CodeDirectory"
#define RK_SIGNATURE_FILE "Contents/_CodeSignature/CodeSignature"
#define RK_ENTITLEMENTS_FILE "Contents/_CodeSignature/Entitlements.plist"

typedef struct rk_codedir_entry {
        char *path;
        char *symlink;      /* target when the entry is a symlink, else NULL */
        uint8_t hash[32];   /* SHA-256 of the contents (regular files) */
} rk_codedir_entry;

typedef struct rk_codedir {
        char *identifier;   /* NULL until set */
        char *team;         /* NULL until set */
        bool has_entitlements;
        uint8_t entitlements_hash[32];
        rk_codedir_entry *entries; /* sorted by path */
        size_t n_entries;
        char **nested;      /* relative paths of nested bundles found (not serialized) */
        size_t n_nested;
} rk_codedir;

/*
 * Hash every file of the bundle at `path`.  identifier/team/entitlements are
 * left unset.  Errors: -EINVAL, -ENOENT/-ENOTDIR/-EACCES (from opening; also
 * in diag), -EBADMSG (a special file, or nesting past RK_CODEDIR_MAX_DEPTH,
 * named in diag), -E2BIG (more than RK_CODEDIR_MAX_FILES), -ENOMEM.
 */
int rk_codedir_new_from_bundle(const char *path, rk_codedir **ret, rk_diag *diag);
rk_codedir *rk_codedir_free(rk_codedir *cd); /* returns NULL */
static inline void rk_codedir_freep(rk_codedir **cd) {
        if (*cd)
                rk_codedir_free(*cd);
}

/* 0 or -EINVAL/-ENOMEM/-EIO. */
int rk_codedir_set_identity(rk_codedir *cd, const char *identifier, const char *team);

/* Errors: -EINVAL, -ENOMEM. */
int rk_codedir_to_value(const rk_codedir *cd, rk_value **ret);
/* Errors: -EINVAL, -EBADMSG (the bad key named in diag under `name`), -ENOMEM. */
int rk_codedir_from_value(const rk_value *v, const char *name, rk_codedir **ret, rk_diag *diag);

/* Look an entry up by path; NULL when absent. */
const rk_codedir_entry *rk_codedir_find(const rk_codedir *cd, const char *path);

/*
 * Compare the signed (`expected`) directory with one computed now
 * (`actual`).  Each difference is its own error in diag, naming the path:
 * "file added: P", "file removed: P", "file changed: P", "symlink changed:
 * P (now -> T, signed -> S)", "P: was a symlink, now a file" (and back),
 * "identifier changed", "entitlements changed".  `bundle` names the bundle
 * in the diagnostics.  Returns 0 when identical, -EBADMSG otherwise,
 * -EINVAL, -ENOMEM.
 */
int rk_codedir_compare(const rk_codedir *expected, const rk_codedir *actual, const char *bundle, rk_diag *diag);

/*
 * SHA-256 of the regular file `path` relative to `dirfd` (AT_FDCWD for
 * none), not following a final symlink.  Errors: from openat(2), -EBADMSG
 * when it is no regular file, -EIO, -ENOMEM.
 */
int rk_codedir_hash_file(int dirfd, const char *path, uint8_t out[32]);
