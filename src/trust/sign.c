/* SPDX-License-Identifier: MIT */
/*
 * Signing and verification of bundles (rules and errnos in sign.h).
 *
 * Everything the verifier judges comes from the bytes it read once: the
 * CodeDirectory bytes are read into memory, checked against the CMS
 * signature, and then parsed from that same buffer, so nothing can change
 * between the check and the use.  OpenSSL objects are released through
 * _cleanup_ helpers defined below; errors from OpenSSL are reported in
 * diag with OpenSSL's own reason string.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "catalogue/bundle.h"
#include "shared/macro.h"
#include "trust/codedir.h"
#include "trust/entitlements.h"
#include "trust/sign.h"
#include "value/plist.h"

#define MAX_SIG_FILE (4u * 1024 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(CMS_ContentInfo *, CMS_ContentInfo_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
static inline void x509_stack_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}
static inline void x509_stack_shallow_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_free(*s);
}

static const char *ssl_reason(void) {
        unsigned long e = ERR_peek_last_error();
        const char *s = e ? ERR_reason_error_string(e) : NULL;
        return s ?: "unknown OpenSSL error";
}

/* Read a whole file (at most max bytes) relative to dirfd. */
static int read_all(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_(closep) int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((size_t) st.st_size > max)
                return -EFBIG;
        _cleanup_(freep) char *buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* Write dir/name through a temporary file and rename(2), so readers see old or new. */
static int write_atomic(int dirfd, const char *name, const void *p, size_t len) {
        char tmp[256];
        if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int) sizeof tmp)
                return -ENAMETOOLONG;
        _cleanup_(closep) int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        for (size_t n = 0; n < len;) {
                ssize_t k = write(fd, (const char *) p + n, len - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        unlinkat(dirfd, tmp, 0);
                        return r;
                }
                n += (size_t) k;
        }
        if (fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
                int r = -errno;
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        return 0;
}

static char *name_oneline(const X509_NAME *n) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        if (!b || X509_NAME_print_ex(b, n, 0, (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT) < 0)
                return NULL;
        char *p = NULL;
        long len = BIO_get_mem_data(b, &p);
        return len >= 0 ? strndup(p, (size_t) len) : NULL;
}

static char *cert_team(const X509 *c) {
        const X509_NAME *n = X509_get_subject_name(c);
        int i = X509_NAME_get_index_by_NID(n, NID_organizationalUnitName, -1);
        if (i < 0)
                return NULL;
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
        unsigned char *u = NULL;
        int len = ASN1_STRING_to_UTF8(&u, s);
        if (len < 0)
                return NULL;
        char *t = strndup((char *) u, (size_t) len);
        OPENSSL_free(u);
        return t;
}

static size_t der_len_size(size_t n) {
        size_t s = 1;
        if (n >= 128)
                for (size_t m = n; m; m >>= 8)
                        s++;
        return s;
}

static unsigned char *der_put_header(unsigned char *p, unsigned char tag, size_t n) {
        *p++ = tag;
        if (n < 128) {
                *p++ = (unsigned char) n;
                return p;
        }
        size_t bytes = der_len_size(n) - 1;
        *p++ = (unsigned char) (0x80 | bytes);
        for (size_t i = bytes; i > 0; i--)
                *p++ = (unsigned char) (n >> (8 * (i - 1)));
        return p;
}

int rk_cert_grants_encode(const rk_value *names, unsigned char **ret, size_t *ret_len) {
        if (!rk_value_is(names, RK_TYPE_ARRAY) || !ret || !ret_len)
                return -EINVAL;
        size_t body = 0;
        for (size_t i = 0; i < rk_array_size(names); i++) {
                const rk_value *s = rk_array_get(names, i);
                if (!rk_value_is(s, RK_TYPE_STRING))
                        return -EINVAL;
                body += 1 + der_len_size(rk_string_len(s)) + rk_string_len(s);
        }
        size_t total = 1 + der_len_size(body) + body;
        unsigned char *buf = malloc(total), *p;
        if (!buf)
                return -ENOMEM;
        p = der_put_header(buf, 0x30, body);
        for (size_t i = 0; i < rk_array_size(names); i++) {
                const rk_value *s = rk_array_get(names, i);
                p = der_put_header(p, V_ASN1_UTF8STRING, rk_string_len(s));
                memcpy(p, rk_string(s), rk_string_len(s));
                p += rk_string_len(s);
        }
        *ret = buf;
        *ret_len = total;
        return 0;
}

