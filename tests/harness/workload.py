# SPDX-License-Identifier: Apache-2.0
"""Live writes on the event_finder source tables while ferry streams, and
the row-by-row comparison that judges the copy.

Workload runs a paced mix of what the Django app does (sign-ups, ticket
purchases with their payment and notification, webhooks rewriting JSON,
check-ins, saves, reminders) plus the cases DESIGN.md says break naive
copies: primary-key changes, secondary unique values (e-mail, clerk id,
ticket id, payment reference, (user, event), settings' user) leaving one
row and arriving at another in the same transaction or the next,
multi-row transactions and statements, JSON rewritten with odd spacing,
NULL toggles.

Every transaction the server acknowledged is recorded (Ack, with its
latency), and the workload keeps a model of every row it touched: the
full row image it read under FOR UPDATE plus the values it wrote, as the
exact text MariaDB returns. verify(conn) checks that model against any
copy, so "every OK'd write is in the target" holds even where the source
itself later lost it. With several connections each one owns the rows
whose id is congruent to its number, so the model's order is the commit
order.

compare() streams a source and a target table sorted by primary key and
merges them, comparing the raw bytes of every column.
"""
import collections
import json
import random
import signal
import threading
import time
import uuid

import MySQLdb

from tests.harness import event_finder as ef

T_USER = "clerk_sync_clerkuser"
T_EVENT = "clerk_sync_event"
T_TYPE = "clerk_sync_eventtickettype"
T_TICKET = "clerk_sync_ticket"
T_SAVED = "clerk_sync_savedevent"
T_NOTIF = "clerk_sync_notification"
T_SETTINGS = "clerk_sync_notificationsettings"
T_PAYMENT = "clerk_sync_payment"
T_CAL = "clerk_sync_calendarevent"

# Tables nothing references: their primary keys may change under FKs.
LEAF_TABLES = [T_TICKET, T_SAVED, T_NOTIF, T_SETTINGS, T_PAYMENT, T_CAL]

# op name -> weight. Names map to Worker.op_<name>.
MIX = {
    "signup": 5, "user_metadata": 6, "email_move": 3, "clerk_id_swap": 2,
    "ticket_purchase": 10, "ticket_checkin": 5, "ticket_id_move": 3,
    "payment_webhook": 6, "reference_move": 2, "payment_event_toggle": 2,
    "pk_change": 6, "notify_bulk": 5, "notify_read": 4, "notify_delete": 3,
    "save_event": 4, "unsave_event": 2, "saved_pair_move": 2,
    "settings_move": 2, "settings_toggle": 3, "calendar_add": 3,
    "reminder_toggle": 3, "calendar_delete": 2, "event_update": 3,
    "user_delete": 1,
}

# lock wait timeout, deadlock, duplicate key, FK parent gone / child left:
# rolled back and counted; anything else stops the worker (a bug).
RETRYABLE = {1205, 1213, 1062, 1452, 1451}

Ack = collections.namedtuple("Ack", "seq conn op t latency rows")
Ack.__doc__ = """One committed transaction: rows is a tuple of
(table, pk, 'upsert' | 'delete'); latency in seconds from its first write
to the end of COMMIT; t is time.monotonic() at the acknowledgement."""

class Diff(collections.namedtuple("Diff",
                                  "table key kind column source target")):
    """One difference: kind is 'missing' (in the source, not in the
    target), 'extra' (in the target only), 'different' (column differs)
    or 'schema'; key is the primary key tuple; source/target are raw
    bytes (a whole row for missing/extra)."""

    def __str__(self):
        def short(v):
            r = repr(v)
            return r if len(r) <= 120 else r[:117] + "..."
        where = f"{self.table} {self.key}"
        if self.kind == "different":
            return (f"{where}: {self.column} differs: source "
                    f"{short(self.source)} target {short(self.target)}")
        if self.kind == "schema":
            return f"{where}: schema: {self.column} {short(self.source)}"
        return f"{where}: {self.kind} in target"


def b(v):
    """A value as the exact bytes MariaDB's text protocol returns it."""
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"1" if v else b"0"
    return str(v).encode()


def now6():
    return ef.dt6(ef.now_us())


