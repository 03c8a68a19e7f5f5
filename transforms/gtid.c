/* SPDX-License-Identifier: Apache-2.0
 * GTID and GTID-position parsing and formatting.
 */
#include "transforms/gtid.h"
#include "common/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gtid_pos_init(struct gtid_pos *pos)
{
        pos->n = 0;
        pos->v = NULL;
}

void gtid_pos_free(struct gtid_pos *pos)
{
        free(pos->v);
        gtid_pos_init(pos);
}

void gtid_pos_copy(struct gtid_pos *dst, const struct gtid_pos *src)
{
        free(dst->v);
        dst->n = src->n;
        dst->v = src->n ? xmemdup(src->v, src->n * sizeof(*src->v)) : NULL;
}

static int parse_u64(const char **s, uint64_t max, uint64_t *out)
{
        char *end;
        if (**s < '0' || **s > '9')
                return -1;
        errno = 0;
        unsigned long long v = strtoull(*s, &end, 10);
        if (errno || v > max)
                return -1;
        *out = v;
        *s = end;
        return 0;
}

static int parse_one(const char **s, struct gtid *g)
{
        uint64_t d, sv, n;
        if (parse_u64(s, UINT32_MAX, &d) || **s != '-')
                return -1;
        (*s)++;
        if (parse_u64(s, UINT32_MAX, &sv) || **s != '-')
                return -1;
        (*s)++;
        if (parse_u64(s, UINT64_MAX, &n))
                return -1;
        g->domain = (uint32_t)d;
        g->server = (uint32_t)sv;
        g->seq = n;
        return 0;
}

int gtid_parse(struct gtid *g, const char *text)
{
        const char *s = text;
        if (parse_one(&s, g) || *s)
                return FERRY_ERR_CONFIG;
        return 0;
}

int gtid_pos_parse(struct gtid_pos *pos, const char *text, char *errstr,
                   size_t errstr_size)
{
        const char *s = text;
        gtid_pos_free(pos);
        while (*s == ' ')
                s++;
        while (*s) {
                struct gtid g;
                if (parse_one(&s, &g)) {
                        snprintf(errstr, errstr_size,
                                 "bad GTID position '%s': expected "
                                 "domain-server-sequence[,...]",
                                 text);
                        gtid_pos_free(pos);
                        return FERRY_ERR_CONFIG;
                }
                for (size_t i = 0; i < pos->n; i++) {
                        if (pos->v[i].domain == g.domain) {
                                snprintf(errstr, errstr_size,
                                         "bad GTID position '%s': domain %u "
                                         "appears twice",
                                         text, g.domain);
                                gtid_pos_free(pos);
                                return FERRY_ERR_CONFIG;
                        }
                }
                gtid_pos_update(pos, &g);
                while (*s == ' ')
                        s++;
                if (*s == ',') {
                        s++;
                        while (*s == ' ')
                                s++;
                } else if (*s) {
                        snprintf(errstr, errstr_size,
                                 "bad GTID position '%s': unexpected '%c'",
                                 text, *s);
                        gtid_pos_free(pos);
                        return FERRY_ERR_CONFIG;
                }
        }
        return 0;
}

void gtid_pos_update(struct gtid_pos *pos, const struct gtid *g)
{
        size_t i = 0;
        while (i < pos->n && pos->v[i].domain < g->domain)
                i++;
        if (i < pos->n && pos->v[i].domain == g->domain) {
                pos->v[i] = *g;
                return;
        }
        pos->v = xrealloc(pos->v, (pos->n + 1) * sizeof(*pos->v));
        memmove(&pos->v[i + 1], &pos->v[i], (pos->n - i) * sizeof(*pos->v));
        pos->v[i] = *g;
        pos->n++;
}

char *gtid_format(const struct gtid *g, char *out)
{
        snprintf(out, GTID_STR_MAX, "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
                 g->domain, g->server, g->seq);
        return out;
}

void gtid_pos_format(const struct gtid_pos *pos, struct buf *out)
{
        char tmp[GTID_STR_MAX];
        for (size_t i = 0; i < pos->n; i++) {
                if (i)
                        buf_putc(out, ',');
                buf_puts(out, gtid_format(&pos->v[i], tmp));
        }
}