int rk_cert_grants(const X509 *cert, rk_value **ret) {
        if (!cert || !ret)
                return -EINVAL;
        *ret = NULL;
        ASN1_OBJECT *obj = OBJ_txt2obj(RK_GRANT_OID, 1);
        if (!obj)
                return -ENOMEM;
        int i = X509_get_ext_by_OBJ(cert, obj, -1);
        ASN1_OBJECT_free(obj);
        if (i < 0)
                return 0;
        const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(cert, i));
        const unsigned char *p = ASN1_STRING_get0_data(os);
        long len, total = ASN1_STRING_length(os);
        int tag, cls;
        if (ASN1_get_object(&p, &len, &tag, &cls, total) & 0x80 || tag != V_ASN1_SEQUENCE)
                return -EBADMSG;
        const unsigned char *end = p + len;
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        int r = rk_value_new_array(&a);
        while (r >= 0 && p < end) {
                if (ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80 || tag != V_ASN1_UTF8STRING ||
                    cls != V_ASN1_UNIVERSAL)
                        return -EBADMSG;
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                r = rk_value_new_stringn((const char *) p, (size_t) len, &s);
                if (r >= 0)
                        r = rk_array_append(a, s);
                p += len;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

static int pem_bio(const char *path, BIO **ret, rk_diag *diag) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        int r = read_all(AT_FDCWD, path, MAX_SIG_FILE, &buf, &len);
        if (r < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = path }, "cannot read: %s", strerror(-r));
                return r;
        }
        BIO *b = BIO_new(BIO_s_mem());
        if (!b || BIO_write(b, buf, (int) len) != (int) len) {
                BIO_free(b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

static int load_key(const char *path, EVP_PKEY **ret, rk_diag *diag) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        int r = pem_bio(path, &b, diag);
        if (r < 0)
                return r;
        if (!(*ret = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL))) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = path }, "no PEM private key: %s", ssl_reason());
                return -EBADMSG;
        }
        return 0;
}

/* All certificates of a PEM file, in order; at least one. */
static int load_certs(const char *path, STACK_OF(X509) **ret, rk_diag *diag) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        int r = pem_bio(path, &b, diag);
        if (r < 0)
                return r;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *s = sk_X509_new_null();
        if (!s)
                return -ENOMEM;
        X509 *c;
        while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)))
                if (!sk_X509_push(s, c)) {
                        X509_free(c);
                        return -ENOMEM;
                }
        ERR_clear_error();
        if (sk_X509_num(s) == 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = path }, "no PEM certificate");
                return -EBADMSG;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int sha256(const void *p, size_t n, uint8_t out[32]) {
        return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* Entitlements for signing: copy `src` in (or use the one present), check it, record its hash. */
static int sign_entitlements(int sigfd, const char *src, const X509 *cert, const char *signer, unsigned flags,
                             rk_codedir *cd, rk_diag *diag) {
        _cleanup_(freep) char *buf = NULL;
        _cleanup_(rk_value_unrefp) rk_value *ents = NULL, *grants = NULL;
        const char *name = src ?: RK_ENTITLEMENTS_FILE;
        size_t len = 0;
        int r = src ? read_all(AT_FDCWD, src, RK_PLIST_MAX_SIZE, &buf, &len)
                    : read_all(sigfd, "Entitlements.plist", RK_PLIST_MAX_SIZE, &buf, &len);
        if (r == -ENOENT && !src)
                return 0;
        if (r < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = name }, "cannot read entitlements: %s",
                            strerror(-r));
                return r;
        }
        r = rk_plist_parse(buf, len, name, &ents, diag);
        if (r < 0)
                return r;
        r = rk_entitlements_validate(ents, name, diag);
        if (r < 0)
                return r;
        r = rk_cert_grants(cert, &grants);
        if (r < 0)
                return r;
        r = rk_entitlements_check_restricted(ents, grants, signer, diag);
        if (r < 0 && !(flags & RK_SIGN_ALLOW_UNGRANTED))
                return r;
        if (src && (r = write_atomic(sigfd, "Entitlements.plist", buf, len)) < 0)
                return r;
        cd->has_entitlements = true;
        return sha256(buf, len, cd->entitlements_hash);
}