class Txn:
    """One transaction on a worker's connection: timed writes, and the
    row images they leave behind, applied to the model at COMMIT."""

    def __init__(self, worker):
        self.w = worker
        self.cur = worker.cur
        self.reset()

    def reset(self):
        self.effects = []  # (table, pk, row dict | None)
        self.writes = 0
        self.started = None
        self.pk_changes = 0
        self.unique_moves = 0

    # -- reads -------------------------------------------------------------
    def row(self, table, pk):
        """The current row (bytes per column) locked FOR UPDATE, or None."""
        cols = ef.COLUMNS[table]
        self.cur.execute("SELECT %s FROM `%s` WHERE id = %%s FOR UPDATE" % (
            ", ".join("`%s`" % c for c in cols), table), (pk,))
        r = self.cur.fetchone()
        return None if r is None else dict(zip(cols, r))

    def pick(self, table, avoid=()):
        """A random existing row this worker owns, locked; (pk, row) or
        (None, None) when several tries miss (deleted or moved rows)."""
        for _ in range(6):
            pk = self.w.random_id(table)
            if pk is None:
                return None, None
            if pk in avoid:
                continue
            r = self.row(table, pk)
            if r is not None:
                return pk, r
        return None, None

    # -- writes --------------------------------------------------------------
    def write(self, sql, args=()):
        t0 = time.monotonic()
        if self.started is None:
            self.started = t0
        self.cur.execute(sql, args)
        self.w.wl.note_latency(time.monotonic() - t0)
        self.writes += 1
        self.w.wrote += 1
        return self.cur.rowcount

    def insert(self, table, rows):
        """One multi-row INSERT of complete rows (dicts keyed by column)."""
        cols = ef.COLUMNS[table]
        one = "(" + ", ".join(["%s"] * len(cols)) + ")"
        self.write("INSERT INTO `%s` (%s) VALUES %s" % (
            table, ", ".join("`%s`" % c for c in cols),
            ", ".join([one] * len(rows))),
            [r[c] for r in rows for c in cols])
        for r in rows:
            self.effects.append((table, r["id"],
                                 {c: b(r[c]) for c in cols}))

    def update(self, table, pk, row, **changes):
        """UPDATE one row by id; changing `id` is a primary-key change."""
        sets = ", ".join("`%s` = %%s" % c for c in changes)
        self.write("UPDATE `%s` SET %s WHERE id = %%s" % (table, sets),
                   list(changes.values()) + [pk])
        new = dict(row)
        new.update({c: b(v) for c, v in changes.items()})
        if "id" in changes and changes["id"] != pk:
            self.effects.append((table, pk, None))
            self.pk_changes += 1
        self.effects.append((table, changes.get("id", pk), new))
        return new

    def delete(self, table, pk):
        self.write("DELETE FROM `%s` WHERE id = %%s" % table, (pk,))
        self.effects.append((table, pk, None))

    def commit(self, op):
        """COMMIT, then record the acknowledgement and the row images."""
        if not self.writes:
            self.w.conn.rollback()
            return
        t0 = time.monotonic()
        self.w.conn.commit()
        t1 = time.monotonic()
        self.w.wl.note_latency(t1 - t0)
        self.w.wl.acked(self, op, t1)
        self.reset()


