/* SPDX-License-Identifier: Apache-2.0
 * Change event -> Debezium-shaped JSON; see event_json.h.
 */
#include "transforms/event_json.h"
#include "common/base64.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

json_t *event_json_value(const struct ferry_value *v)
{
        switch (v->kind) {
        case FERRY_V_NULL:
                return json_null();
        case FERRY_V_INT:
                return json_integer(v->i);
        case FERRY_V_UINT:
                if (v->u <= INT64_MAX)
                        return json_integer((json_int_t)v->u);
                char tmp[24];
                snprintf(tmp, sizeof(tmp), "%" PRIu64, v->u);
                return json_string(tmp);
        case FERRY_V_DOUBLE:
        case FERRY_V_FLOAT:
                return json_real(v->d);
        case FERRY_V_TEXT:
                return json_stringn(v->len ? v->p : "", v->len);
        case FERRY_V_BYTES: {
                struct buf b;
                buf_init(&b);
                base64_encode((const uint8_t *)v->p, v->len, &b);
                json_t *j = json_stringn(b.len ? b.data : "", b.len);
                buf_free(&b);
                return j;
        }
        default:
                return NULL;
        }
}

static json_t *row_object(const struct ferry_table *t,
                          const struct ferry_value *vals, char *errstr,
                          size_t errstr_size)
{
        json_t *o = json_object();
        for (size_t i = 0; i < t->ncols; i++) {
                json_t *v = event_json_value(&vals[i]);
                if (!v) {
                        snprintf(errstr, errstr_size,
                                 "table %s.%s column %s: value is not valid "
                                 "UTF-8 text",
                                 t->db, t->name, t->cols[i].name);
                        json_decref(o);
                        return NULL;
                }
                json_object_set_new(o, t->cols[i].name, v);
        }
        return o;
}

json_t *event_json_key(const struct ferry_event *ev, char *errstr,
                       size_t errstr_size)
{
        const struct ferry_table *t = ev->table;
        const struct ferry_value *vals = ev->after ? ev->after : ev->before;
        json_t *o = json_object();
        for (size_t i = 0; i < t->npk; i++) {
                uint32_t c = t->pk[i];
                json_t *v = event_json_value(&vals[c]);
                if (!v) {
                        snprintf(errstr, errstr_size,
                                 "table %s.%s key column %s: not valid UTF-8",
                                 t->db, t->name, t->cols[c].name);
                        json_decref(o);
                        return NULL;
                }
                json_object_set_new(o, t->cols[c].name, v);
        }
        return o;
}

json_t *event_json_envelope(const struct ferry_event *ev,
                            const struct event_json_opts *opts,
                            uint64_t now_ms, char *errstr,
                            size_t errstr_size)
{
        json_t *before = json_null(), *after = json_null();
        char gtid[GTID_STR_MAX];
        char op[2] = {(char)ev->op, '\0'};

        if (ev->before &&
            !(before = row_object(ev->table, ev->before, errstr, errstr_size)))
                return NULL;
        if (ev->after &&
            !(after = row_object(ev->table, ev->after, errstr, errstr_size))) {
                json_decref(before);
                return NULL;
        }
        json_t *source = json_pack(
                "{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:s?, s:s, s:I, "
                "s:I}",
                "version", opts->version ? opts->version : "",
                "connector", "mariadb",
                "name", opts->name ? opts->name : "ferry",
                "ts_ms", (json_int_t)ev->pos.ts_ms,
                "snapshot", ev->snapshot ? "true" : "false",
                "db", ev->table->db,
                "table", ev->table->name,
                "server_id", (json_int_t)ev->pos.gtid.server,
                "gtid", ev->snapshot && !ev->pos.gtid.seq
                                ? NULL
                                : gtid_format(&ev->pos.gtid, gtid),
                "file", ev->pos.file ? ev->pos.file : "",
                "pos", (json_int_t)ev->pos.offset,
                "row", (json_int_t)ev->pos.row);
        return json_pack("{s:o, s:o, s:o, s:s, s:I}", "before", before,
                         "after", after, "source", source, "op", op, "ts_ms",
                         (json_int_t)now_ms);
}

static int dump_cb(const char *data, size_t size, void *opaque)
{
        buf_append(opaque, data, size);
        return 0;
}

int event_json_dump(const json_t *j, struct buf *out)
{
        if (json_dump_callback(j, dump_cb, out,
                               JSON_COMPACT | JSON_PRESERVE_ORDER))
                return FERRY_ERR_DATA;
        return 0;
}