static int check_nested_signed(const rk_codedir *cd, const char *bname, rk_diag *diag) {
        int r = 0;
        for (size_t i = 0; i < cd->n_nested; i++) {
                char *p = NULL;
                if (asprintf(&p, "%s/%s", cd->nested[i], RK_CODEDIR_FILE) < 0)
                        return -ENOMEM;
                if (!rk_codedir_find(cd, p)) {
                        rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bname },
                                    "nested bundle %s is not signed: sign it first", cd->nested[i]);
                        r = -ENOENT;
                }
                free(p);
        }
        return r;
}

/* Serialize the code directory, sign it, write both files. */
static int seal(int sigfd, const rk_codedir *cd, X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
                const char *bname, rk_diag *diag) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        _cleanup_(freep) char *bin = NULL;
        size_t len = 0;
        int r = rk_codedir_to_value(cd, &v);
        if (r >= 0)
                r = rk_plist_to_binary(v, &bin, &len);
        if (r < 0)
                return r;
        _cleanup_(BIO_freep) BIO *in = BIO_new_mem_buf(bin, (int) len), *out = BIO_new(BIO_s_mem());
        if (!in || !out)
                return -ENOMEM;
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms =
                CMS_sign(cert, key, chain, in, CMS_DETACHED | CMS_BINARY);
        if (!cms || i2d_CMS_bio(out, cms) != 1) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bname }, "CMS signing failed: %s",
                            ssl_reason());
                return -EIO;
        }
        char *sig = NULL;
        long siglen = BIO_get_mem_data(out, &sig);
        r = write_atomic(sigfd, "CodeDirectory", bin, len);
        if (r >= 0)
                r = write_atomic(sigfd, "CodeSignature", sig, (size_t) siglen);
        if (r < 0)
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bname }, "cannot write %s: %s",
                            RK_SIGNATURE_DIR, strerror(-r));
        return r;
}

static int open_sigdir(const char *bundle_path, bool create) {
        _cleanup_(closep) int bfd = open(bundle_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0)
                return -errno;
        if (create && mkdirat(bfd, RK_SIGNATURE_DIR, 0755) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(bfd, RK_SIGNATURE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int rk_sign_bundle(const char *bundle_path, const char *key_pem, const char *cert_pem, const char *chain_pem,
                   const char *entitlements_plist, unsigned flags, rk_diag *diag) {
        if (!bundle_path || !key_pem || !cert_pem)
                return -EINVAL;
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        int r = rk_bundle_load(bundle_path, &b, NULL);
        if (!b || !b->identifier) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bundle_path },
                            "no bundle with a CFBundleIdentifier here: cannot sign");
                return r < 0 && r != -EBADMSG ? r : -EBADMSG;
        }
        const char *bname = b->identifier;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL, *chain = NULL;
        if ((r = load_key(key_pem, &key, diag)) < 0 || (r = load_certs(cert_pem, &certs, diag)) < 0 ||
            (chain_pem && (r = load_certs(chain_pem, &chain, diag)) < 0))
                return r;
        X509 *cert = sk_X509_value(certs, 0);
        if (X509_check_private_key(cert, key) != 1) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = key_pem }, "key does not match certificate %s",
                            cert_pem);
                return -EKEYREJECTED;
        }
        _cleanup_(freep) char *team = cert_team(cert), *signer = name_oneline(X509_get_subject_name(cert));
        if (!team) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = cert_pem },
                            "certificate has no Team ID (subject OU)");
                return -EBADMSG;
        }
        _cleanup_(rk_codedir_freep) rk_codedir *cd = NULL;
        if ((r = rk_codedir_new_from_bundle(bundle_path, &cd, diag)) < 0 ||
            (r = check_nested_signed(cd, bname, diag)) < 0 || (r = rk_codedir_set_identity(cd, bname, team)) < 0)
                return r;
        _cleanup_(closep) int sigfd = open_sigdir(bundle_path, true);
        if (sigfd < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bname }, "cannot create %s: %s",
                            RK_SIGNATURE_DIR, strerror(-sigfd));
                return sigfd;
        }
        r = sign_entitlements(sigfd, entitlements_plist, cert, signer, flags, cd, diag);
        if (r < 0)
                return r;
        return seal(sigfd, cd, cert, key, chain, bname, diag);
}

