/* SPDX-License-Identifier: MIT */
/*
 * ringkit-sign: make a local certificate authority and developer
 * certificates, sign bundles, verify them and print their signing
 * information (docs/signing.md).
 *
 *   ringkit-sign ca create --out DIR [--name N] [--days D] [--issuer CADIR]
 *   ringkit-sign ca crl --ca DIR --revoke CERT... --out FILE [--days D]
 *   ringkit-sign cert create --ca DIR --team TEAMID --name NAME --out DIR
 *                [--days D] [--expired] [--not-yet-valid] [--not-before DAYS]
 *                [--entitlements-allowed PLIST]
 *   ringkit-sign sign --key K --cert C [--chain CH] [--entitlements PLIST] BUNDLE
 *   ringkit-sign verify --trust DIR [--team T] [--json] BUNDLE
 *   ringkit-sign info [--json] BUNDLE
 *
 * Exit codes: 0 success, 1 refused / failed, 2 usage.  Keys are ECDSA P-256,
 * written mode 0600; certificates and CRLs are PEM.  All certificate work is
 * OpenSSL 3 API calls: no openssl(1) is run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "shared/diag.h"
#include "shared/json.h"
#include "shared/macro.h"
#include "trust/entitlements.h"
#include "trust/sign.h"
#include "value/plist.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL *, X509_CRL_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

#define DAY (24L * 60 * 60)

static int err(const char *what) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "ringkit-sign: %s%s%s\n", what, e ? ": " : "", e ? ERR_reason_error_string(e) ?: "" : "");
        return 1;
}

static FILE *open_out(const char *dir, const char *name, mode_t mode) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int) sizeof path)
                return NULL;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0) {
                fprintf(stderr, "ringkit-sign: %s: %m\n", path);
                return NULL;
        }
        FILE *f = fdopen(fd, "w");
        if (!f)
                close(fd);
        return f;
}

static FILE *open_in(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "ringkit-sign: %s: %m\n", path);
                return NULL;
        }
        FILE *f = fdopen(fd, "r");
        if (!f)
                close(fd);
        return f;
}

static X509 *read_cert(const char *path) {
        _cleanup_(fclosep) FILE *f = open_in(path);
        X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f && !c)
                fprintf(stderr, "ringkit-sign: %s: no PEM certificate\n", path);
        return c;
}

static EVP_PKEY *read_key(const char *path) {
        _cleanup_(fclosep) FILE *f = open_in(path);
        EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f && !k)
                fprintf(stderr, "ringkit-sign: %s: no PEM private key\n", path);
        return k;
}

static int write_key_cert(const char *dir, const char *stem, EVP_PKEY *key, X509 *cert) {
        char kn[64], cn[64];
        snprintf(kn, sizeof kn, "%s.key", stem);
        snprintf(cn, sizeof cn, "%s.pem", stem);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "ringkit-sign: %s: %m\n", dir);
                return 1;
        }
        _cleanup_(fclosep) FILE *kf = open_out(dir, kn, 0600);
        _cleanup_(fclosep) FILE *cf = open_out(dir, cn, 0644);
        if (!kf || !cf)
                return 1;
        if (PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) != 1 || PEM_write_X509(cf, cert) != 1)
                return err("cannot write PEM");
        printf("%s/%s\n%s/%s\n", dir, kn, dir, cn);
        return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        int ok = e && X509_add_ext(cert, e, -1) == 1;
        X509_EXTENSION_free(e);
        return ok ? 0 : -1;
}

/* A certificate for `key` named `subject`, issued by issuer/issuer_key (itself when NULL). */
static X509 *new_cert(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, EVP_PKEY *issuer_key, long nb, long na) {
        _cleanup_(X509_freep) X509 *c = X509_new();
        unsigned char serial[8];
        if (!c || RAND_bytes(serial, sizeof serial) != 1)
                return NULL;
        serial[0] &= 0x7f;
        BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
        int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
        BN_free(bn);
        if (!ok || X509_set_version(c, 2) != 1 || X509_set_subject_name(c, subject) != 1 ||
            X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
            !X509_gmtime_adj(X509_getm_notBefore(c), nb) || !X509_gmtime_adj(X509_getm_notAfter(c), na) ||
            X509_set_pubkey(c, key) != 1)
                return NULL;
        (void) issuer_key;
        return TAKE_PTR(c);
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key);

