/* SPDX-License-Identifier: Apache-2.0
 * Kafka change message -> mapping input; see change_msg.h.
 */
#include "transforms/change_msg.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void change_msg_clear(struct change_msg *m)
{
        json_decref(m->key_doc);
        json_decref(m->value_doc);
        memset(m, 0, sizeof(*m));
}

/* An image is an object or JSON null (absent counts as null). */
static int image(json_t *doc, const char *name, json_t **out, char *errstr,
                 size_t errstr_size)
{
        json_t *v = json_object_get(doc, name);
        *out = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v)) {
                snprintf(errstr, errstr_size,
                         "value: \"%s\" is neither an object nor null", name);
                return FERRY_ERR_DATA;
        }
        *out = v;
        return 0;
}

static int parse_barrier(struct change_msg *out, char *errstr,
                         size_t errstr_size)
{
        json_t *id = json_object_get(out->value_doc, "barrier");
        if (!json_is_string(id) || json_string_length(id) == 0) {
                snprintf(errstr, errstr_size,
                         "barrier message without a \"barrier\" id string");
                return FERRY_ERR_DATA;
        }
        out->kind = CHANGE_MSG_BARRIER;
        out->barrier = json_string_value(id);
        return 0;
}

/* Which images each op needs: the mapping relies on them. */
static int check_images(const struct change_msg *m, char *errstr,
                        size_t errstr_size)
{
        bool need_before = m->op == 'u' || m->op == 'd';
        bool need_after = m->op != 'd';
        if ((need_before && !m->before) || (need_after && !m->after)) {
                snprintf(errstr, errstr_size,
                         "value: op '%c' without its %s image", m->op,
                         need_before && !m->before ? "before" : "after");
                return FERRY_ERR_DATA;
        }
        return 0;
}

int change_msg_parse(const void *key, size_t key_len, const void *value,
                     size_t value_len, struct change_msg *out, char *errstr,
                     size_t errstr_size)
{
        json_error_t jerr;
        int rc;

        memset(out, 0, sizeof(*out));
        out->value_doc =
                json_loadb(value, value_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!out->value_doc) {
                snprintf(errstr, errstr_size,
                         "value is not JSON: %s (at byte %d)", jerr.text,
                         jerr.position);
                return FERRY_ERR_DATA;
        }
        if (!json_is_object(out->value_doc)) {
                snprintf(errstr, errstr_size, "value is not a JSON object");
                return FERRY_ERR_DATA;
        }
        json_t *source = json_object_get(out->value_doc, "source");
        json_t *gtid = json_object_get(source, "gtid");
        out->gtid = json_is_string(gtid) ? json_string_value(gtid) : NULL;

        json_t *op = json_object_get(out->value_doc, "op");
        const char *ops = json_is_string(op) ? json_string_value(op) : NULL;
        if (!ops) {
                snprintf(errstr, errstr_size, "value: no \"op\" string");
                return FERRY_ERR_DATA;
        }
        if (!strcmp(ops, "barrier"))
                return parse_barrier(out, errstr, errstr_size);
        if (strlen(ops) != 1 || !strchr("cudr", ops[0])) {
                snprintf(errstr, errstr_size,
                         "value: op \"%.20s\" is not c, u, d, r or barrier",
                         ops);
                return FERRY_ERR_DATA;
        }
        out->kind = CHANGE_MSG_ROW;
        out->op = ops[0];

        json_t *table = json_object_get(source, "table");
        if (!json_is_string(table) || json_string_length(table) == 0) {
                snprintf(errstr, errstr_size,
                         "value: no \"source.table\" string");
                return FERRY_ERR_DATA;
        }
        out->table = json_string_value(table);
        if ((rc = image(out->value_doc, "before", &out->before, errstr,
                        errstr_size)) ||
            (rc = image(out->value_doc, "after", &out->after, errstr,
                        errstr_size)) ||
            (rc = check_images(out, errstr, errstr_size)))
                return rc;

        if (!key || key_len == 0) {
                snprintf(errstr, errstr_size, "row message without a key");
                return FERRY_ERR_DATA;
        }
        out->key_doc = json_loadb(key, key_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!out->key_doc || !json_is_object(out->key_doc) ||
            json_object_size(out->key_doc) == 0) {
                snprintf(errstr, errstr_size,
                         "key is not a non-empty JSON object%s%s",
                         out->key_doc ? "" : ": ",
                         out->key_doc ? "" : jerr.text);
                return FERRY_ERR_DATA;
        }
        out->key = out->key_doc;
        return 0;
}