rk_signing_info *rk_signing_info_free(rk_signing_info *i) {
        if (!i)
                return NULL;
        free(i->identifier);
        free(i->team);
        free(i->signer);
        free(i->issuer);
        rk_value_unref(i->entitlements);
        rk_value_unref(i->granted);
        rk_codedir_free(i->codedir);
        free(i);
        return NULL;
}

const char *rk_verdict_name(rk_verdict v) {
        static const char *const names[] = {
                [RK_VERDICT_VALID] = "valid",         [RK_VERDICT_UNSIGNED] = "unsigned",
                [RK_VERDICT_TAMPERED] = "tampered",   [RK_VERDICT_UNTRUSTED] = "untrusted",
                [RK_VERDICT_EXPIRED] = "expired",     [RK_VERDICT_REVOKED] = "revoked",
                [RK_VERDICT_NOT_ENTITLED] = "not-entitled",
        };
        return (unsigned) v < ELEMENTSOF(names) ? names[v] : "unknown";
}

static rk_verdict verdict_of(int r) {
        switch (r) {
        case 0: return RK_VERDICT_VALID;
        case -ENOENT: return RK_VERDICT_UNSIGNED;
        case -EKEYREJECTED: return RK_VERDICT_UNTRUSTED;
        case -EKEYEXPIRED: return RK_VERDICT_EXPIRED;
        case -EKEYREVOKED: return RK_VERDICT_REVOKED;
        case -EPERM: return RK_VERDICT_NOT_ENTITLED;
        default: return RK_VERDICT_TAMPERED;
        }
}

/* Add every certificate and CRL of one PEM file to the store. */
static int store_add_file(X509_STORE *store, int dfd, const char *name, bool *has_crl) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        int r = read_all(dfd, name, MAX_SIG_FILE, &buf, &len);
        if (r < 0)
                return r == -EBADMSG ? 0 : r; /* not a regular file: skip */
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(buf, (int) len);
        if (!b)
                return -ENOMEM;
        STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
        if (!infos)
                return -EBADMSG;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
                X509_INFO *in = sk_X509_INFO_value(infos, i);
                if (in->x509)
                        X509_STORE_add_cert(store, in->x509);
                if (in->crl) {
                        X509_STORE_add_crl(store, in->crl);
                        *has_crl = true;
                }
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        ERR_clear_error();
        return 0;
}

/* CRLs are honoured when present: a CA without one in the store is not an error. */
static int verify_cb(int ok, X509_STORE_CTX *ctx) {
        int e = X509_STORE_CTX_get_error(ctx);
        if (!ok && (e == X509_V_ERR_UNABLE_TO_GET_CRL || e == X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER))
                return 1;
        return ok;
}

static int load_store(const char *dir, X509_STORE **ret, rk_diag *diag) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        if (!store)
                return -ENOMEM;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                int r = -errno;
                if (dfd >= 0)
                        close(dfd);
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = dir }, "cannot open trust store: %s",
                            strerror(-r));
                return r;
        }
        bool has_crl = false;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && store_add_file(store, dirfd(d), de->d_name, &has_crl) == -ENOMEM)
                        break;
        closedir(d);
        X509_STORE_set_verify_cb(store, verify_cb);
        if (has_crl)
                X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        *ret = TAKE_PTR(store);
        return 0;
}

