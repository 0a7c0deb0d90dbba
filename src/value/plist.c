/* SPDX-License-Identifier: MIT */
/*
 * The plist edge of the value model: parse XML or binary plists into
 * rk_value trees and write them back.  XML goes through libplist; binary
 * plists through ringkit's own codec (bplist.c), which checks the format
 * itself and names the object and offset at fault.
 *
 * libplist (2.2 on Debian 12) reports no error details, so when it refuses
 * an XML document we run our own scanner (plist-locate.c) to name the line,
 * column and key path of the first problem.  Input is also bounded in size
 * and depth before and after libplist sees it, so a hostile file cannot
 * exhaust the stack in our conversion.
 *
 * A value read here can always be written back in both forms: binary dates
 * are held to the range libplist's XML writer can express (see
 * dates_in_range()), as XML dates are by the locator.
 */
#include <fcntl.h>
#include <plist/plist.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/macro.h"
#include "value/bplist.h"
#include "value/plist.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(plist_t, plist_free);

/* plist-locate.c: strict UTF-8, keeping what libplist 2.2 mangles away from it */
size_t rk_plist_utf8_check(const char *p, size_t n);

static bool utf8_ok(const char *s) {
        size_t n = strlen(s);
        return rk_plist_utf8_check(s, n) == n;
}

static int from_plist(plist_t p, unsigned depth, rk_value **ret);

static int dict_from_plist(plist_t p, unsigned depth, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *d = NULL;
        plist_dict_iter it = NULL;
        int r;

        r = rk_value_new_dict(&d);
        if (r < 0)
                return r;
        plist_dict_new_iter(p, &it);
        if (!it)
                return -ENOMEM;
        for (;;) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                char *key = NULL;
                plist_t val = NULL;

                plist_dict_next_item(p, it, &key, &val);
                if (!val) {
                        free(key);
                        break;
                }
                r = key && !utf8_ok(key) ? -EILSEQ : from_plist(val, depth + 1, &e);
                if (r >= 0)
                        r = rk_dict_set(d, key ? key : "", e);
                free(key);
                if (r < 0) {
                        free(it);
                        return r;
                }
        }
        free(it);
        *ret = TAKE_PTR(d);
        return 0;
}

static int array_from_plist(plist_t p, unsigned depth, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        uint32_t n = plist_array_get_size(p);
        int r;

        r = rk_value_new_array(&a);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < n; i++) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                plist_t item = plist_array_get_item(p, i);
                if (!item)
                        return -EBADMSG;
                r = from_plist(item, depth + 1, &e);
                if (r < 0)
                        return r;
                r = rk_array_append(a, e);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int from_plist(plist_t p, unsigned depth, rk_value **ret) {
        if (depth > RK_PLIST_MAX_DEPTH)
                return -ELOOP;

        switch (plist_get_node_type(p)) {
        case PLIST_DICT:
                return dict_from_plist(p, depth, ret);
        case PLIST_ARRAY:
                return array_from_plist(p, depth, ret);
        case PLIST_STRING:
        case PLIST_KEY: {
                char *s = NULL;
                int r;
                if (plist_get_node_type(p) == PLIST_STRING)
                        plist_get_string_val(p, &s);
                else
                        plist_get_key_val(p, &s);
                /* libplist's binary writer truncates invalid UTF-8: refuse it on the way in */
                r = s && !utf8_ok(s) ? -EILSEQ : rk_value_new_string(s ? s : "", ret);
                free(s);
                return r;
        }
        case PLIST_UINT: {
                uint64_t u = 0;
                plist_get_uint_val(p, &u);
                /* libplist 2.2 keeps negative numbers as their 64-bit pattern */
                return rk_value_new_integer(u, (int64_t) u < 0, ret);
        }
        case PLIST_UID: {
                uint64_t u = 0;
                plist_get_uid_val(p, &u);
                return rk_value_new_integer(u, false, ret);
        }
        case PLIST_BOOLEAN: {
                uint8_t b = 0;
                plist_get_bool_val(p, &b);
                return rk_value_new_bool(b, ret);
        }
        case PLIST_REAL: {
                double d = 0;
                plist_get_real_val(p, &d);
                return rk_value_new_real(d, ret);
        }
        case PLIST_DATE: {
                int32_t sec = 0, usec = 0;
                plist_get_date_val(p, &sec, &usec);
                /*
                 * libplist 2.2 hands dates out as int32 seconds since 2001:
                 * one outside 1933..2069 comes back garbled (usec out of
                 * range), so refuse it rather than invent a date.
                 */
                if (usec <= -1000000 || usec >= 1000000)
                        return -ERANGE;
                return rk_value_new_date((double) sec + usec / 1e6, ret);
        }
        case PLIST_DATA: {
                char *buf = NULL;
                uint64_t n = 0;
                int r;
                plist_get_data_val(p, &buf, &n);
                r = rk_value_new_data(buf, buf ? n : 0, ret);
                free(buf);
                return r;
        }
        default:
                return -EBADMSG;
        }
}

