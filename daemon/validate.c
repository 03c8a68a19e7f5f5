/* SPDX-License-Identifier: Apache-2.0
 * Startup validation; see validate.h.
 */
#include "daemon/validate.h"

#include "connectors/db_describe.h"
#include "daemon/endpoint.h"

#include <stdio.h>

static int describe(const struct cfg_db *db, const char *side,
                    struct db_schema **out, char *errstr, size_t errstr_size)
{
        struct db_endpoint ep = cfg_endpoint(db);
        MYSQL *my;
        char err[512];
        int rc = db_connect(&my, &ep, 30, err, sizeof(err));
        if (rc == 0) {
                rc = db_describe(my, db->database, out, err, sizeof(err));
                mysql_close(my);
        }
        if (rc)
                snprintf(errstr, errstr_size, "%s: %s", side, err);
        return rc;
}

int validate_mapping(const struct cfg *cfg, const struct mapping *m,
                     mapping_problem_fn *report, void *ctx, char *errstr,
                     size_t errstr_size)
{
        struct db_schema *src = NULL, *dst = NULL;
        int rc = describe(&cfg->source.db, "source", &src, errstr, errstr_size);
        if (rc == 0)
                rc = describe(&cfg->sink.db, "sink", &dst, errstr, errstr_size);
        if (rc == 0)
                rc = mapping_validate(m, src->tables, src->ntables, dst->tables,
                                      dst->ntables, report, ctx, errstr,
                                      errstr_size);
        db_schema_free(src);
        db_schema_free(dst);
        return rc;
}
