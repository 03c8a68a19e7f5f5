/* SPDX-License-Identifier: Apache-2.0
 * The transform table; see xform_registry.h. Values are ferry's change
 * event values (strings, integers, reals, null), and every transform
 * returns one of those too, so the sink never sees a JSON type it cannot
 * write.
 */
#include "transforms/xform_registry.h"
#include "common/buf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings only; NULL passes through (a NULL has no case). */
static json_t *map_ascii(json_t *v, int (*f)(int), char *errstr,
                         size_t errstr_size)
{
        if (json_is_null(v))
                return json_null();
        if (!json_is_string(v)) {
                snprintf(errstr, errstr_size, "expects a string value");
                return NULL;
        }
        size_t n = json_string_length(v);
        char *s = xmemdup(json_string_value(v), n + 1);
        /* ASCII letters only: changing case of other UTF-8 letters needs
         * collation rules the target database owns. */
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x80)
                        s[i] = (char)f((unsigned char)s[i]);
        json_t *r = json_stringn(s, n);
        free(s);
        return r;
}

static json_t *x_lowercase(json_t *v, json_t *row, json_t *args, char *e,
                           size_t n)
{
        return map_ascii(v, tolower, e, n);
}

static json_t *x_uppercase(json_t *v, json_t *row, json_t *args, char *e,
                           size_t n)
{
        return map_ascii(v, toupper, e, n);
}

static json_t *x_trim(json_t *v, json_t *row, json_t *args, char *errstr,
                      size_t errstr_size)
{
        if (json_is_null(v))
                return json_null();
        if (!json_is_string(v)) {
                snprintf(errstr, errstr_size, "expects a string value");
                return NULL;
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), a = 0;
        while (a < n && isspace((unsigned char)s[a]))
                a++;
        while (n > a && isspace((unsigned char)s[n - 1]))
                n--;
        return json_stringn(s + a, n - a);
}

static json_t *x_null_if_empty(json_t *v, json_t *row, json_t *args,
                               char *errstr, size_t errstr_size)
{
        if (json_is_string(v) && json_string_length(v) == 0)
                return json_null();
        return json_incref(v);
}

/* ---- json_get ------------------------------------------------------ */

/* Walks one step of a path like "$.a.b[0]" or "a.b[0]" from *p.
 * @returns 1 and the step (name, or index with name NULL), 0 at the end,
 *          -1 on a syntax error. */
static int path_step(const char **p, char *name, size_t name_size,
                     size_t *index, bool first)
{
        const char *s = *p;
        if (!*s)
                return 0;
        if (*s == '[') {
                char *end;
                if (!isdigit((unsigned char)s[1]))
                        return -1;
                *index = strtoul(s + 1, &end, 10);
                if (*end != ']')
                        return -1;
                name[0] = '\0';
                *p = end + 1;
                return 1;
        }
        if (*s == '.')
                s++;
        else if (!first)
                return -1;
        size_t n = strcspn(s, ".[");
        if (n == 0 || n >= name_size)
                return -1;
        memcpy(name, s, n);
        name[n] = '\0';
        *p = s + n;
        return 1;
}

/* @returns the value at path inside doc (borrowed), NULL when absent;
 *          *bad is set when path does not parse. */
static json_t *path_get(json_t *doc, const char *path, bool *bad)
{
        char name[256];
        size_t index = 0;
        int rc;
        bool first = true;

        *bad = false;
        if (path[0] == '$')
                path++;
        while ((rc = path_step(&path, name, sizeof(name), &index, first)) > 0) {
                first = false;
                if (!doc)
                        continue;
                if (name[0])
                        doc = json_is_object(doc) ? json_object_get(doc, name)
                                                  : NULL;
                else
                        doc = json_is_array(doc) ? json_array_get(doc, index)
                                                 : NULL;
        }
        if (rc < 0)
                *bad = true;
        return rc < 0 ? NULL : doc;
}

static int check_json_get(json_t *args, char *errstr, size_t errstr_size)
{
        json_t *path = json_object_get(args, "path");
        bool bad;
        if (!json_is_string(path)) {
                snprintf(errstr, errstr_size,
                         "\"path\" must be a string like \"$.a.b[0]\"");
                return -1;
        }
        json_t *doc = json_object();
        path_get(doc, json_string_value(path), &bad);
        json_decref(doc);
        if (bad) {
                snprintf(errstr, errstr_size,
                         "\"path\": cannot parse \"%s\" (use $.name.name[0])",
                         json_string_value(path));
                return -1;
        }
        json_t *def = json_object_get(args, "default");
        if (def && !json_is_string(def) && !json_is_integer(def) &&
            !json_is_real(def) && !json_is_null(def)) {
                snprintf(errstr, errstr_size,
                         "\"default\" must be a string, number or null");
                return -1;
        }
        return 0;
}

/* Reads one value out of JSON text (MariaDB JSON columns are LONGTEXT, so
 * events carry them as strings). Scalars come out as event values, objects
 * and arrays as compact JSON text; true/false as 1/0 (TINYINT(1)). */
