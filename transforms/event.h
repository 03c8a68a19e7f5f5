/* SPDX-License-Identifier: Apache-2.0
 * The typed change-event model every stage passes along: a row change
 * (op, before/after images, table, position) or a transaction boundary.
 * Boundaries are explicit so later stages checkpoint only at commits.
 *
 * Ownership: an event is one allocation (struct, value arrays and the
 * text bytes they point to) made by ferry_event_new and released by
 * ferry_event_free. It holds a reference on its ferry_table, so a schema
 * change in the source never invalidates events already queued.
 */
#ifndef FERRY_EVENT_H
#define FERRY_EVENT_H

#include "transforms/gtid.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a column holds, as ferry understands it (not the binlog type). */
enum ferry_type {
        FERRY_T_INT,       /* signed integers of every width */
        FERRY_T_UINT,      /* unsigned integers */
        FERRY_T_FLOAT,
        FERRY_T_DOUBLE,
        FERRY_T_DECIMAL,   /* exact, as text "-12.50" */
        FERRY_T_BIT,       /* BIT(n) as an unsigned integer */
        FERRY_T_YEAR,
        FERRY_T_DATE,      /* "YYYY-MM-DD" (zero dates kept as zeros) */
        FERRY_T_TIME,      /* "[-]HHH:MM:SS[.ffffff]" */
        FERRY_T_DATETIME,  /* "YYYY-MM-DD HH:MM:SS[.ffffff]" */
        FERRY_T_TIMESTAMP, /* as DATETIME, in UTC */
        FERRY_T_TEXT,      /* character data, converted to UTF-8 */
        FERRY_T_BLOB,      /* binary strings */
        FERRY_T_JSON,      /* JSON text, bytes exactly as stored */
        FERRY_T_ENUM,      /* the member's name */
        FERRY_T_SET,       /* members joined by ',' */
        FERRY_T_UUID,      /* canonical text form */
        FERRY_T_INET6,     /* canonical text form */
        FERRY_T_GEOMETRY,  /* WKB bytes (without MariaDB's SRID prefix) */
};

const char *ferry_type_name(enum ferry_type t);

/* How one value is carried. Text is UTF-8; bytes are arbitrary. */
enum ferry_vkind {
        FERRY_V_NULL,
        FERRY_V_INT,
        FERRY_V_UINT,
        FERRY_V_DOUBLE,
        FERRY_V_FLOAT, /* a FLOAT column: d holds it, printed as float */
        FERRY_V_TEXT,
        FERRY_V_BYTES,
};

struct ferry_value {
        uint8_t kind; /* enum ferry_vkind */
        uint32_t len; /* TEXT and BYTES */
        union {
                int64_t i;
                uint64_t u;
                double d;
                const char *p; /* TEXT and BYTES; not NUL-terminated */
        };
};

struct ferry_column {
        char *name;
        enum ferry_type type;
        bool nullable;
        bool pk;
};

/* A table's shape at one point of the binlog. Refcounted and immutable
 * once published: a new shape is a new ferry_table. */
struct ferry_table {
        atomic_int refcnt;
        char *db;
        char *name;
        size_t ncols;
        struct ferry_column *cols;
        size_t npk;
        uint32_t *pk; /* column indexes, in key order */
};

/* @returns a table with refcnt 1 and room for ncols zeroed columns. */
struct ferry_table *ferry_table_new(const char *db, const char *name,
                                    size_t ncols);
struct ferry_table *ferry_table_ref(struct ferry_table *t);
void ferry_table_unref(struct ferry_table *t);
/* @returns the index of the named column, or -1. */
int ferry_table_column(const struct ferry_table *t, const char *name);

enum ferry_event_kind {
        FERRY_EV_ROW,
        FERRY_EV_BEGIN,  /* a GTID event opened a transaction */
        FERRY_EV_COMMIT, /* XID (or COMMIT) closed it: a safe checkpoint */
        FERRY_EV_MARK,   /* progress to record with this transaction
                            (backfill: table and last key copied) */
        FERRY_EV_BARRIER, /* cutover barrier `mark` (ferry.signal): record
                             it once everything before it is applied */
        FERRY_EV_SNAPSHOT_REQUEST, /* backfill table `mark` (again) */
};

enum ferry_op {
        FERRY_OP_CREATE = 'c',
        FERRY_OP_UPDATE = 'u',
        FERRY_OP_DELETE = 'd',
        FERRY_OP_READ = 'r', /* backfill (snapshot) row */
};

/* Where an event sits in the source's history. */
struct ferry_pos {
        struct gtid gtid;  /* the transaction's GTID */
        uint64_t ts_ms;    /* commit time (binlog timestamp, seconds) */
        uint32_t row;      /* index of this row change in the transaction */
        uint64_t offset;   /* binlog file offset of the event */
        const char *file;  /* binlog file name, in the event's storage */
};

struct ferry_event {
        enum ferry_event_kind kind;
        enum ferry_op op;          /* FERRY_EV_ROW only */
        bool snapshot;             /* produced by the backfill */
        struct ferry_table *table; /* reference held; NULL for BEGIN/COMMIT */
        struct ferry_value *before; /* table->ncols values, or NULL */
        struct ferry_value *after;  /* table->ncols values, or NULL */
        struct ferry_pos pos;
        const char *mark;           /* MARK: value to record; BARRIER:
                                       its id; SNAPSHOT_REQUEST: table */
        struct ferry_event *next;   /* free for queue use */
        size_t size;                /* bytes of this allocation */
};

/**
 * @brief Allocates an event in one block.
 * @param table  referenced (not consumed); may be NULL for boundaries
 * @param with_before, with_after  whether to reserve value arrays
 * @param text_bytes  extra storage for text the values point into;
 *                    returned through *text
 */
struct ferry_event *ferry_event_new(enum ferry_event_kind kind,
                                    struct ferry_table *table,
                                    bool with_before, bool with_after,
                                    const char *file, size_t text_bytes,
                                    char **text);
void ferry_event_free(struct ferry_event *ev);

/* @returns true if any primary-key column differs between before/after. */
bool ferry_event_pk_changed(const struct ferry_event *ev);

bool ferry_value_equal(const struct ferry_value *a,
                       const struct ferry_value *b);

#endif
