/* SPDX-License-Identifier: MIT */
/* Unit tests for the value model (src/value/value.c) and the JSON writer. */
#include <stdlib.h>

#include "shared/json.h"
#include "shared/macro.h"
#include "test.h"
#include "value/value.h"

static rk_value *str(const char *s) {
        rk_value *v = NULL;
        rk_value_new_string(s, &v);
        return v;
}

static rk_value *num(uint64_t u) {
        rk_value *v = NULL;
        rk_value_new_integer(u, false, &v);
        return v;
}

TEST(dict_set_get_replace_remove) {
        _cleanup_(rk_value_unrefp) rk_value *d = NULL, *a = str("a"), *b = str("b");
        ASSERT(rk_value_new_dict(&d) == 0);
        CHECK(rk_dict_set(d, "k", a) == 0);
        CHECK(rk_dict_set(d, "j", b) == 0);
        CHECK_INTEQ(rk_dict_size(d), 2);
        CHECK_STREQ(rk_dict_get_string(d, "k"), "a");
        CHECK(rk_dict_set(d, "k", b) == 0); /* replace in place keeps order */
        CHECK_STREQ(rk_dict_key_at(d, 0), "k");
        CHECK_STREQ(rk_dict_get_string(d, "k"), "b");
        CHECK(rk_dict_remove(d, "k") == 0);
        CHECK(rk_dict_remove(d, "k") == -ENOENT);
        CHECK(rk_dict_get(d, "k") == NULL);
        CHECK_INTEQ(rk_dict_size(d), 1);
        CHECK(rk_dict_set(d, "self", d) == -EINVAL);
        CHECK(rk_dict_get(a, "k") == NULL); /* not a dict */
}

TEST(refcounts_shared_children) {
        _cleanup_(rk_value_unrefp) rk_value *d1 = NULL, *d2 = NULL, *arr = NULL;
        rk_value *s = str("shared");
        ASSERT(rk_value_new_dict(&d1) == 0 && rk_value_new_dict(&d2) == 0 && rk_value_new_array(&arr) == 0);
        CHECK(rk_dict_set(d1, "x", s) == 0);
        CHECK(rk_dict_set(d2, "x", s) == 0);
        CHECK(rk_array_append(arr, s) == 0);
        rk_value_unref(s);
        CHECK_STREQ(rk_string(rk_array_get(arr, 0)), "shared");
        CHECK(rk_array_get(arr, 1) == NULL);
}

TEST(integers_and_data_as_numbers) {
        _cleanup_(rk_value_unrefp) rk_value *i = num(0x8086), *neg = NULL, *data = NULL, *big = NULL;
        uint8_t le[4] = { 0x86, 0x80, 0, 0 };
        uint8_t nine[9] = { 0 };
        uint64_t u = 0;
        int64_t s = 0;
        ASSERT(rk_value_new_integer((uint64_t) -5, true, &neg) == 0);
        CHECK(rk_integer_s64(neg, &s) && s == -5);
        CHECK(rk_integer_is_signed(neg));
        ASSERT(rk_value_new_data(le, sizeof(le), &data) == 0);
        CHECK(rk_value_as_u64(data, &u) && u == 0x8086);
        CHECK(rk_value_as_u64(i, &u) && u == 0x8086);
        ASSERT(rk_value_new_data(nine, sizeof(nine), &big) == 0);
        CHECK(!rk_value_as_u64(big, &u));
        CHECK(!rk_value_equal(i, data)); /* no cross-type equality, as OSNumber vs OSData */
}

TEST(equality_and_subset) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL, *b = NULL, *m = NULL, *c = NULL;
        ASSERT(rk_value_new_dict(&a) == 0 && rk_value_new_dict(&b) == 0 && rk_value_new_dict(&m) == 0);
        rk_dict_set_string(a, "x", "1");
        rk_dict_set_integer(a, "y", 2, false);
        rk_dict_set_integer(b, "y", 2, false);
        rk_dict_set_string(b, "x", "1");
        CHECK(rk_value_equal(a, b)); /* order does not matter */
        CHECK(rk_value_hash(a) == rk_value_hash(b));
        rk_dict_set_integer(m, "y", 2, false);
        CHECK(rk_dict_is_subset(m, a));
        rk_dict_set_bool(m, "z", true);
        CHECK(!rk_dict_is_subset(m, a));
        ASSERT(rk_value_copy(a, &c) == 0);
        CHECK(rk_value_equal(a, c));
        rk_dict_set_string(c, "x", "2");
        CHECK(!rk_value_equal(a, c));
        CHECK_STREQ(rk_dict_get_string(a, "x"), "1"); /* deep copy */
}

TEST(short_string_truncates) {
        _cleanup_(rk_value_unrefp) rk_value *arr = NULL;
        ASSERT(rk_value_new_array(&arr) == 0);
        for (int i = 0; i < 100; i++) {
                _cleanup_(rk_value_unrefp) rk_value *n = num((uint64_t) i);
                rk_array_append(arr, n);
        }
        char *s = rk_value_to_short_string(arr, 40);
        ASSERT(s);
        CHECK(strlen(s) <= 43);
        CHECK(strncmp(s, "(0,1,2", 6) == 0);
        CHECK(strcmp(s + strlen(s) - 3, "...") == 0);
        free(s);
}

TEST(json_escapes_and_nests) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        rk_json j;
        ASSERT(f);
        rk_json_init(&j, f);
        rk_json_begin_object(&j);
        rk_json_key(&j, "s");
        rk_json_string(&j, "a\"b\\c\n\x01\xff");
        rk_json_key(&j, "a");
        rk_json_begin_array(&j);
        rk_json_int(&j, -3);
        rk_json_bool(&j, true);
        rk_json_null(&j);
        rk_json_end_array(&j);
        rk_json_end_object(&j);
        fclose(f);
        CHECK_STREQ(buf, "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\\ufffd\",\"a\":[-3,true,null]}\n");
        free(buf);
}