/* A root, or with `issuer_dir` an intermediate (pathlen 0) issued by that CA. */
static int ca_make(const char *out, const char *name, long days, const char *issuer_dir) {
        _cleanup_(X509_freep) X509 *icert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = NULL, *key = EVP_EC_gen("P-256");
        if (issuer_dir && load_ca(issuer_dir, &icert, &ikey) < 0)
                return 1;
        X509_NAME *n = X509_NAME_new();
        if (!key || !n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) name, -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *) "ringkit local", -1, -1, 0)) {
                X509_NAME_free(n);
                return err("cannot make key or name");
        }
        _cleanup_(X509_freep) X509 *cert = new_cert(key, n, icert, ikey, 0, days * DAY);
        X509_NAME_free(n);
        X509 *issuer = icert ?: cert;
        if (!cert ||
            add_ext(cert, issuer, NID_basic_constraints, icert ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE") < 0 ||
            add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
            add_ext(cert, issuer, NID_subject_key_identifier, "hash") < 0 ||
            (icert && add_ext(cert, issuer, NID_authority_key_identifier, "keyid") < 0) ||
            X509_sign(cert, ikey ?: key, EVP_sha256()) <= 0)
                return err("cannot make the CA certificate");
        return write_key_cert(out, "ca", key, cert);
}

static int ca_create(int argc, char **argv) {
        static const struct option opts[] = {
                { "out", required_argument, NULL, 'o' }, { "name", required_argument, NULL, 'n' },
                { "days", required_argument, NULL, 'd' }, { "issuer", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' }, {},
        };
        const char *out = NULL, *name = NULL, *issuer = NULL;
        long days = 3650;
        for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;)
                switch (c) {
                case 'o': out = optarg; break;
                case 'n': name = optarg; break;
                case 'd': days = strtol(optarg, NULL, 10); break;
                case 'i': issuer = optarg; break;
                case 'h': puts("ringkit-sign ca create --out DIR [--name NAME] [--days D] [--issuer CADIR]\n"
                               "Write DIR/ca.key and DIR/ca.pem: a local root for testing and signing to run locally,\n"
                               "or with --issuer an intermediate CA issued by CADIR (pass its ca.pem to sign --chain).");
                          return 0;
                default: return 2;
                }
        if (!out || days <= 0) {
                fprintf(stderr, "ringkit-sign ca create: --out DIR is required\n");
                return 2;
        }
        return ca_make(out, name ?: issuer ? "ringkit Local Intermediate CA" : "ringkit Local Root CA", days, issuer);
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key) {
        char p[4096];
        snprintf(p, sizeof p, "%s/ca.pem", dir);
        *cert = read_cert(p);
        snprintf(p, sizeof p, "%s/ca.key", dir);
        *key = *cert ? read_key(p) : NULL;
        return *cert && *key ? 0 : -1;
}

static int add_grants(X509 *cert, const char *plist) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        rk_diag d;
        rk_diag_init(&d);
        int r = rk_plist_load(plist, &v, &d);
        rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        if (r < 0 || !rk_value_is(v, RK_TYPE_ARRAY)) {
                fprintf(stderr, "ringkit-sign: %s: must be a plist array of entitlement names\n", plist);
                return -1;
        }
        unsigned char *der = NULL;
        size_t len = 0;
        if (rk_cert_grants_encode(v, &der, &len) < 0) {
                fprintf(stderr, "ringkit-sign: %s: every item must be a string\n", plist);
                return -1;
        }
        ASN1_OBJECT *obj = OBJ_txt2obj(RK_GRANT_OID, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e = NULL;
        if (obj && os && ASN1_OCTET_STRING_set(os, der, (int) len))
                e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        r = e && X509_add_ext(cert, e, -1) == 1 ? 0 : -1;
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
        free(der);
        return r;
}

typedef struct cert_args {
        const char *ca, *team, *name, *out, *grants;
        long days, nb, na;
} cert_args;

static int cert_make(const cert_args *a) {
        _cleanup_(X509_freep) X509 *ca = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *cakey = NULL, *key = EVP_EC_gen("P-256");
        if (load_ca(a->ca, &ca, &cakey) < 0 || !key)
                return 1;
        char cn[512];
        snprintf(cn, sizeof cn, "ringkit Developer: %s (%s)", a->name, a->team);
        X509_NAME *n = X509_NAME_new();
        if (!n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *) a->team, -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *) a->name, -1, -1, 0)) {
                X509_NAME_free(n);
                return err("cannot make the subject name");
        }
        _cleanup_(X509_freep) X509 *cert = new_cert(key, n, ca, cakey, a->nb, a->na);
        X509_NAME_free(n);
        if (!cert || add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(cert, ca, NID_ext_key_usage, "codeSigning") < 0 ||
            add_ext(cert, ca, NID_subject_key_identifier, "hash") < 0 ||
            add_ext(cert, ca, NID_authority_key_identifier, "keyid") < 0 ||
            (a->grants && add_grants(cert, a->grants) < 0) || X509_sign(cert, cakey, EVP_sha256()) <= 0)
                return err("cannot make the developer certificate");
        return write_key_cert(a->out, "developer", key, cert);
}

