/* SPDX-License-Identifier: Apache-2.0
 * Named C transforms a mapping can call for what is not declarative
 * ("transforms": [{"column": "email", "fn": "lowercase"}]). Each is a
 * pure function from one JSON value to a new one. To add one: write the
 * function in xform_registry.c and add a row to its table.
 */
#ifndef FERRY_XFORM_REGISTRY_H
#define FERRY_XFORM_REGISTRY_H

#include <jansson.h>

/* @returns a new reference, or NULL with errstr set. */
typedef json_t *(xform_fn)(json_t *value, char *errstr, size_t errstr_size);

struct xform_def {
        const char *name;
        xform_fn *fn;
        const char *doc;
};

/* @returns the transform, or NULL if no transform has that name. */
const struct xform_def *xform_find(const char *name);

/* @returns the NULL-terminated table, for docs and error messages. */
const struct xform_def *xform_all(void);

#endif
