/* SPDX-License-Identifier: Apache-2.0
 * The parsed mapping, shared by the parser/mapper (mapping.c) and the
 * check against real tables (mapping_check.c). Not for other modules:
 * they use mapping.h.
 */
#ifndef FERRY_MAPPING_INT_H
#define FERRY_MAPPING_INT_H

#include "transforms/mapping.h"
#include "transforms/xform_registry.h"

#include <jansson.h>
#include <stddef.h>

struct xform_use {
        char *column; /* written (source name, before rename) */
        char *from;   /* read; NULL: column itself */
        const struct xform_def *def;
        json_t *args; /* the whole transform object */
        char *path;   /* JSON path, for messages */
};

/* What happens to a row on its way to one target. Table-level options
 * are merged into every route when the mapping is parsed. */
struct route {
        json_t *when; /* NULL: fallback; else {col: value | [values]} */
        char *target;
        json_t *rename;   /* {src: dst} */
        json_t *drop;     /* {col: true} */
        json_t *defaults; /* {col: value} */
        json_t *values;   /* {col: {from: to}} */
        struct xform_use *xforms;
        size_t nxforms;
        char *path; /* "$.tables[2]" or "$.tables[2].routes[1]" */
};

struct table_map {
        char *source;
        struct route *routes;
        size_t nroutes;
        const char **targets; /* NULL-terminated, distinct, route order */
        char *path;
};

struct mapping {
        char *file;
        struct table_map *tables;
        size_t ntables;
        const char **targets; /* NULL-terminated, distinct */
        const char **sources;
};

#endif