static int cert_create(int argc, char **argv) {
        static const struct option opts[] = {
                { "ca", required_argument, NULL, 'c' }, { "team", required_argument, NULL, 't' },
                { "name", required_argument, NULL, 'n' }, { "out", required_argument, NULL, 'o' },
                { "days", required_argument, NULL, 'd' }, { "expired", no_argument, NULL, 'E' },
                { "not-yet-valid", no_argument, NULL, 'N' }, { "not-before", required_argument, NULL, 'B' },
                { "entitlements-allowed", required_argument, NULL, 'g' }, { "help", no_argument, NULL, 'h' }, {},
        };
        cert_args a = { .days = 365 };
        bool expired = false, future = false;
        long start = 0;
        for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;)
                switch (c) {
                case 'c': a.ca = optarg; break;
                case 't': a.team = optarg; break;
                case 'n': a.name = optarg; break;
                case 'o': a.out = optarg; break;
                case 'd': a.days = strtol(optarg, NULL, 10); break;
                case 'E': expired = true; break;
                case 'N': future = true; break;
                case 'B': start = strtol(optarg, NULL, 10); break;
                case 'g': a.grants = optarg; break;
                case 'h': puts("ringkit-sign cert create --ca DIR --team TEAMID --name NAME --out DIR [--days D]\n"
                               "        [--expired] [--not-yet-valid] [--not-before DAYS] [--entitlements-allowed PLIST]\n"
                               "Write DIR/developer.key and DIR/developer.pem, signed by the CA in --ca.\n"
                               "--not-before DAYS starts the validity DAYS from now (negative: in the past);\n"
                               "--expired and --not-yet-valid make certificates for tests.\n"
                               "--entitlements-allowed: a plist array of restricted entitlements the certificate grants.");
                          return 0;
                default: return 2;
                }
        if (!a.ca || !a.team || !a.name || !a.out || a.days <= 0) {
                fprintf(stderr, "ringkit-sign cert create: --ca, --team, --name and --out are required\n");
                return 2;
        }
        if (!*a.team || strspn(a.team, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(a.team) || strlen(a.team) > 32) {
                fprintf(stderr, "ringkit-sign cert create: --team %s: a Team ID is 1 to 32 upper-case letters and digits "
                                "(Apple's are 10)\n", a.team);
                return 2;
        }
        a.nb = expired ? -2 * DAY : future ? DAY : start * DAY;
        a.na = expired ? -DAY : future ? 2 * DAY : (start + a.days) * DAY;
        return cert_make(&a);
}

static int ca_crl(int argc, char **argv) {
        static const struct option opts[] = {
                { "ca", required_argument, NULL, 'c' }, { "revoke", required_argument, NULL, 'r' },
                { "out", required_argument, NULL, 'o' }, { "days", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' }, {},
        };
        const char *cadir = NULL, *out = NULL, *revoke[64];
        size_t n = 0;
        long days = 30;
        for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;)
                switch (c) {
                case 'c': cadir = optarg; break;
                case 'r':
                        if (n == ELEMENTSOF(revoke))
                                return 2;
                        revoke[n++] = optarg;
                        break;
                case 'o': out = optarg; break;
                case 'd': days = strtol(optarg, NULL, 10); break;
                case 'h': puts("ringkit-sign ca crl --ca DIR [--revoke CERT]... --out FILE [--days D]\n"
                               "Write a CRL (PEM) signed by the CA revoking each CERT; put it in the trust store.");
                          return 0;
                default: return 2;
                }
        if (!cadir || !out || days <= 0) {
                fprintf(stderr, "ringkit-sign ca crl: --ca and --out are required\n");
                return 2;
        }
        _cleanup_(X509_freep) X509 *ca = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *cakey = NULL;
        if (load_ca(cadir, &ca, &cakey) < 0)
                return 1;
        _cleanup_(X509_CRL_freep) X509_CRL *crl = X509_CRL_new();
        ASN1_TIME *now = X509_gmtime_adj(NULL, 0), *next = X509_gmtime_adj(NULL, days * DAY);
        int ok = crl && now && next && X509_CRL_set_version(crl, 1) && X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
                 X509_CRL_set1_lastUpdate(crl, now) && X509_CRL_set1_nextUpdate(crl, next);
        for (size_t i = 0; ok && i < n; i++) {
                _cleanup_(X509_freep) X509 *c = read_cert(revoke[i]);
                X509_REVOKED *rv = c ? X509_REVOKED_new() : NULL;
                ok = rv && X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(c)) &&
                     X509_REVOKED_set_revocationDate(rv, now) && X509_CRL_add0_revoked(crl, rv);
                if (!ok)
                        X509_REVOKED_free(rv);
        }
        ASN1_TIME_free(now);
        ASN1_TIME_free(next);
        if (!ok || !X509_CRL_sort(crl) || X509_CRL_sign(crl, cakey, EVP_sha256()) <= 0)
                return err("cannot make the CRL");
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        _cleanup_(fclosep) FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f || PEM_write_X509_CRL(f, crl) != 1) {
                if (fd >= 0 && !f)
                        close(fd);
                fprintf(stderr, "ringkit-sign: cannot write %s\n", out);
                return 1;
        }
        return 0;
}

