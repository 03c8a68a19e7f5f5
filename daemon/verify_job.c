/* SPDX-License-Identifier: Apache-2.0
 * The online verify; see verify_job.h.
 */
#include "daemon/verify_job.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/signal_table.h"
#include "daemon/verify_settle.h"
#include "daemon/endpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECHECKS  3     /* a hot row may be in flight again */
#define SETTLE_MS 10000 /* a barrier must pass within this */

struct verify_job {
        const struct cfg *cfg;
        const struct cutover_ops *ops;
        void *flow;
        char *table;
        pthread_t thread;
        atomic_bool finished;
        json_t *result;
};

static json_t *run(struct verify_job *j)
{
        const struct cfg *cfg = j->cfg;
        struct db_endpoint s = cfg_endpoint(&cfg->source.db);
        struct db_endpoint d = cfg_endpoint(&cfg->sink.db);
        MYSQL *src = NULL, *dst = NULL;
        char err[1024];
        json_t *out = NULL;

        if (db_connect(&src, &s, 600, err, sizeof(err)) ||
            db_connect(&dst, &d, 600, err, sizeof(err)) ||
            signal_table_ensure(src, err, sizeof(err)) ||
            verify_settled(cfg, j->ops->mapping(j->flow), src, dst, j->table,
                           RECHECKS, SETTLE_MS, j->ops->barrier, j->flow, NULL,
                           &out, err, sizeof(err)))
                out = json_pack("{s:b, s:s}", "clean", 0, "error", err);
        mysql_close(src);
        mysql_close(dst);
        return out;
}

static void *job_main(void *arg)
{
        struct verify_job *j = arg;
        j->result = run(j);
        json_t *err = json_object_get(j->result, "error");
        if (err)
                log_error("verify failed: %s", json_string_value(err));
        else if (json_is_true(json_object_get(j->result, "clean")))
                log_info(
                        "verify clean seconds=%.2f",
                        json_real_value(json_object_get(j->result, "seconds")));
        else
                log_error("verify found differences (ferryctl status "
                          "--json lists the keys)");
        atomic_store(&j->finished, true);
        return NULL;
}

struct verify_job *verify_job_start(const struct cfg *cfg,
                                    const struct cutover_ops *ops, void *flow,
                                    const char *table)
{
        struct verify_job *j = xcalloc(1, sizeof(*j));
        j->cfg = cfg;
        j->ops = ops;
        j->flow = flow;
        j->table = table ? xstrdup(table) : NULL;
        pthread_create(&j->thread, NULL, job_main, j);
        return j;
}

bool verify_job_finished(struct verify_job *j)
{
        return atomic_load(&j->finished);
}

json_t *verify_job_result(struct verify_job *j)
{
        return json_incref(j->result);
}

void verify_job_free(struct verify_job *j)
{
        if (!j)
                return;
        pthread_join(j->thread, NULL);
        j->ops->release(j->flow);
        json_decref(j->result);
        free(j->table);
        free(j);
}