class Worker(threading.Thread):
    """One connection running the mix at its share of the rate."""

    def __init__(self, wl, k):
        super().__init__(daemon=True, name=f"workload-{k}")
        self.wl, self.k = wl, k
        self.rng = random.Random(f"{wl.seed}:worker:{k}")
        self.own_users = []  # (user id, settings id) made here, no children
        self.seq = 0
        self.wrote = 0  # write statements sent, acknowledged or not
        self.error = None

    # -- ids ----------------------------------------------------------------
    def random_id(self, table):
        """An id in [min, max] of table congruent to k (mod n)."""
        lo, hi = self.wl.lo[table], self.wl.hi(table)
        n = self.wl.nconn
        if hi < lo:
            return None
        r = self.rng.randint(lo, hi)
        r += (self.k - r) % n
        if r > hi:
            r -= n
        return r if r >= lo else None

    def fk(self, table):
        """A parent id for a foreign key: only rows that existed at the
        start (the generator's ids are dense, and the workload never
        deletes or renumbers users or events it did not create)."""
        lo, hi = self.wl.lo[table], self.wl.init_max[table]
        return self.rng.randint(lo, hi) if hi >= lo else None

    def fresh(self, what):
        """A unique value no other worker or run can produce."""
        self.seq += 1
        return f"{what}{self.wl.run_tag}k{self.k}n{self.seq}"

    # -- loop ---------------------------------------------------------------
    def run(self):
        try:
            self.conn = self.wl.connect()
            self.conn.autocommit(False)
            self.conn.converter = {}  # rows as raw bytes, like compare()
            self.cur = self.conn.cursor()
            self.cur.execute("SET SESSION time_zone = '+00:00', "
                             "innodb_lock_wait_timeout = 5")
            self.loop()
        except Exception as e:  # surfaced by Workload.stop()/join()
            self.error = e
        finally:
            try:
                self.conn.close()
            except Exception:
                pass

    def loop(self):
        ops, weights = zip(*self.wl.mix.items())
        rate = self.wl.rate / self.wl.nconn
        due = time.monotonic()
        while not self.wl.should_stop():
            before = self.wrote
            op = self.rng.choices(ops, weights)[0]
            t = Txn(self)
            try:
                getattr(self, "op_" + op)(t)
                t.commit(op)
            except MySQLdb.Error as e:
                self.conn.rollback()
                code = e.args[0] if e.args else 0
                if code not in RETRYABLE:
                    raise
                self.wl.note_error(code)
            # pace on statements sent (an op may commit more than once)
            due += max(self.wrote - before, 1) / rate if rate > 0 else 0
            now = time.monotonic()
            if due < now - 1.0:
                due = now  # fell behind: do not burst to catch up
            elif due > now:
                self.wl.halt.wait(due - now)

    # -- users ----------------------------------------------------------------
    def new_user(self, uid):
        rng = self.rng
        f, l_ = ef.user_names(uid)
        ts = now6()
        return {"id": uid, "clerk_id": "user_" + ef.token(rng, 27),
                "email": self.fresh(ef.FIRST_SLUGS[f] + ".") + "@gmail.com",
                "first_name": ef.FIRST_NAMES[f], "last_name": ef.LAST_NAMES[l_],
                "image_url": "https://img.clerk.com/" + ef.token(rng, 60),
                "is_admin": 0, "metadata": ef.odd_json(
                    rng, ef.user_metadata_obj(rng)).replace("%%", "%"),
                "created_at": ts, "updated_at": ts}

    def new_settings(self, sid, uid):
        bits = self.rng.getrandbits(5)
        return {"id": sid, "email_notifications": bits & 1,
                "push_notifications": bits >> 1 & 1,
                "event_reminders": bits >> 2 & 1,
                "ticket_updates": bits >> 3 & 1,
                "marketing_emails": bits >> 4 & 1, "updated_at": now6(),
                "user_id": uid}

    def op_signup(self, t):
        """A new user and their settings row, in one transaction."""
        uid, sid = self.wl.alloc(T_USER, self.k), self.wl.alloc(T_SETTINGS,
                                                                self.k)
        t.insert(T_USER, [self.new_user(uid)])
        t.insert(T_SETTINGS, [self.new_settings(sid, uid)])
        self.own_users.append((uid, sid))

    def op_user_metadata(self, t):
        """Clerk webhook: metadata rewritten with another odd spacing."""
        pk, row = t.pick(T_USER)
        if pk is not None:
            t.update(T_USER, pk, row, metadata=ef.odd_json(
                self.rng, ef.user_metadata_obj(self.rng)).replace("%%", "%"),
                updated_at=now6())

    def op_user_delete(self, t):
        """Account deletion of a user made here (nothing references it)."""
        if not self.own_users:
            return
        uid, sid = self.own_users.pop(self.rng.randrange(len(self.own_users)))
        srow, urow = t.row(T_SETTINGS, sid), t.row(T_USER, uid)
        if srow is not None:
            t.delete(T_SETTINGS, sid)
        if urow is not None:
            t.delete(T_USER, uid)

    def move_unique(self, t, op, table, col, make):
        """A unique value leaves row A (which gets a fresh one) and
        arrives at row B, in the same transaction or the next."""
        a, ra = t.pick(table)
        if a is None:
            return
        bk, rb = t.pick(table, avoid=(a,))
        if bk is None:
            return
        value = ra[col].decode()
        t.update(table, a, ra, **{col: make()})
        if self.rng.random() < 0.4:
            t.commit(op)  # the value arrives in the next transaction
            rb = t.row(table, bk)
            if rb is None:
                return
        t.update(table, bk, rb, **{col: value})
        t.unique_moves += 1

    def op_email_move(self, t):
        self.move_unique(t, "email_move", T_USER, "email",
                         lambda: self.fresh("moved.") + "@eventfinder.ng")

    def op_clerk_id_swap(self, t):
        """Two users swap clerk ids through a temporary value: three
        updates, two unique moves, one transaction."""
        a, ra = t.pick(T_USER)
        bk, rb = t.pick(T_USER, avoid=(a,))
        if a is None or bk is None:
            return
        ca, cb = ra["clerk_id"].decode(), rb["clerk_id"].decode()
        ra = t.update(T_USER, a, ra, clerk_id=self.fresh("tmp_"))
        t.update(T_USER, bk, rb, clerk_id=ca)
        t.update(T_USER, a, ra, clerk_id=cb)
        t.unique_moves += 2

    # -- tickets and payments ---------------------------------------------------
    def op_ticket_purchase(self, t):
        """1-3 tickets (one multi-row INSERT), their payment, a
        notification, and quantity_sold on the ticket type."""
        tt = self.fk(T_TYPE)
        user = self.fk(T_USER)
        if tt is None or user is None:
            return
        trow = t.row(T_TYPE, tt)
        if trow is None:
            return
        n = self.rng.randint(1, 3)
        ev, ts = int(trow["event_id"]), now6()
        tickets = [{"id": self.wl.alloc(T_TICKET, self.k),
                    "ticket_id": uuid.uuid4().hex,
                    "qr_code": "data:image/png;base64," + ef.token(
                        self.rng, 120), "status": "active",
                    "purchased_at": ts, "checked_in_at": None,
                    "event_id": ev, "ticket_type_id": tt, "user_id": user}
                   for _ in range(n)]
        t.insert(T_TICKET, tickets)
        cents = int(trow["price"].replace(b".", b"")) * n
        t.insert(T_PAYMENT, [self.new_payment(user, ev, cents, ts)])
        t.insert(T_NOTIF, [self.new_notification(user)])
        sold, qty = int(trow["quantity_sold"]), int(trow["quantity"])
        if sold + n <= qty:
            t.update(T_TYPE, tt, trow, quantity_sold=sold + n)

    def new_payment(self, user, ev, cents, ts):
        pid = self.wl.alloc(T_PAYMENT, self.k)
        ref = self.fresh("EVF-")
        status = self.rng.choice(["success", "pending", "failed"])
        return {"id": pid, "reference": ref, "amount": ef.money(cents),
                "currency": "NGN", "status": status, "provider": "paystack",
                "provider_payload": self.payload(ref, cents, status, ev),
                "created_at": ts, "updated_at": ts, "event_id": ev,
                "user_id": user}

    def payload(self, ref, cents, status, ev):
        tmpl = ef.odd_json(self.rng, ef.paystack_obj())
        return tmpl % ef.paystack_values(self.rng, ref, cents, status,
                                         ef.now_us(), ev, "buyer@gmail.com")

    def op_ticket_checkin(self, t):
        """Check in, or undo a check-in: checked_in_at NULL <-> value."""
        pk, row = t.pick(T_TICKET)
        if pk is None:
            return
        if row["checked_in_at"] is None:
            t.update(T_TICKET, pk, row, status="used", checked_in_at=now6())
        else:
            t.update(T_TICKET, pk, row, status="active", checked_in_at=None)

    def op_ticket_id_move(self, t):
        self.move_unique(t, "ticket_id_move", T_TICKET, "ticket_id",
                         lambda: uuid.uuid4().hex)

    def op_payment_webhook(self, t):
        """Paystack calls back: status and the whole JSON payload change."""
        pk, row = t.pick(T_PAYMENT)
        if pk is None:
            return
        status = self.rng.choice(["success", "failed", "reversed"])
        ev = row["event_id"]
        t.update(T_PAYMENT, pk, row, status=status, updated_at=now6(),
                 provider_payload=self.payload(
                     row["reference"].decode(),
                     int(row["amount"].replace(b".", b"")), status,
                     None if ev is None else int(ev)))

    def op_reference_move(self, t):
        self.move_unique(t, "reference_move", T_PAYMENT, "reference",
                         lambda: self.fresh("EVF-R"))

    def op_payment_event_toggle(self, t):
        """A nullable FK flips between NULL and an event."""
        pk, row = t.pick(T_PAYMENT)
        if pk is None:
            return
        ev = None if row["event_id"] is not None else self.fk(T_EVENT)
        t.update(T_PAYMENT, pk, row, event_id=ev, updated_at=now6())

    def op_pk_change(self, t):
        """UPDATE ... SET id = new on a table nothing references."""
        table = self.rng.choice(LEAF_TABLES)
        pk, row = t.pick(table)
        if pk is not None:
            t.update(table, pk, row, id=self.wl.alloc(table, self.k))

    # -- notifications, saves, settings, calendar --------------------------------
    def new_notification(self, user, admin=False):
        return {"id": self.wl.alloc(T_NOTIF, self.k),
                "is_admin_notification": int(admin),
                "notification_type": "admin_alert" if admin else
                self.rng.choice(ef.NOTIFICATION_TYPES[:7]),
                "title": self.rng.choice(["Your ticket is confirmed 🎟️",
                                          "Zoë saved your event ❤️",
                                          "Flagged event needs review"]),
                "message": " ".join(self.rng.choices(ef.SENTENCES, k=2)),
                "read": 0, "created_at": now6(),
                "user_id": None if admin else user}

    def op_notify_bulk(self, t):
        """A broadcast: several notifications in one INSERT, some of
        them admin notifications with user_id NULL."""
        rows = []
        for _ in range(self.rng.randint(2, 6)):
            admin = self.rng.random() < 0.25
            user = self.fk(T_USER)
            if user is None and not admin:
                continue
            rows.append(self.new_notification(user, admin))
        if rows:
            t.insert(T_NOTIF, rows)

    def op_notify_read(self, t):
        """Mark a few as read (or unread) with one multi-row UPDATE."""
        picked = {}
        for _ in range(self.rng.randint(1, 5)):
            pk, row = t.pick(T_NOTIF, avoid=picked)
            if pk is not None:
                picked[pk] = row
        if not picked:
            return
        flag = self.rng.randint(0, 1)
        t.write("UPDATE `%s` SET `read` = %%s WHERE id IN (%s)" % (
            T_NOTIF, ", ".join(["%s"] * len(picked))), [flag] + list(picked))
        for pk, row in picked.items():
            t.effects.append((T_NOTIF, pk, dict(row, read=b(flag))))

    def op_notify_delete(self, t):
        pk, _ = t.pick(T_NOTIF)
        if pk is not None:
            t.delete(T_NOTIF, pk)

    def free_pair(self, t):
        """A (user, event) not saved yet (locked by the read)."""
        for _ in range(5):
            u, e = self.fk(T_USER), self.fk(T_EVENT)
            if u is None or e is None:
                return None
            t.cur.execute("SELECT id FROM `%s` WHERE user_id = %%s AND "
                          "event_id = %%s FOR UPDATE" % T_SAVED, (u, e))
            if t.cur.fetchone() is None:
                return u, e
        return None

    def op_save_event(self, t):
        pair = self.free_pair(t)
        if pair:
            t.insert(T_SAVED, [{"id": self.wl.alloc(T_SAVED, self.k),
                                "saved_at": now6(), "event_id": pair[1],
                                "user_id": pair[0]}])

    def op_unsave_event(self, t):
        pk, _ = t.pick(T_SAVED)
        if pk is not None:
            t.delete(T_SAVED, pk)

    def op_saved_pair_move(self, t):
        """(user, event) leaves row A and arrives at a new row B: A is
        deleted, or re-pointed at a free pair, then B is inserted."""
        a, ra = t.pick(T_SAVED)
        if a is None:
            return
        if self.rng.random() < 0.5:
            t.delete(T_SAVED, a)
        else:
            pair = self.free_pair(t)
            if pair is None:
                return
            t.update(T_SAVED, a, ra, user_id=pair[0], event_id=pair[1])
        t.insert(T_SAVED, [{"id": self.wl.alloc(T_SAVED, self.k),
                            "saved_at": now6(),
                            "event_id": int(ra["event_id"]),
                            "user_id": int(ra["user_id"])}])
        t.unique_moves += 1

    def op_settings_move(self, t):
        """A user's settings row is replaced by a new one: user_id
        (UNIQUE) leaves row A and arrives at row B in one transaction."""
        a, ra = t.pick(T_SETTINGS)
        if a is None:
            return
        t.delete(T_SETTINGS, a)
        t.insert(T_SETTINGS, [self.new_settings(
            self.wl.alloc(T_SETTINGS, self.k), int(ra["user_id"]))])
        t.unique_moves += 1

    def op_settings_toggle(self, t):
        pk, row = t.pick(T_SETTINGS)
        if pk is not None:
            col = self.rng.choice(ef.COLUMNS[T_SETTINGS][1:6])
            t.update(T_SETTINGS, pk, row, **{col: 1 - int(row[col]),
                                             "updated_at": now6()})

    def op_calendar_add(self, t):
        u, e = self.fk(T_USER), self.fk(T_EVENT)
        if u is None or e is None:
            return
        reminder = None if self.rng.random() < 0.4 else now6()
        t.insert(T_CAL, [{"id": self.wl.alloc(T_CAL, self.k),
                          "reminder_at": reminder,
                          "note": "Bring ID 🎟️ — Zoë", "added_at": now6(),
                          "event_id": e, "user_id": u}])

    def op_reminder_toggle(self, t):
        """reminder_at flips between NULL and a time."""
        pk, row = t.pick(T_CAL)
        if pk is not None:
            t.update(T_CAL, pk, row, reminder_at=None if row[
                "reminder_at"] is not None else now6())

    def op_calendar_delete(self, t):
        pk, _ = t.pick(T_CAL)
        if pk is not None:
            t.delete(T_CAL, pk)

    def op_event_update(self, t):
        """An organiser edits an event: coordinates (negative, or NULL
        for online), capacity (NULL or beyond 2^31), price."""
        pk, row = t.pick(T_EVENT)
        if pk is None:
            return
        if row["latitude"] is None:
            lat, lon = "%.6f" % self.rng.uniform(-60, 0), "%.6f" % \
                self.rng.uniform(-120, 0)
        else:
            lat = lon = None
        t.update(T_EVENT, pk, row, latitude=lat, longitude=lon,
                 capacity=self.rng.choice([None, 4_294_967_295, 120]),
                 price=ef.money(self.rng.randrange(0, 10**7)),
                 updated_at=now6())