static bool looks_binary(const void *data, size_t len) {
        return len >= 8 && memcmp(data, "bplist00", 8) == 0;
}

/*
 * libplist 2.2 keeps dates as int32 seconds since 2001 (1933..2069): a
 * binary date outside that (or NaN) could not be written as XML, so it is
 * refused on the way in, as the XML locator refuses such dates.
 */
static bool dates_in_range(const rk_value *v) {
        double d;
        switch (rk_value_type(v)) {
        case RK_TYPE_DATE:
                return rk_date(v, &d) && d > INT32_MIN - 1.0 && d < INT32_MAX + 1.0;
        case RK_TYPE_DICT:
                for (size_t i = 0; i < rk_dict_size(v); i++)
                        if (!dates_in_range(rk_dict_value_at(v, i)))
                                return false;
                return true;
        case RK_TYPE_ARRAY:
                for (size_t i = 0; i < rk_array_size(v); i++)
                        if (!dates_in_range(rk_array_get(v, i)))
                                return false;
                return true;
        default:
                return true;
        }
}

static int parse_binary(const void *data, size_t len, const rk_where *w, rk_value **ret, rk_diag *diag) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r;

        r = rk_bplist_decode_named(data, len, w->file, &v, diag);
        if (r < 0)
                return r;
        if (!dates_in_range(v)) {
                rk_diag_add(diag, RK_DIAG_ERROR, w, "property list holds a date outside 1933..2069");
                return -EBADMSG;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static int report_xml(const char *data, size_t len, const char *name, rk_diag *diag) {
        _cleanup_(freep) char *path = NULL, *msg = NULL;
        int line = 0, col = 0, r;

        r = rk_plist_xml_locate_error(data, len, &line, &col, &path, &msg);
        if (r > 0) {
                rk_where w = { .file = name, .line = line, .column = col,
                               .key = path && *path ? path : NULL };
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "malformed property list: %s", msg);
        } else {
                rk_where w = { .file = name };
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "malformed property list (libplist refused it)");
        }
        return -EBADMSG;
}

int rk_plist_parse(const void *data, size_t len, const char *name, rk_value **ret, rk_diag *diag) {
        _cleanup_(plist_freep) plist_t p = NULL;
        _cleanup_(freep) char *path = NULL, *msg = NULL;
        rk_where w = { .file = name ? name : "<input>" };
        int line = 0, col = 0, r;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        if (len > RK_PLIST_MAX_SIZE) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list too large (%zu bytes, limit %u)", len,
                            RK_PLIST_MAX_SIZE);
                return -EFBIG;
        }
        if (len == 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "empty file, expected a property list");
                return -EBADMSG;
        }

        if (looks_binary(data, len))
                return parse_binary(data, len, &w, ret, diag);

        /*
         * Check the XML ourselves first: it gives positions, and it
         * keeps input libplist 2.2 mishandles (deep nesting, broken
         * entities) away from it.
         */
        r = rk_plist_xml_locate_error(data, len, &line, &col, &path, &msg);
        if (r < 0)
                return r;
        if (r > 0) {
                w.line = line;
                w.column = col;
                w.key = path && *path ? path : NULL;
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "malformed property list: %s", msg);
                return -EBADMSG;
        }
        /* libplist 2.2 refuses a UTF-8 byte-order mark; the locator accepts it */
        const char *xml = data;
        size_t xml_len = len;
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
                xml += 3;
                xml_len -= 3;
        }
        plist_from_xml(xml, (uint32_t) xml_len, &p);
        if (!p)
                return report_xml(data, len, w.file, diag);

        r = from_plist(p, 0, ret);
        if (r == -ELOOP)
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list nested deeper than %d levels",
                            RK_PLIST_MAX_DEPTH);
        else if (r == -EBADMSG)
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list holds an unsupported value type");
        else if (r == -ERANGE) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list holds a date outside 1933..2069");
                r = -EBADMSG;
        } else if (r == -EILSEQ) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list holds a string that is not valid UTF-8");
                r = -EBADMSG;
        }
        return r;
}