static int cmd_sign(int argc, char **argv) {
        static const struct option opts[] = {
                { "key", required_argument, NULL, 'k' }, { "cert", required_argument, NULL, 'c' },
                { "chain", required_argument, NULL, 'C' }, { "entitlements", required_argument, NULL, 'e' },
                { "allow-ungranted", no_argument, NULL, 'U' }, { "help", no_argument, NULL, 'h' }, {},
        };
        const char *key = NULL, *cert = NULL, *chain = NULL, *ents = NULL;
        unsigned flags = 0;
        for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;)
                switch (c) {
                case 'k': key = optarg; break;
                case 'c': cert = optarg; break;
                case 'C': chain = optarg; break;
                case 'e': ents = optarg; break;
                case 'U': flags |= RK_SIGN_ALLOW_UNGRANTED; break;
                case 'h': puts("ringkit-sign sign --key K --cert C [--chain CH] [--entitlements PLIST] BUNDLE\n"
                               "Seal BUNDLE's files into Contents/_CodeSignature and sign them.\n"
                               "--allow-ungranted signs restricted entitlements the certificate does not grant\n"
                               "(verification will refuse the bundle; for tests).");
                          return 0;
                default: return 2;
                }
        if (!key || !cert || optind + 1 != argc) {
                fprintf(stderr, "ringkit-sign sign: --key, --cert and one BUNDLE are required\n");
                return 2;
        }
        rk_diag d;
        rk_diag_init(&d);
        int r = rk_sign_bundle(argv[optind], key, cert, chain, ents, flags, &d);
        rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        if (r < 0) {
                fprintf(stderr, "%s: not signed: %s\n", argv[optind], strerror(-r));
                return 1;
        }
        printf("%s: signed\n", argv[optind]);
        return 0;
}