class Workload:
    """Paced writes on the clerk_sync_* tables until duration, count or
    stop(). connect() must return a new MySQLdb connection to the source
    database (one per worker)."""

    def __init__(self, connect, rate=200.0, duration=None, count=None,
                 seed=1, connections=1, mix=None):
        self.connect = connect
        self.rate, self.duration, self.count = rate, duration, count
        self.seed, self.nconn = seed, connections
        self.mix = dict(mix or MIX)
        # fresh unique values differ between runs on the same tables
        self.run_tag = uuid.uuid4().hex[:6]
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.model = {}  # (table, pk) -> {col: bytes} or None (deleted)
        self.acks = []
        self.latencies = []
        self.errors = collections.Counter()
        self.ops = collections.Counter()
        self.writes = self.txns = self.pk_changes = self.unique_moves = 0
        self.workers = []
        self.started = self.ended = None

    # -- lifecycle -------------------------------------------------------------
    def start(self):
        """Read each table's id range, then start the workers."""
        c = self.connect()
        try:
            cur = c.cursor()
            self.lo, self.init_max, self.next = {}, {}, {}
            for table in ef.COLUMNS:
                cur.execute("SELECT MIN(id), MAX(id) FROM `%s`" % table)
                lo, hi = cur.fetchone()
                self.lo[table] = int(lo or 1)
                self.init_max[table] = int(hi or 0)
                # new ids start on a multiple of nconn: worker k gets +k
                base = self.init_max[table] + self.nconn
                self.next[table] = base - base % self.nconn
        finally:
            c.close()
        self.started = time.monotonic()
        self.workers = [Worker(self, k) for k in range(self.nconn)]
        for w in self.workers:
            w.start()
        return self

    def should_stop(self):
        if self.halt.is_set():
            return True
        if self.duration is not None and \
                time.monotonic() - self.started >= self.duration:
            return True
        return self.count is not None and self.writes >= self.count

    def join(self, timeout=None):
        for w in self.workers:
            w.join(timeout)
        self.ended = time.monotonic()
        errs = [w.error for w in self.workers if w.error]
        if errs:
            raise errs[0]
        return self

    def stop(self):
        """Prompt: workers check between transactions and sleep on the
        halt event; an in-flight transaction finishes (or fails) first."""
        self.halt.set()
        return self.join()

    def run(self):
        """Blocking: start, then wait for duration/count."""
        self.start()
        return self.join()

    # -- bookkeeping (called by workers) ---------------------------------------
    def hi(self, table):
        """The highest id that may exist in table now."""
        return max(self.init_max[table], self.next[table] - 1)

    def alloc(self, table, k):
        """A new id for worker k (congruent to k mod nconn)."""
        with self.lock:
            base = self.next[table]
            self.next[table] = base + self.nconn
        return base + k

    def note_latency(self, seconds):
        with self.lock:
            self.latencies.append(seconds)

    def note_error(self, code):
        with self.lock:
            self.errors[code] += 1

    def acked(self, txn, op, t):
        with self.lock:
            for table, pk, row in txn.effects:
                self.model[(table, pk)] = row
            self.writes += txn.writes
            self.txns += 1
            self.ops[op] += 1
            self.pk_changes += txn.pk_changes
            self.unique_moves += txn.unique_moves
            self.acks.append(Ack(
                len(self.acks), threading.current_thread().name, op, t,
                t - txn.started, tuple(
                    (tb, pk, "delete" if row is None else "upsert")
                    for tb, pk, row in txn.effects)))

    # -- results -----------------------------------------------------------------
    def percentile(self, p):
        with self.lock:
            lat = sorted(self.latencies)
        if not lat:
            return 0.0
        return lat[min(len(lat) - 1, int(len(lat) * p))]

    def summary(self):
        """Counts and statement latencies (ms), for logs and asserts."""
        wall = (self.ended or time.monotonic()) - (self.started or 0)
        return {
            "writes": self.writes, "transactions": self.txns,
            "acks": len(self.acks), "rows_touched": len(self.model),
            "pk_changes": self.pk_changes,
            "unique_moves": self.unique_moves,
            "errors": dict(self.errors), "ops": dict(self.ops),
            "seconds": round(wall, 3),
            "writes_per_s": round(self.writes / wall, 1) if wall else 0,
            "p99_ms": round(self.percentile(0.99) * 1000, 3),
            "worst_ms": round(self.percentile(1.0) * 1000, 3),
        }

    def expected(self):
        """{(source table, pk): row bytes by column, or None if deleted}."""
        with self.lock:
            return dict(self.model)

    def verify(self, conn, mapping=None):
        """Check every row this workload wrote against conn: each
        acknowledged row is there with exactly the written bytes, each
        acknowledged delete is gone. mapping=None checks the source tables
        themselves; pass ef.TABLE_MAP (or a mapping) to check a copy."""
        pairs = dict(mapping_pairs(mapping)) if mapping else {}
        by_table = collections.defaultdict(dict)
        for (table, pk), row in self.expected().items():
            by_table[table][pk] = row
        diffs = []
        _utc(conn)
        for table, rows in by_table.items():
            target = pairs.get(table, table)
            got = _fetch_by_id(conn, target, ef.COLUMNS[table], list(rows))
            for pk, want in sorted(rows.items()):
                diffs.extend(_diff_rows(table, (pk,), ef.COLUMNS[table],
                                        want, got.get(pk)))
        return diffs