static void fmt_time(const ASN1_TIME *t, char *buf, size_t n) {
        struct tm tm;
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
                snprintf(buf, n, "?");
}

/* Chain to a trusted root, codeSigning EKU; map the failure to an errno. */
static int check_chain(X509_STORE *store, X509 *signer, STACK_OF(X509) *untrusted, const char *bname,
                       rk_diag *diag) {
        const rk_where w = { .bundle = bname };
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        if (!ctx || X509_STORE_CTX_init(ctx, store, signer, untrusted) != 1)
                return -ENOMEM;
        if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);
                X509 *at = X509_STORE_CTX_get_current_cert(ctx) ?: signer;
                _cleanup_(freep) char *subj = name_oneline(X509_get_subject_name(at));
                char tb[32];
                switch (e) {
                case X509_V_ERR_CERT_HAS_EXPIRED:
                        fmt_time(X509_get0_notAfter(at), tb, sizeof tb);
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "certificate expired: %s (not after %s)", subj, tb);
                        return -EKEYEXPIRED;
                case X509_V_ERR_CERT_NOT_YET_VALID:
                        fmt_time(X509_get0_notBefore(at), tb, sizeof tb);
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "certificate not yet valid: %s (not before %s)", subj, tb);
                        return -EKEYEXPIRED;
                case X509_V_ERR_CERT_REVOKED:
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "certificate revoked: %s", subj);
                        return -EKEYREVOKED;
                default:
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "certificate untrusted: %s: %s", subj,
                                    X509_verify_cert_error_string(e));
                        return -EKEYREJECTED;
                }
        }
        if (!(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
            !(X509_get_extended_key_usage(signer) & XKU_CODE_SIGN)) {
                _cleanup_(freep) char *subj = name_oneline(X509_get_subject_name(signer));
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "certificate untrusted: %s: not for code signing", subj);
                return -EKEYREJECTED;
        }
        return 0;
}

typedef struct verify {
        const char *path, *bname, *trust;
        unsigned flags;
        rk_signing_info *info;
        rk_diag *diag;
        int rc; /* first error */
} verify;

static void fail(verify *v, int r) {
        if (v->rc == 0 && r < 0)
                v->rc = r;
}

static int read_sigfile(verify *v, int sigfd, const char *name, char **buf, size_t *len) {
        int r = read_all(sigfd, name, MAX_SIG_FILE, buf, len);
        if (r == -ENOENT)
                rk_diag_add(v->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v->bname }, "not signed: %s/%s missing",
                            RK_SIGNATURE_DIR, name);
        else if (r < 0)
                rk_diag_add(v->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v->bname }, "cannot read %s/%s: %s",
                            RK_SIGNATURE_DIR, name, strerror(-r));
        return r;
}

static void fill_signer(verify *v, X509 *signer) {
        rk_signing_info *i = v->info;
        i->team = cert_team(signer);
        i->signer = name_oneline(X509_get_subject_name(signer));
        i->issuer = name_oneline(X509_get_issuer_name(signer));
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notBefore(signer), &tm) == 1)
                i->not_before = timegm(&tm);
        if (ASN1_TIME_to_tm(X509_get0_notAfter(signer), &tm) == 1)
                i->not_after = timegm(&tm);
        if (rk_cert_grants(signer, &i->granted) < 0)
                rk_diag_add(v->diag, RK_DIAG_WARNING, &(rk_where){ .bundle = v->bname },
                            "certificate %s: malformed entitlement grant extension", i->signer);
}

