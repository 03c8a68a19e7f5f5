/* SPDX-License-Identifier: Apache-2.0
 * The write pause without a server: the LOCK TABLES statement it
 * builds, the budget (drain_timeout, then lock_timeout once locked),
 * and an abort that comes before the first attempt.
 */
#include "common/clock.h"
#include "daemon/write_pause.h"
#include "tests/unit/unit.h"

#include <stdatomic.h>

int main(void)
{
        struct buf q;
        buf_init(&q);
        write_pause_put_table(&q, "shop", "orders");
        CHECK_STR(buf_cstr(&q), "LOCK TABLES `shop`.`orders` READ");
        write_pause_put_table(&q, "shop", "odd`name");
        CHECK_STR(buf_cstr(&q), "LOCK TABLES `shop`.`orders` READ, "
                                "`shop`.`odd``name` READ");

        struct write_pause wp;
        write_pause_init(&wp, "cutover", "source writes", "the source tables",
                         1000, 5000);
        CHECK(!wp.locked && !wp.conn && wp.pause_ms == 0);
        write_pause_begin(&wp);
        int64_t left = write_pause_budget_ms(&wp);
        CHECK(left > 4000 && left <= 5000);
        /* Locked 900 ms ago: lock_timeout is the nearer end. */
        wp.locked = true;
        wp.t_locked = clock_mono_us() - 900 * 1000;
        left = write_pause_budget_ms(&wp);
        CHECK(left <= 100);
        wp.t_locked -= 200 * 1000;
        CHECK(write_pause_budget_ms(&wp) < 0);
        wp.locked = false;

        /* Aborted already: no attempt is made, so no connection is
         * needed, and the reason says why. */
        atomic_bool abort = true;
        char err[1024];
        CHECK(write_pause_take(&wp, buf_cstr(&q), &abort, err, sizeof(err)) <
              0);
        CHECK(!wp.locked);
        CHECK(strstr(err, "could not pause writes on the source tables") ==
              err);
        CHECK(strstr(err, ": aborted") != NULL);
        /* Not locked: nothing to release. */
        write_pause_release(&wp);
        CHECK(wp.pause_ms == 0);

        buf_free(&q);
        UNIT_DONE();
}
