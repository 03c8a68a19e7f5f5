/* SPDX-License-Identifier: Apache-2.0
 * Named C transforms a mapping can call for what is not declarative
 * ("transforms": [{"column": "email", "fn": "lowercase"}]). Each is a
 * pure function from JSON values to a new one, listed in one const table
 * so that the mapping parser, the docs and error messages agree. To add
 * one: write the function in xform_registry.c and add a row to the table
 * (docs/mapping.md, "Adding a transform").
 */
#ifndef FERRY_XFORM_REGISTRY_H
#define FERRY_XFORM_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/**
 * @brief One transform call on one row.
 * @param value  the input column's current value (never NULL: an absent
 *               column reads as JSON null for whole-row transforms)
 * @param row    the whole source row as the earlier steps left it
 *               (read-only; source column names)
 * @param args   the transform's object from the mapping (read-only)
 * @returns a new reference, or NULL with errstr set ("expects ...").
 */
typedef json_t *(xform_fn)(json_t *value, json_t *row, json_t *args,
                           char *errstr, size_t errstr_size);

/**
 * @brief Checks a transform's arguments when the mapping is loaded.
 * @returns 0, or -1 with errstr naming the argument ("\"path\" must ...").
 */
typedef int(xform_check_fn)(json_t *args, char *errstr, size_t errstr_size);

struct xform_def {
        const char *name;
        xform_fn *fn;
        const char *doc;
        /* Argument keys allowed besides "column", "fn" and "from"
         * (NULL-terminated; NULL: none). */
        const char *const *args;
        /* Argument keys that must be present (NULL-terminated; NULL). */
        const char *const *required;
        xform_check_fn *check; /* NULL: nothing beyond the key lists */
        /* The argument naming source columns the transform reads (an
         * array of names), so that validation can check them; NULL. */
        const char *columns_arg;
        /* Runs even when its column is absent from the row, and so can
         * create a column (it reads others through columns_arg). */
        bool whole_row;
};

/* @returns the transform, or NULL if no transform has that name. */
const struct xform_def *xform_find(const char *name);

/* @returns the table, ended by a row whose name is NULL. */
const struct xform_def *xform_all(void);

#endif