/* Steps 2 and 3: the chain, then the signature over the CodeDirectory bytes. */
static int check_cms(verify *v, const char *sig, size_t siglen, const char *cd, size_t cdlen, const char *trust) {
        const rk_where w = { .bundle = v->bname };
        _cleanup_(BIO_freep) BIO *in = BIO_new_mem_buf(sig, (int) siglen), *dc = BIO_new_mem_buf(cd, (int) cdlen);
        if (!in || !dc)
                return -ENOMEM;
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = d2i_CMS_bio(in, NULL);
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = cms ? CMS_get1_certs(cms) : NULL;
        _cleanup_(x509_stack_shallow_freep) STACK_OF(X509) *signers = NULL;
        if (cms && CMS_set1_signers_certs(cms, certs, 0) >= 0)
                signers = CMS_get0_signers(cms);
        if (!signers || sk_X509_num(signers) != 1) {
                rk_diag_add(v->diag, RK_DIAG_ERROR, &w, "%s is not a CMS signature with one signer", RK_SIGNATURE_FILE);
                return -EBADMSG;
        }
        X509 *signer = sk_X509_value(signers, 0);
        fill_signer(v, signer);
        if (!(v->flags & RK_VERIFY_NO_TRUST)) {
                _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
                int r = load_store(trust, &store, v->diag);
                if (r < 0)
                        return r;
                fail(v, check_chain(store, signer, certs, v->bname, v->diag));
        }
        if (CMS_verify(cms, NULL, NULL, dc, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_DETACHED) != 1) {
                rk_diag_add(v->diag, RK_DIAG_ERROR, &w, "%s does not sign %s (swapped or altered): %s",
                            RK_SIGNATURE_FILE, RK_CODEDIR_FILE, ssl_reason());
                ERR_clear_error();
                return -EBADMSG;
        }
        return 0;
}

/* Step 4: files, identifier and team against the signed code directory. */
static int check_files(verify *v, const rk_codedir *expected, const char *identifier, const char *ents,
                       size_t ents_len) {
        const rk_where w = { .bundle = v->bname };
        if (!streq_ptr(expected->team, v->info->team)) {
                rk_diag_add(v->diag, RK_DIAG_ERROR, &w, "code directory is for team %s, certificate is team %s",
                            expected->team ?: "(none)", v->info->team ?: "(none)");
                fail(v, -EBADMSG);
        }
        _cleanup_(rk_codedir_freep) rk_codedir *actual = NULL;
        int r = rk_codedir_new_from_bundle(v->path, &actual, v->diag);
        if (r >= 0)
                r = rk_codedir_set_identity(actual, identifier, expected->team);
        if (r >= 0 && ents) {
                actual->has_entitlements = true;
                r = sha256(ents, ents_len, actual->entitlements_hash);
        }
        if (r < 0)
                return r;
        fail(v, rk_codedir_compare(expected, actual, v->bname, v->diag));
        /* Step 5: nested bundles carry their own seal. */
        for (size_t i = 0; i < actual->n_nested; i++) {
                _cleanup_(freep) char *sub = NULL;
                if (asprintf(&sub, "%s/%s", v->path, actual->nested[i]) < 0)
                        return -ENOMEM;
                fail(v, rk_verify_bundle(sub, v->trust, NULL, v->flags, NULL, v->diag));
        }
        return 0;
}

/* Step 6: the entitlements the signature covers must be well formed and granted. */
static void check_entitlements(verify *v, const char *ents, size_t len) {
        if (!ents)
                return;
        int r = rk_plist_parse(ents, len, RK_ENTITLEMENTS_FILE, &v->info->entitlements, v->diag);
        if (r >= 0)
                r = rk_entitlements_validate(v->info->entitlements, RK_ENTITLEMENTS_FILE, v->diag);
        if (r < 0) {
                fail(v, -EBADMSG);
                return;
        }
        size_t first = v->diag ? v->diag->n : 0;
        fail(v, rk_entitlements_check_restricted(v->info->entitlements, v->info->granted, v->info->signer, v->diag));
        /* name the bundle too: with nested bundles the key alone is ambiguous */
        for (size_t i = first; v->diag && i < v->diag->n; i++)
                if (!v->diag->items[i].bundle)
                        v->diag->items[i].bundle = strdup(v->bname);
}

/* The signature directory holds our three files and nothing else. */
static int check_sigdir(verify *v, int sigfd) {
        int fd = fcntl(sigfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return -errno;
        }
        rewinddir(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *n = de->d_name;
                if (streq(n, ".") || streq(n, "..") || streq(n, "CodeDirectory") || streq(n, "CodeSignature") ||
                    streq(n, "Entitlements.plist"))
                        continue;
                rk_diag_add(v->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v->bname }, "file added: %s/%s",
                            RK_SIGNATURE_DIR, n);
                fail(v, -EBADMSG);
        }
        closedir(d);
        return 0;
}