int rk_plist_load(const char *path, rk_value **ret, rk_diag *diag) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        rk_where w = { .file = path };
        struct stat st;
        size_t n = 0;

        if (!path || !ret)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "not a regular file");
                return -EBADMSG;
        }
        if ((uint64_t) st.st_size > RK_PLIST_MAX_SIZE) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "property list too large (%lld bytes, limit %u)",
                            (long long) st.st_size, RK_PLIST_MAX_SIZE);
                return -EFBIG;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "read failed: %s", strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        return rk_plist_parse(buf, n, path, ret, diag);
}

static int to_plist(const rk_value *v, plist_t *ret) {
        switch (rk_value_type(v)) {
        case RK_TYPE_DICT: {
                _cleanup_(plist_freep) plist_t d = plist_new_dict();
                if (!d)
                        return -ENOMEM;
                for (size_t i = 0; i < rk_dict_size(v); i++) {
                        plist_t e = NULL;
                        int r = to_plist(rk_dict_value_at(v, i), &e);
                        if (r < 0)
                                return r;
                        plist_dict_set_item(d, rk_dict_key_at(v, i), e);
                }
                *ret = TAKE_PTR(d);
                return 0;
        }
        case RK_TYPE_ARRAY: {
                _cleanup_(plist_freep) plist_t a = plist_new_array();
                if (!a)
                        return -ENOMEM;
                for (size_t i = 0; i < rk_array_size(v); i++) {
                        plist_t e = NULL;
                        int r = to_plist(rk_array_get(v, i), &e);
                        if (r < 0)
                                return r;
                        plist_array_append_item(a, e);
                }
                *ret = TAKE_PTR(a);
                return 0;
        }
        case RK_TYPE_STRING:
                *ret = plist_new_string(rk_string(v));
                break;
        case RK_TYPE_INTEGER: {
                uint64_t u = 0;
                rk_integer_u64(v, &u);
                *ret = plist_new_uint(u);
                break;
        }
        case RK_TYPE_BOOL:
                *ret = plist_new_bool(rk_bool(v));
                break;
        case RK_TYPE_DATA: {
                size_t n = 0;
                const uint8_t *p = rk_data(v, &n);
                *ret = plist_new_data((const char *) p, n);
                break;
        }
        case RK_TYPE_DATE: {
                double d = 0;
                rk_date(v, &d);
                if (!(d > INT32_MIN - 1.0 && d < INT32_MAX + 1.0))
                        return -ERANGE; /* libplist 2.2 keeps int32 seconds */
                int32_t sec = (int32_t) d;
                /* round, not truncate: 0.603921 must not come back as 0.603920 */
                double x = (d - sec) * 1e6; /* |x| < 1e6 + 1 */
                long usec = (long) (x < 0 ? x - 0.5 : x + 0.5);
                if (usec >= 1000000 && sec < INT32_MAX)
                        sec++, usec -= 1000000;
                else if (usec <= -1000000 && sec > INT32_MIN)
                        sec--, usec += 1000000;
                *ret = plist_new_date(sec, (int32_t) (usec > 999999 ? 999999 : usec < -999999 ? -999999 : usec));
                break;
        }
        case RK_TYPE_REAL: {
                double d = 0;
                rk_real(v, &d);
                *ret = plist_new_real(d);
                break;
        }
        default:
                return -EINVAL;
        }
        return *ret ? 0 : -ENOMEM;
}

int rk_plist_to_xml(const rk_value *v, char **ret, size_t *ret_len) {
        _cleanup_(plist_freep) plist_t p = NULL;
        char *out = NULL;
        uint32_t n = 0;
        int r;

        if (!v || !ret)
                return -EINVAL;
        r = to_plist(v, &p);
        if (r < 0)
                return r;
        plist_to_xml(p, &out, &n);
        if (!out)
                return -ENOMEM;
        /* hand out memory the caller frees with free() */
        char *copy = malloc((size_t) n + 1);
        if (!copy) {
                plist_to_xml_free(out);
                return -ENOMEM;
        }
        memcpy(copy, out, n);
        copy[n] = 0;
        plist_to_xml_free(out);
        *ret = copy;
        if (ret_len)
                *ret_len = n;
        return 0;
}

/* Ours (bplist.c): no date range to keep, and invalid UTF-8 is refused (-EILSEQ), not cut short. */
int rk_plist_to_binary(const rk_value *v, char **ret, size_t *ret_len) {
        return rk_bplist_encode(v, ret, ret_len);
}