static json_t *x_json_get(json_t *v, json_t *row, json_t *args, char *errstr,
                          size_t errstr_size)
{
        json_t *def = json_object_get(args, "default");
        json_error_t jerr;
        bool bad;

        if (json_is_null(v))
                return json_null();
        if (!json_is_string(v)) {
                snprintf(errstr, errstr_size, "expects JSON text");
                return NULL;
        }
        json_t *doc = json_loadb(json_string_value(v), json_string_length(v),
                                 JSON_DECODE_ANY, &jerr);
        if (!doc) {
                snprintf(errstr, errstr_size, "not JSON: %s", jerr.text);
                return NULL;
        }
        json_t *got = path_get(
                doc, json_string_value(json_object_get(args, "path")), &bad);
        json_t *r;
        if (!got)
                r = def ? json_incref(def) : json_null();
        else if (json_is_boolean(got))
                r = json_integer(json_is_true(got));
        else if (json_is_object(got) || json_is_array(got)) {
                char *s = json_dumps(got, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                  JSON_ENCODE_ANY);
                r = json_string(s);
                free(s);
        } else
                r = json_incref(got);
        json_decref(doc);
        return r;
}

/* ---- concat -------------------------------------------------------- */

static int check_concat(json_t *args, char *errstr, size_t errstr_size)
{
        json_t *cols = json_object_get(args, "columns");
        json_t *sep = json_object_get(args, "separator");
        size_t i;
        json_t *c;

        if (!json_is_array(cols) || !json_array_size(cols)) {
                snprintf(errstr, errstr_size,
                         "\"columns\" must be a "
                         "non-empty array of column "
                         "names");
                return -1;
        }
        json_array_foreach(cols, i, c)
        {
                if (!json_is_string(c) || !json_string_length(c)) {
                        snprintf(errstr, errstr_size,
                                 "\"columns\"[%zu] must be a column name", i);
                        return -1;
                }
        }
        if (sep && !json_is_string(sep)) {
                snprintf(errstr, errstr_size, "\"separator\" must be a string");
                return -1;
        }
        return 0;
}

/* CONCAT_WS semantics: NULLs are skipped, all NULL gives NULL. Numbers
 * are written as MariaDB would cast them. */
static json_t *x_concat(json_t *v, json_t *row, json_t *args, char *errstr,
                        size_t errstr_size)
{
        json_t *cols = json_object_get(args, "columns");
        json_t *sep = json_object_get(args, "separator");
        struct buf b;
        size_t i, used = 0;
        json_t *c;

        buf_init(&b);
        json_array_foreach(cols, i, c)
        {
                json_t *x = json_object_get(row, json_string_value(c));
                if (!x || json_is_null(x))
                        continue;
                if (used++ && sep)
                        buf_append(&b, json_string_value(sep),
                                   json_string_length(sep));
                if (json_is_string(x))
                        buf_append(&b, json_string_value(x),
                                   json_string_length(x));
                else if (json_is_integer(x))
                        buf_printf(&b, "%" JSON_INTEGER_FORMAT,
                                   json_integer_value(x));
                else if (json_is_real(x))
                        buf_printf(&b, "%.17g", json_real_value(x));
                else if (json_is_boolean(x))
                        buf_putc(&b, json_is_true(x) ? '1' : '0');
                else {
                        snprintf(errstr, errstr_size,
                                 "column %s is not a plain value",
                                 json_string_value(c));
                        buf_free(&b);
                        return NULL;
                }
        }
        json_t *r = used ? json_stringn(buf_cstr(&b), b.len) : json_null();
        buf_free(&b);
        return r;
}

static const char *const json_get_args[] = {"path", "default", NULL};
static const char *const json_get_required[] = {"path", NULL};
static const char *const concat_args[] = {"columns", "separator", NULL};
static const char *const concat_required[] = {"columns", NULL};

static const struct xform_def table[] = {
        {.name = "lowercase",
         .fn = x_lowercase,
         .doc = "ASCII letters to lower case"},
        {.name = "uppercase",
         .fn = x_uppercase,
         .doc = "ASCII letters to upper case"},
        {.name = "trim",
         .fn = x_trim,
         .doc = "strip leading and trailing white space"},
        {.name = "null_if_empty",
         .fn = x_null_if_empty,
         .doc = "empty string becomes NULL"},
        {.name = "json_get",
         .fn = x_json_get,
         .doc = "one value out of JSON text: \"path\": \"$.a.b[0]\", "
                "optional \"default\" when absent",
         .args = json_get_args,
         .required = json_get_required,
         .check = check_json_get},
        {.name = "concat",
         .fn = x_concat,
         .doc = "join \"columns\" with an optional \"separator\"; NULLs "
                "are skipped, all NULL gives NULL",
         .args = concat_args,
         .required = concat_required,
         .check = check_concat,
         .columns_arg = "columns",
         .whole_row = true},
        {.name = NULL},
};

const struct xform_def *xform_find(const char *name)
{
        for (const struct xform_def *d = table; d->name; d++)
                if (!strcmp(d->name, name))
                        return d;
        return NULL;
}

const struct xform_def *xform_all(void)
{
        return table;
}
