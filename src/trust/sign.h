/* SPDX-License-Identifier: MIT */
/*
 * Signing and verifying bundles.
 *
 * A signed bundle carries, in Contents/_CodeSignature/:
 *   CodeDirectory       the code directory (codedir.h) as a binary plist,
 *   CodeSignature       a detached CMS SignedData (DER) over the exact
 *                       CodeDirectory bytes, by the developer certificate,
 *                       with the chain up to (not including) the root,
 *   Entitlements.plist  optional; covered because its SHA-256 is in the
 *                       code directory.
 * The Team ID is the developer certificate's subject OU; its CN reads
 * "ringkit Developer: NAME (TEAMID)".  Restricted entitlements must be
 * granted by the certificate (entitlements.h, RK_GRANT_OID).
 *
 * Verification checks, in order, and reports every problem it finds (one
 * diagnostic each, naming the file or certificate):
 *   1. the signature files exist                         -ENOENT
 *   2. the certificate chains to a root of the trust
 *      store (a directory of PEM files: certificates and
 *      CRLs), with the codeSigning extended key usage,
 *      honouring CRLs present in the store:  untrusted  -EKEYREJECTED
 *                                            expired or not yet valid -EKEYEXPIRED
 *                                            revoked    -EKEYREVOKED
 *   3. the CMS signature covers these CodeDirectory bytes -EBADMSG
 *   4. the files match the code directory (each added,
 *      removed or changed file named), the identifier is
 *      the bundle's CFBundleIdentifier, the code directory's
 *      team is the certificate's                          -EBADMSG
 *   5. nested bundles verify on their own (same rules)    their error
 *   6. entitlements are well formed and granted           -EBADMSG / -EPERM
 *   7. an expected team, when given, is the signer's      -EKEYREJECTED
 * The return value is the error of the first failed step.
 */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "shared/diag.h"
#include "trust/codedir.h"
#include "value/value.h"

#define RK_SIGN_ALLOW_UNGRANTED 1u /* sign even when the certificate does not grant an entitlement (tests) */

/*
 * Seal and sign the bundle at bundle_path.  key_pem/cert_pem are PEM files
 * (the developer key and certificate); chain_pem (may be NULL) holds the
 * intermediates to embed; entitlements_plist (may be NULL) is copied to
 * Contents/_CodeSignature/Entitlements.plist (else an existing one there is
 * used).  Nested bundles must be signed first.  Errors: -EINVAL, -ENOENT
 * (a file or a nested bundle's signature missing), -EBADMSG (unreadable
 * key/certificate/plist, bundle without CFBundleIdentifier, certificate
 * without Team ID, bad entitlements), -EPERM (entitlement not granted),
 * -EKEYREJECTED (key does not match certificate), -EIO, -ENOMEM; each in diag.
 */
int rk_sign_bundle(const char *bundle_path, const char *key_pem, const char *cert_pem, const char *chain_pem,
                   const char *entitlements_plist, unsigned flags, rk_diag *diag);

typedef enum rk_verdict {
        RK_VERDICT_VALID,
        RK_VERDICT_UNSIGNED,
        RK_VERDICT_TAMPERED,
        RK_VERDICT_UNTRUSTED,
        RK_VERDICT_EXPIRED,
        RK_VERDICT_REVOKED,
        RK_VERDICT_NOT_ENTITLED,
} rk_verdict;

typedef struct rk_signing_info {
        rk_verdict verdict;
        char *identifier;     /* signed identifier */
        char *team;           /* signer's Team ID (subject OU) */
        char *signer;         /* signer subject, one line */
        char *issuer;         /* signer issuer, one line */
        time_t not_before, not_after;
        size_t n_files;       /* entries in the code directory */
        rk_value *entitlements; /* dictionary, NULL when none */
        rk_value *granted;    /* array of grants from the certificate, NULL when none */
        /*
         * The signed code directory, set once the CMS signature over it checked
         * out (even when the chain or the files did not): a launcher compares
         * the bytes it is about to run with rk_codedir_find(codedir, path)->hash.
         */
        rk_codedir *codedir;
} rk_signing_info;

rk_signing_info *rk_signing_info_free(rk_signing_info *i);
static inline void rk_signing_info_freep(rk_signing_info **i) {
        if (*i)
                rk_signing_info_free(*i);
}
const char *rk_verdict_name(rk_verdict v); /* "valid", "tampered", ... */

/*
 * Verify the bundle (steps above).  trust_dir may be NULL only with
 * RK_VERIFY_NO_TRUST (read the signature without judging the chain: `info`).
 * expected_team may be NULL.  *ret (may be NULL) gets what could be read
 * even on failure (NULL for -ENOENT).  Errors: as above, plus -EINVAL,
 * -ENOMEM, -EIO, and -ENOENT/-ENOTDIR/-EACCES when there is no bundle
 * directory at the path ("cannot open bundle" in diag).
 */
#define RK_VERIFY_NO_TRUST 1u
int rk_verify_bundle(const char *bundle_path, const char *trust_dir, const char *expected_team, unsigned flags,
                     rk_signing_info **ret, rk_diag *diag);

/* Grants of a certificate's RK_GRANT_OID extension as an array (NULL: none).  0, -EBADMSG, -ENOMEM. */
struct x509_st;
int rk_cert_grants(const struct x509_st *cert, rk_value **ret);
/* DER encoding of the grant extension's value for an array of strings.  0, -EINVAL, -ENOMEM. */
int rk_cert_grants_encode(const rk_value *names, unsigned char **ret, size_t *ret_len);