static void fmt_utc(time_t t, char *buf, size_t n) {
        struct tm tm;
        if (!t || !gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
                snprintf(buf, n, "-");
}

static void json_info(rk_json *j, const rk_signing_info *i) {
        char nb[32], na[32];
        fmt_utc(i->not_before, nb, sizeof nb);
        fmt_utc(i->not_after, na, sizeof na);
        rk_json_key(j, "identifier");
        i->identifier ? rk_json_string(j, i->identifier) : rk_json_null(j);
        rk_json_key(j, "team");
        i->team ? rk_json_string(j, i->team) : rk_json_null(j);
        rk_json_key(j, "signer");
        i->signer ? rk_json_string(j, i->signer) : rk_json_null(j);
        rk_json_key(j, "issuer");
        i->issuer ? rk_json_string(j, i->issuer) : rk_json_null(j);
        rk_json_key(j, "not_before");
        rk_json_string(j, nb);
        rk_json_key(j, "not_after");
        rk_json_string(j, na);
        rk_json_key(j, "files");
        rk_json_uint(j, i->n_files);
        rk_json_key(j, "entitlements");
        i->entitlements ? rk_json_value(j, i->entitlements) : rk_json_null(j);
}

static void text_info(const char *bundle, const rk_signing_info *i) {
        char nb[32], na[32];
        fmt_utc(i->not_before, nb, sizeof nb);
        fmt_utc(i->not_after, na, sizeof na);
        printf("%s\n  identifier: %s\n  team: %s\n  signer: %s\n  issuer: %s\n  valid: %s to %s\n  files: %zu\n",
               bundle, i->identifier ?: "-", i->team ?: "-", i->signer ?: "-", i->issuer ?: "-", nb, na, i->n_files);
        if (i->entitlements) {
                _cleanup_(freep) char *s = rk_value_to_short_string(i->entitlements, 4096);
                printf("  entitlements: %s\n", s ?: "?");
        } else
                printf("  entitlements: none\n");
}

static int report(const char *bundle, int r, const rk_signing_info *i, const rk_diag *d, bool json, bool verify) {
        if (!json) {
                if (verify)
                        printf("%s: %s\n", bundle, r == 0 ? "valid" : "refused");
                else if (i)
                        text_info(bundle, i);
                for (size_t k = 0; k < d->n; k++)
                        rk_diag_item_print(&d->items[k], verify && r < 0 ? stdout : stderr);
                return r == 0 || (!verify && i) ? 0 : 1;
        }
        rk_json j;
        rk_json_init(&j, stdout);
        rk_json_begin_object(&j);
        rk_json_key(&j, "bundle");
        rk_json_string(&j, bundle);
        rk_json_key(&j, "verdict");
        rk_json_string(&j, i ? rk_verdict_name(i->verdict) : r == -ENOENT ? "unsigned" : "error");
        if (i)
                json_info(&j, i);
        rk_json_key(&j, "problems");
        rk_json_begin_array(&j);
        for (size_t k = 0; k < d->n; k++)
                if (d->items[k].level == RK_DIAG_ERROR)
                        rk_json_string(&j, d->items[k].message);
        rk_json_end_array(&j);
        rk_json_end_object(&j);
        fputc('\n', stdout);
        return r == 0 || (!verify && i) ? 0 : 1;
}

static int cmd_verify_info(int argc, char **argv, bool verify) {
        static const struct option opts[] = {
                { "trust", required_argument, NULL, 't' }, { "team", required_argument, NULL, 'T' },
                { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, {},
        };
        const char *trust = NULL, *team = NULL;
        bool json = false;
        for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;)
                switch (c) {
                case 't': trust = optarg; break;
                case 'T': team = optarg; break;
                case 'j': json = true; break;
                case 'h': puts(verify ? "ringkit-sign verify --trust DIR [--team TEAMID] [--json] BUNDLE\n"
                                        "Exit 0 when BUNDLE is validly signed, 1 with one line per problem."
                                      : "ringkit-sign info [--json] BUNDLE\n"
                                        "Print the identifier, team, signer, validity, entitlements and file count.");
                          return 0;
                default: return 2;
                }
        if ((verify && !trust) || optind + 1 != argc) {
                fprintf(stderr, "ringkit-sign: %sone BUNDLE is required\n", verify ? "--trust DIR and " : "");
                return 2;
        }
        rk_diag d;
        rk_diag_init(&d);
        _cleanup_(rk_signing_info_freep) rk_signing_info *info = NULL;
        int r = rk_verify_bundle(argv[optind], trust, team, verify ? 0 : RK_VERIFY_NO_TRUST, &info, &d);
        int rc = report(argv[optind], r, info, &d, json, verify);
        rk_diag_done(&d);
        return rc;
}

static int usage(FILE *f) {
        fputs("usage: ringkit-sign COMMAND ...\n"
              "  ca create --out DIR [--name N] [--days D] [--issuer CADIR]\n"
              "  ca crl --ca DIR --revoke CERT... --out FILE [--days D]\n"
              "  cert create --ca DIR --team TEAMID --name NAME --out DIR [--days D] [--expired]\n"
              "              [--not-yet-valid] [--not-before DAYS] [--entitlements-allowed PLIST]\n"
              "  sign --key K --cert C [--chain CH] [--entitlements PLIST] BUNDLE\n"
              "  verify --trust DIR [--team TEAMID] [--json] BUNDLE\n"
              "  info [--json] BUNDLE\n"
              "Each command takes --help.  See docs/signing.md.\n",
              f);
        return f == stdout ? 0 : 2;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage(stderr);
        const char *c = argv[1], *sub = argc > 2 ? argv[2] : "";
        if (streq(c, "--help") || streq(c, "-h") || streq(c, "help"))
                return usage(stdout);
        if (streq(c, "ca") && streq(sub, "create"))
                return ca_create(argc - 2, argv + 2);
        if (streq(c, "ca") && streq(sub, "crl"))
                return ca_crl(argc - 2, argv + 2);
        if (streq(c, "cert") && streq(sub, "create"))
                return cert_create(argc - 2, argv + 2);
        if (streq(c, "sign"))
                return cmd_sign(argc - 1, argv + 1);
        if (streq(c, "verify"))
                return cmd_verify_info(argc - 1, argv + 1, true);
        if (streq(c, "info"))
                return cmd_verify_info(argc - 1, argv + 1, false);
        fprintf(stderr, "ringkit-sign: unknown command %s%s%s\n", c, *sub ? " " : "", sub);
        return usage(stderr);
}