def _fetch_by_id(conn, table, cols, ids, chunk=1000):
    """{id: {col: bytes}} for the ids present in table."""
    out = {}
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        sql = "SELECT %s FROM `%s` WHERE id IN (%s)" % (
            ", ".join("`%s`" % c for c in cols), table,
            ", ".join(str(int(x)) for x in part))
        for r in _stream(conn, sql):
            out[int(r[0])] = dict(zip(cols, r))
    return out


def _diff_rows(table, key, cols, want, got):
    if want is None and got is None:
        return []
    if want is None:
        return [Diff(table, key, "extra", None, None, got)]
    if got is None:
        return [Diff(table, key, "missing", None, want, None)]
    return [Diff(table, key, "different", c, want[c], got[c])
            for c in cols if want[c] != got[c]]


# -- compare ------------------------------------------------------------------
def mapping_pairs(mapping=None):
    """[(source, target)] from None (event_finder's 1:1 renames), a dict,
    a list of pairs, a parsed mapping JSON or the path of one."""
    if mapping is None:
        return list(ef.TABLE_MAP.items())
    if isinstance(mapping, str):
        with open(mapping) as f:
            mapping = json.load(f)
    if isinstance(mapping, dict) and "tables" in mapping:
        return [(t["source"], t["target"]) for t in mapping["tables"]]
    if isinstance(mapping, dict):
        return list(mapping.items())
    return [tuple(p) for p in mapping]


