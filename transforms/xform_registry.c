/* SPDX-License-Identifier: Apache-2.0
 * The transform table; see xform_registry.h.
 */
#include "transforms/xform_registry.h"
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

static json_t *x_lowercase(json_t *v, char *e, size_t n)
{
        return map_ascii(v, tolower, e, n);
}

static json_t *x_uppercase(json_t *v, char *e, size_t n)
{
        return map_ascii(v, toupper, e, n);
}

static json_t *x_trim(json_t *v, char *errstr, size_t errstr_size)
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

static json_t *x_null_if_empty(json_t *v, char *errstr, size_t errstr_size)
{
        (void)errstr;
        (void)errstr_size;
        if (json_is_string(v) && json_string_length(v) == 0)
                return json_null();
        return json_incref(v);
}

static const struct xform_def table[] = {
        {"lowercase", x_lowercase, "ASCII letters to lower case"},
        {"uppercase", x_uppercase, "ASCII letters to upper case"},
        {"trim", x_trim, "strip leading and trailing white space"},
        {"null_if_empty", x_null_if_empty, "empty string becomes NULL"},
        {NULL, NULL, NULL},
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