static int verify_signed(verify *v, int sigfd, const char *identifier, const char *expected_team) {
        _cleanup_(freep) char *cd = NULL, *sig = NULL, *ents = NULL;
        size_t cdlen = 0, siglen = 0, entslen = 0;
        int r = read_sigfile(v, sigfd, "CodeDirectory", &cd, &cdlen);
        if (r >= 0)
                r = read_sigfile(v, sigfd, "CodeSignature", &sig, &siglen);
        if (r < 0)
                return r;
        r = read_all(sigfd, "Entitlements.plist", RK_PLIST_MAX_SIZE, &ents, &entslen);
        if (r < 0 && r != -ENOENT) {
                rk_diag_add(v->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v->bname }, "cannot read %s: %s",
                            RK_ENTITLEMENTS_FILE, strerror(-r));
                return r;
        }
        r = check_cms(v, sig, siglen, cd, cdlen, v->trust);
        if (r < 0)
                return r;
        _cleanup_(rk_value_unrefp) rk_value *val = NULL;
        _cleanup_(rk_codedir_freep) rk_codedir *expected = NULL;
        r = rk_plist_parse(cd, cdlen, RK_CODEDIR_FILE, &val, v->diag);
        if (r >= 0)
                r = rk_codedir_from_value(val, RK_CODEDIR_FILE, &expected, v->diag);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        if (!(v->info->identifier = expected->identifier ? strdup(expected->identifier) : NULL) &&
            expected->identifier)
                return -ENOMEM;
        v->info->n_files = expected->n_entries;
        r = check_files(v, expected, identifier, ents, entslen);
        if (r < 0)
                return r;
        r = check_sigdir(v, sigfd);
        if (r < 0)
                return r;
        v->info->codedir = TAKE_PTR(expected);
        check_entitlements(v, ents, entslen);
        if (expected_team && !streq_ptr(expected_team, v->info->team)) {
                rk_diag_add(v->diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v->bname },
                            "signed by team %s, expected team %s", v->info->team ?: "(none)", expected_team);
                fail(v, -EKEYREJECTED);
        }
        return 0;
}

int rk_verify_bundle(const char *bundle_path, const char *trust_dir, const char *expected_team, unsigned flags,
                     rk_signing_info **ret, rk_diag *diag) {
        if (!bundle_path || (!trust_dir && !(flags & RK_VERIFY_NO_TRUST)))
                return -EINVAL;
        if (ret)
                *ret = NULL;
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        (void) rk_bundle_load(bundle_path, &b, NULL);
        const char *identifier = b ? b->identifier : NULL;
        verify v = { .path = bundle_path, .bname = identifier ?: bundle_path, .trust = trust_dir,
                     .flags = flags, .diag = diag };
        struct stat st;
        int r0 = stat(bundle_path, &st) < 0 ? -errno : !S_ISDIR(st.st_mode) ? -ENOTDIR : 0;
        if (r0 < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = bundle_path }, "cannot open bundle: %s",
                            strerror(-r0));
                return r0;
        }
        int sigfd = open_sigdir(bundle_path, false);
        if (sigfd < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .bundle = v.bname }, "not signed: %s: %s",
                            RK_SIGNATURE_DIR, strerror(-sigfd));
                return sigfd == -ENOENT || sigfd == -ENOTDIR ? -ENOENT : sigfd;
        }
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = calloc(1, sizeof *info);
        if (!info) {
                close(sigfd);
                return -ENOMEM;
        }
        v.info = info;
        int r = verify_signed(&v, sigfd, identifier, expected_team);
        close(sigfd);
        fail(&v, r);
        info->verdict = verdict_of(v.rc);
        if (ret && v.rc != -ENOENT)
                *ret = TAKE_PTR(info);
        return v.rc;
}
