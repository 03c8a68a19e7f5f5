/* SPDX-License-Identifier: Apache-2.0
 * Barriers; see barrier.h.
 */
#include "daemon/barrier.h"

#include "common/clock.h"
#include "common/buf.h"
#include "connectors/db_conn.h"
#include "connectors/signal_table.h"
#include "daemon/pipeline.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 2

int barrier_write(const struct cfg *cfg, MYSQL *src, char *id, size_t id_size,
                  char *errstr, size_t errstr_size)
{
        static atomic_uint seq;
        char err[512];
        snprintf(id, id_size, "barrier-%u-%d-%u", cfg->source.server_id,
                 (int)getpid(), atomic_fetch_add(&seq, 1));
        int rc = signal_table_write(src, id, "barrier", "", err, sizeof(err));
        if (rc)
                snprintf(errstr, errstr_size, "barrier: %s", err);
        return rc;
}

int barrier_pass(const struct cfg *cfg, MYSQL *src, MYSQL *dst,
                 int64_t timeout_ms, const atomic_bool *abort, char *id,
                 size_t id_size, char *errstr, size_t errstr_size)
{
        char name[300], got[128], err[512];
        uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
        int rc = barrier_write(cfg, src, id, id_size, errstr, errstr_size);
        if (rc)
                return rc;
        pipeline_name(cfg, name, sizeof(name));
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT position FROM ferry.offsets WHERE pipeline = ");
        db_put_quoted(dst, &q, name, strlen(name));
        buf_puts(&q, " AND part = 'barrier'");
        for (;;) {
                if (abort && atomic_load(abort)) {
                        snprintf(errstr, errstr_size,
                                 "aborted while waiting "
                                 "for the sink");
                        rc = FERRY_ERR_RETRY;
                        break;
                }
                if (clock_mono_ms() > deadline) {
                        snprintf(errstr, errstr_size,
                                 "the sink did not apply "
                                 "barrier %s within %lldms",
                                 id, (long long)timeout_ms);
                        rc = FERRY_ERR_RETRY;
                        break;
                }
                got[0] = '\0';
                if ((rc = db_query_value(dst, buf_cstr(&q), got, sizeof(got),
                                         err, sizeof(err)))) {
                        snprintf(errstr, errstr_size,
                                 "reading ferry.offsets: "
                                 "%s",
                                 err);
                        break;
                }
                if (!strcmp(got, id))
                        break;
                struct timespec ts = {0, POLL_MS * 1000000L};
                nanosleep(&ts, NULL);
        }
        buf_free(&q);
        return rc;
}
