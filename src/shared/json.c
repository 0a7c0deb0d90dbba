/* SPDX-License-Identifier: MIT */
/* Streaming JSON writer; see json.h. */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "shared/json.h"

void rk_json_init(rk_json *j, FILE *f) {
        memset(j, 0, sizeof(*j));
        j->f = f;
}

static void sep(rk_json *j) {
        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (j->depth > 0) {
                if (j->need_comma[j->depth])
                        fputc(',', j->f);
                j->need_comma[j->depth] = true;
        }
}

static void open_(rk_json *j, char c) {
        sep(j);
        fputc(c, j->f);
        assert(j->depth + 1 < RK_JSON_MAX_DEPTH);
        j->depth++;
        j->need_comma[j->depth] = false;
}

static void close_(rk_json *j, char c) {
        assert(j->depth > 0);
        j->depth--;
        fputc(c, j->f);
        if (j->depth == 0)
                fputc('\n', j->f);
}

void rk_json_begin_object(rk_json *j) {
        open_(j, '{');
}
void rk_json_end_object(rk_json *j) {
        close_(j, '}');
}
void rk_json_begin_array(rk_json *j) {
        open_(j, '[');
}
void rk_json_end_array(rk_json *j) {
        close_(j, ']');
}

static void put_escaped(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        fputc('"', f);
        while (*p) {
                unsigned char c = *p;
                if (c == '"' || c == '\\') {
                        fputc('\\', f);
                        fputc(c, f);
                        p++;
                } else if (c < 0x20) {
                        fprintf(f, "\\u%04x", c);
                        p++;
                } else if (c < 0x80) {
                        fputc(c, f);
                        p++;
                } else {
                        /* validate one UTF-8 sequence */
                        size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
                        size_t i;
                        if (c >= 0xf5)
                                n = 0;
                        for (i = 1; i < n; i++)
                                if ((p[i] & 0xc0) != 0x80)
                                        break;
                        if (n == 0 || i < n) {
                                fputs("\\ufffd", f);
                                p++;
                        } else {
                                fwrite(p, 1, n, f);
                                p += n;
                        }
                }
        }
        fputc('"', f);
}

void rk_json_key(rk_json *j, const char *key) {
        sep(j);
        put_escaped(j->f, key);
        fputc(':', j->f);
        j->after_key = true;
}

void rk_json_string(rk_json *j, const char *s) {
        sep(j);
        if (s)
                put_escaped(j->f, s);
        else
                fputs("null", j->f);
}

void rk_json_int(rk_json *j, int64_t v) {
        sep(j);
        fprintf(j->f, "%" PRId64, v);
}

void rk_json_uint(rk_json *j, uint64_t v) {
        sep(j);
        fprintf(j->f, "%" PRIu64, v);
}

void rk_json_bool(rk_json *j, bool b) {
        sep(j);
        fputs(b ? "true" : "false", j->f);
}

void rk_json_null(rk_json *j) {
        sep(j);
        fputs("null", j->f);
}

void rk_json_value(rk_json *j, const rk_value *v) {
        if (!v) {
                rk_json_null(j);
                return;
        }
        switch (rk_value_type(v)) {
        case RK_TYPE_DICT:
                rk_json_begin_object(j);
                for (size_t i = 0; i < rk_dict_size(v); i++) {
                        rk_json_key(j, rk_dict_key_at(v, i));
                        rk_json_value(j, rk_dict_value_at(v, i));
                }
                rk_json_end_object(j);
                break;
        case RK_TYPE_ARRAY:
                rk_json_begin_array(j);
                for (size_t i = 0; i < rk_array_size(v); i++)
                        rk_json_value(j, rk_array_get(v, i));
                rk_json_end_array(j);
                break;
        case RK_TYPE_STRING:
                rk_json_string(j, rk_string(v));
                break;
        case RK_TYPE_INTEGER: {
                int64_t s;
                uint64_t u;
                if (rk_integer_is_signed(v) && rk_integer_s64(v, &s))
                        rk_json_int(j, s);
                else if (rk_integer_u64(v, &u))
                        rk_json_uint(j, u);
                break;
        }
        case RK_TYPE_BOOL:
                rk_json_bool(j, rk_bool(v));
                break;
        case RK_TYPE_DATA: {
                size_t n = 0;
                const uint8_t *p = rk_data(v, &n);
                sep(j);
                fputc('"', j->f);
                for (size_t i = 0; i < n; i++)
                        fprintf(j->f, "%02x", p[i]);
                fputc('"', j->f);
                break;
        }
        case RK_TYPE_DATE:
        case RK_TYPE_REAL: {
                double d = 0;
                if (!rk_real(v, &d))
                        rk_date(v, &d);
                sep(j);
                fprintf(j->f, "%.17g", d);
                break;
        }
        default:
                rk_json_null(j);
        }
}