def _utc(conn):
    conn.cursor().execute("SET SESSION time_zone = '+00:00'")


def _stream(conn, sql, batch=5000):
    """Rows of sql as raw bytes, streamed (mysql_use_result) so that a
    million-row table never sits in memory."""
    saved = conn.converter
    conn.converter = {}
    try:
        conn.query(sql)
        res = conn.use_result()
        while True:
            rows = res.fetch_row(maxrows=batch)
            if not rows:
                break
            yield from rows
    finally:
        conn.converter = saved


INT_TYPES = {"tinyint", "smallint", "mediumint", "int", "bigint"}


def table_columns(conn, table):
    """([column], [(pk column index, is integer)]) from the server."""
    cur = conn.cursor()
    cur.execute("SELECT column_name, data_type FROM information_schema."
                "columns WHERE table_schema = DATABASE() AND table_name = %s"
                " ORDER BY ordinal_position", (table,))
    cols = [(r[0], r[1]) for r in cur.fetchall()]
    cur.execute("SELECT column_name FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = %s AND "
                "index_name = 'PRIMARY' ORDER BY seq_in_index", (table,))
    names = [c for c, _ in cols]
    pk = [(names.index(r[0]), dict(cols)[r[0]] in INT_TYPES)
          for r in cur.fetchall()]
    return names, pk


