/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the binlog decoder: a TABLE_MAP body and a row
 * image, as an attacker-controlled server (or a corrupted relay) could
 * send them. Bad input must come back as an error, never a crash or an
 * out-of-bounds read.
 *
 * Input: u16 LE table-map length, table-map body, u8 rows kind (0 write,
 * 1 update, 2 delete), then the row data. Every column is present.
 */
#include "common/buf.h"
#include "connectors/binlog_rows.h"
#include "connectors/binlog_table.h"
#include "transforms/event_json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(struct ferry_event *ev, void *opaque)
{
        char err[256];
        json_t *j = event_json_envelope(ev, opaque, 0, err, sizeof(err));
        json_decref(j);
        ferry_event_free(ev);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct charset_map *cs;
        if (!cs)
                cs = charset_map_new();
        if (size < 3)
                return 0;
        size_t tlen = (size_t)data[0] | (size_t)data[1] << 8;
        if (tlen > size - 3)
                return 0;
        const uint8_t *tm = data + 2;
        uint8_t kind = data[2 + tlen] % 3;
        const uint8_t *rows = data + 3 + tlen;
        size_t rlen = size - 3 - tlen;

        struct binlog_table *t;
        char err[512];
        /* Copies make ASan see the exact bounds of each part. */
        uint8_t *tmc = malloc(tlen ? tlen : 1);
        memcpy(tmc, tm, tlen);
        if (binlog_table_parse(tmc, tlen, 8, cs, &t, err, sizeof(err)) == 0) {
                uint8_t present[512];
                memset(present, 0xff, sizeof(present));
                uint8_t *rc = malloc(rlen ? rlen : 1);
                memcpy(rc, rows, rlen);
                struct binlog_rows r = {
                        .kind = (enum binlog_rows_kind)kind,
                        .ncols = t->ncols,
                        .present = present,
                        .present_after = kind == 1 ? present : NULL,
                        .data = rc,
                        .len = rlen,
                };
                struct ferry_pos pos = {.file = "fuzz"};
                struct buf scratch;
                struct event_json_opts o = {.name = "fuzz"};
                buf_init(&scratch);
                if (t->ncols <= sizeof(present) * 8)
                        (void)!binlog_rows_decode(t, &r, &pos, &scratch, sink,
                                                  &o, err, sizeof(err));
                buf_free(&scratch);
                free(rc);
                binlog_table_free(t);
        }
        free(tmc);
        return 0;
}
