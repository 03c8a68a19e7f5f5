/* SPDX-License-Identifier: Apache-2.0
 * GTID position parsing and formatting.
 */
#include "tests/unit/unit.h"
#include "transforms/gtid.h"

int main(void)
{
        struct gtid_pos pos;
        struct buf b;
        char err[256];

        gtid_pos_init(&pos);
        buf_init(&b);

        CHECK(gtid_pos_parse(&pos, "1-2-5, 0-1-100", err, sizeof(err)) == 0);
        CHECK(pos.n == 2);
        gtid_pos_format(&pos, &b);
        CHECK_STR(buf_cstr(&b), "0-1-100,1-2-5");

        struct gtid g = {.domain = 0, .server = 3, .seq = 18446744073709551615ull};
        gtid_pos_update(&pos, &g);
        buf_reset(&b);
        gtid_pos_format(&pos, &b);
        CHECK_STR(buf_cstr(&b), "0-3-18446744073709551615,1-2-5");

        CHECK(gtid_pos_parse(&pos, "", err, sizeof(err)) == 0);
        CHECK(pos.n == 0);
        CHECK(gtid_pos_parse(&pos, "0-1", err, sizeof(err)) != 0);
        CHECK(strstr(err, "0-1") != NULL);
        CHECK(gtid_pos_parse(&pos, "0-1-2,0-1-3", err, sizeof(err)) != 0);
        CHECK(strstr(err, "twice") != NULL);
        CHECK(gtid_pos_parse(&pos, "0-1-2x", err, sizeof(err)) != 0);
        CHECK(gtid_pos_parse(&pos, "-1-1-2", err, sizeof(err)) != 0);
        CHECK(gtid_pos_parse(&pos, "0-4294967296-1", err, sizeof(err)) != 0);

        struct gtid one;
        CHECK(gtid_parse(&one, "7-8-9") == 0);
        CHECK(one.domain == 7 && one.server == 8 && one.seq == 9);
        CHECK(gtid_parse(&one, "7-8-9,1-1-1") != 0);

        gtid_pos_free(&pos);
        buf_free(&b);
        UNIT_DONE();
}