def _keyfn(pk):
    """Sort key of a raw row: integers compare as numbers (the server's
    ORDER BY), other key columns as bytes."""
    def key(row):
        return tuple(int(row[i]) if is_int else row[i] for i, is_int in pk)
    return key


def compare_table(src_conn, dst_conn, source, target, max_diffs=1000):
    """Merge-join source and target by primary key; both streamed."""
    cols, pk = table_columns(src_conn, source)
    tcols, _ = table_columns(dst_conn, target)
    if not pk:
        return [Diff(source, None, "schema", None, b"no primary key", None)]
    absent = [c for c in cols if c not in tcols]
    if absent:
        return [Diff(source, None, "schema", c, b"column", None)
                for c in absent]
    order = ", ".join("`%s`" % cols[i] for i, _ in pk)
    sel = ", ".join("`%s`" % c for c in cols)
    key = _keyfn(pk)
    src = _stream(src_conn, f"SELECT {sel} FROM `{source}` ORDER BY {order}")
    dst = _stream(dst_conn, f"SELECT {sel} FROM `{target}` ORDER BY {order}")
    diffs = []
    s, d = next(src, None), next(dst, None)
    while s is not None or d is not None:
        if d is None or (s is not None and key(s) < key(d)):
            diffs.append(Diff(source, key(s), "missing", None, s, None))
            s = next(src, None)
        elif s is None or key(d) < key(s):
            diffs.append(Diff(source, key(d), "extra", None, None, d))
            d = next(dst, None)
        else:
            if s != d:
                diffs.extend(Diff(source, key(s), "different", c, a, b_)
                             for c, a, b_ in zip(cols, s, d) if a != b_)
            s, d = next(src, None), next(dst, None)
        if len(diffs) >= max_diffs:  # drain both result sets, then stop
            for _ in src:
                pass
            for _ in dst:
                pass
            break
    return diffs


def compare(source_conn, target_conn, mapping=None, max_diffs=1000):
    """Every source table against its target, row by row by primary key,
    byte for byte (time_zone +00:00, raw text values; JSON must match
    exactly). Returns a list of Diff (at most max_diffs per table); an
    empty list means equal."""
    _utc(source_conn)
    _utc(target_conn)
    diffs = []
    for source, target in mapping_pairs(mapping):
        diffs.extend(compare_table(source_conn, target_conn, source, target,
                                   max_diffs))
    return diffs


# -- CLI ----------------------------------------------------------------------
def cli_workload(args, connect):
    """`... event_finder workload`: run until duration/count/SIGTERM,
    write acks as JSON lines, print the summary as JSON."""
    wl = Workload(connect, rate=args.rate, duration=args.duration,
                  count=args.count, seed=args.seed,
                  connections=args.connections)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: wl.halt.set())
    wl.start()
    while any(w.is_alive() for w in wl.workers):
        time.sleep(0.1)
    wl.join()
    if args.acks:
        with open(args.acks, "w") as f:
            for a in wl.acks:
                f.write(json.dumps(a._asdict()) + "\n")
    print(json.dumps(wl.summary()), flush=True)
    return 0

