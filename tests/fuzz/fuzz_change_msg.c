/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the sink's side of Kafka: one change message (key
 * and value, as anyone who can write to the topic could produce them)
 * parsed by change_msg_parse and, when it parses as a row, mapped the way
 * the sink worker maps it. Bad input must come back as an error, never a
 * crash, a leak or an out-of-bounds read.
 *
 * Input: u8 k, then the key (k mod (rest + 1) bytes), then the value.
 * An empty value is a tombstone, which the sink skips before parsing.
 */
#include "transforms/change_msg.h"
#include "transforms/mapping.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every mapping feature on table "t", so a parsed row runs through value
 * maps, transforms, routes and renames. */
static const char mapping_text[] =
        "{\"version\": 1, \"tables\": ["
        "{\"source\": \"t\", \"rename\": {\"v\": \"w\"},"
        " \"values\": {\"s\": {\"A\": \"a\", \"1\": 2}},"
        " \"transforms\": [{\"column\": \"e\", \"fn\": \"trim\"},"
        "  {\"column\": \"e\", \"fn\": \"lowercase\"},"
        "  {\"column\": \"j\", \"fn\": \"json_get\", \"path\": \"$.a[0]\"},"
        "  {\"column\": \"c\", \"fn\": \"concat\", \"columns\": [\"v\", \"s\"],"
        "   \"separator\": \"-\"}],"
        " \"routes\": [{\"when\": {\"k\": [\"x\", 1, true]}, \"target\": "
        "\"tx\"},"
        "  {\"target\": \"ty\", \"drop\": [\"d\"]}]},"
        "{\"source\": \"u\", \"target\": \"tu\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct mapping *m;
        char err[512];
        if (!m &&
            mapping_parse(mapping_text, "fuzz.json", &m, err, sizeof(err)))
                abort(); /* the fixed mapping above is wrong */
        if (size < 1)
                return 0;
        size_t rest = size - 1;
        size_t klen = data[0] % (rest + 1);
        size_t vlen = rest - klen;
        if (vlen == 0)
                return 0; /* tombstone */

        /* Copies make ASan see the exact bounds of each part. */
        uint8_t *key = klen ? malloc(klen) : NULL;
        uint8_t *value = malloc(vlen);
        if (klen)
                memcpy(key, data + 1, klen);
        memcpy(value, data + 1 + klen, vlen);

        struct change_msg cm;
        if (change_msg_parse(key, klen, value, vlen, &cm, err, sizeof(err)) ==
                    0 &&
            cm.kind == CHANGE_MSG_ROW) {
                struct mapping_ops ops;
                mapping_ops_init(&ops);
                (void)!mapping_apply(m, cm.table, cm.op, cm.key, cm.before,
                                     cm.after, &ops, err, sizeof(err));
                mapping_ops_clear(&ops);
        }
        change_msg_clear(&cm);
        free(key);
        free(value);
        return 0;
}
