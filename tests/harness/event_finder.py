# SPDX-License-Identifier: Apache-2.0
"""Realistic event_finder data for tests, benchmarks and the quickstart.

create_source_schema / create_target_schema load the DDL Django made (the
nine clerk_sync_* tables, and the new apps' tables). generate() fills the
source tables with the sizes and the quirks of event_finder/README.md: JSON
text with odd spacing and key order, datetime(6) with microseconds,
negative coordinates, unsigned capacities beyond 2^31, random uuid4 ticket
ids, utf8mb4 names with combining marks and emoji, NULL user_id on admin
notifications, nullable FKs and datetimes. A faithful copy must keep all of
that byte for byte, so the data has to carry it.

Speed matters (2.68M rows at scale 1.0): rows are formatted as TSV chunks
in this thread while a loader thread feeds the previous chunk to
LOAD DATA LOCAL INFILE (foreign_key_checks=0, unique_checks=0), so Python
and mariadbd use both cores. Every table has its own Random(seed, table),
so the data is the same for a seed whatever the chunking or timing.

CLI:
  python3 -m tests.harness.event_finder (--socket S | --host H --port P)
      [--user U] [--password-file F] --database DB
      {create-source | create-target | generate --scale X --seed N |
       workload --rate R --duration S ... | compare --target-database DB2}
"""
import argparse
import base64
import datetime
import json
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
import unicodedata

import MySQLdb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# source table -> target table (a 1:1 rename; columns identical).
TABLE_MAP = {
    "clerk_sync_clerkuser": "users_clerkuser",
    "clerk_sync_event": "calendar_app_event",
    "clerk_sync_eventtickettype": "tickets_eventtickettype",
    "clerk_sync_ticket": "tickets_ticket",
    "clerk_sync_savedevent": "saved_savedevent",
    "clerk_sync_notification": "notifications_notification",
    "clerk_sync_notificationsettings": "notifications_notificationsettings",
    "clerk_sync_payment": "billing_payment",
    "clerk_sync_calendarevent": "calendar_app_calendarevent",
}

# Rows at scale 1.0 (event_finder/README.md), in load order (parents first).
SIZES = {
    "clerk_sync_clerkuser": 100_000,
    "clerk_sync_event": 20_000,
    "clerk_sync_eventtickettype": 60_000,
    "clerk_sync_ticket": 1_000_000,
    "clerk_sync_savedevent": 300_000,
    "clerk_sync_notification": 500_000,
    "clerk_sync_notificationsettings": 100_000,
    "clerk_sync_payment": 400_000,
    "clerk_sync_calendarevent": 200_000,
}

# Column order of the generated TSV (and of LOAD DATA's column list).
COLUMNS = {
    "clerk_sync_clerkuser": "id clerk_id email first_name last_name "
    "image_url is_admin metadata created_at updated_at",
    "clerk_sync_event": "id title description venue address city latitude "
    "longitude start_datetime end_datetime category price capacity "
    "image_url is_published created_at updated_at organizer_id",
    "clerk_sync_eventtickettype": "id name description price quantity "
    "quantity_sold created_at event_id",
    "clerk_sync_ticket": "id ticket_id qr_code status purchased_at "
    "checked_in_at event_id ticket_type_id user_id",
    "clerk_sync_savedevent": "id saved_at event_id user_id",
    "clerk_sync_notification": "id is_admin_notification notification_type "
    "title message read created_at user_id",
    "clerk_sync_notificationsettings": "id email_notifications "
    "push_notifications event_reminders ticket_updates marketing_emails "
    "updated_at user_id",
    "clerk_sync_payment": "id reference amount currency status provider "
    "provider_payload created_at updated_at event_id user_id",
    "clerk_sync_calendarevent": "id reminder_at note added_at event_id "
    "user_id",
}
COLUMNS = {t: c.split() for t, c in COLUMNS.items()}

CHUNK_ROWS = 50_000
NULL = "\\N"


# -- schema ------------------------------------------------------------------
def ddl_path(kind):
    """The DDL file for "source" or "target": schemas/event_finder/ in the
    repo when present (what ferry ships), else the shared originals."""
    own, shared = {"source": ("clerk_sync.sql", "schema-clerk_sync.sql"),
                   "target": ("new.sql", "schema-new.sql")}[kind]
    p = os.path.join(ROOT, "schemas", "event_finder", own)
    if os.path.exists(p):
        return p
    return os.path.join("/work/shared/event_finder", shared)


def sql_statements(text):
    """Split a mariadb-dump file into statements: each ends with ';' at
    the end of a line (the dump's CREATE TABLEs span lines, and no value
    in them contains ';' + newline)."""
    stmts, cur = [], []
    for line in text.splitlines():
        if not cur and not line.strip():
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            stmts.append("\n".join(cur).rstrip().rstrip(";"))
            cur = []
    if "".join(cur).strip():
        stmts.append("\n".join(cur))
    return stmts


def load_ddl(conn, path):
    """Run a DDL file on conn, statement by statement (no mariadb client
    needed). The dump's own SET lines save and restore session state."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cur = conn.cursor()
    for s in sql_statements(text):
        cur.execute(s)
    cur.close()


def create_source_schema(conn):
    """The nine clerk_sync_* tables, exactly as Django made them."""
    load_ddl(conn, ddl_path("source"))


def create_target_schema(conn):
    """The new apps' tables (users_*, tickets_*, ... admin_panel_*)."""
    load_ddl(conn, ddl_path("target"))


# -- building blocks for values ---------------------------------------------
FIRST_NAMES = [
    "Zoë", "Adébáyọ̀", "Łukasz", "Chioma", "Oluwaseun", "José", "Björn",
    "Søren", "Émilie", "Ngozi", "Amara", "Kwame", "Fatima", "Aisha", "Tunde",
    "Emeka", "Ifeoma", "Sipho", "Thandiwe", "Mariana", "João", "Zoé",
    "Dami 🌻", "Olúwadámilọ́lá", "Chloé", "François", "Ólafur", "Małgorzata",
    "Ayşe", "Ömer", "Jürgen", "Renée", "Siân", "Håkon", "Žofie", "李娜",
    "Yūko", "Maria", "John", "David", "Sarah", "Michael", "Grace", "Peter",
    "Mary", "James", "Esther", "Kemi ✨", "Obinna", "Nneka", "Chidi", "Bola",
]
LAST_NAMES = [
    "Okafor", "Adébáyọ̀", "Kowalski", "Nwosu", "Adeyemi", "García", "Müller",
    "Ødegaard", "Dubois", "Nguyễn", "Mensah", "Abubakar", "Bello", "Eze",
    "Okonkwo", "Ndlovu", "Dlamini", "Silva", "Gonçalves", "Lefèvre",
    "Jónsdóttir", "Wiśniewska", "Yılmaz", "Schäfer", "Brontë", "Ó Súilleabháin",
    "Åberg", "Dvořák", "王", "Smith", "Johnson", "Williams", "Brown", "Ade 🎧",
    "Ogunleye", "Balogun", "Oyelaran", "Afolabi", "Nnamdi", "Chukwu",
]
CITIES = [  # name, latitude, longitude (several south or west: negatives)
    ("Lagos", 6.524379, 3.379206), ("Abuja", 9.076479, 7.398574),
    ("Ibadan", 7.377535, 3.947040), ("Accra", 5.603717, -0.186964),
    ("Nairobi", -1.292066, 36.821946), ("Cape Town", -33.924869, 18.424055),
    ("Johannesburg", -26.204103, 28.047305), ("São Paulo", -23.550520,
                                              -46.633308),
    ("Lima", -12.046374, -77.042793), ("London", 51.507351, -0.127758),
    ("Kraków", 50.064650, 19.944980), ("Reykjavík", 64.146582, -21.942635),
    ("Buenos Aires", -34.603684, -58.381559), ("Sydney", -33.868820,
                                               151.209290),
    ("Dakar", 14.716677, -17.467686), ("Port Harcourt", 4.815554, 7.049844),
]
VENUES = ["Eko Convention Centre", "Muri Okunola Park", "Terra Kulture",
          "The Good Beach", "Landmark Event Centre", "Freedom Park",
          "Café Niño", "Hall 3 — Expo Centre", "Rooftop @ Kó", "Zénith Arena",
          "Ọ̀yọ́ Cultural Hall", "Łazienki Pavilion", "Online 🌐"]
STREETS = ["Adeola Odeku St", "Ozumba Mbadiwe Ave", "Awolowo Rd",
           "Rua Augusta", "ul. Floriańska", "Long St", "Kenyatta Ave",
           "Admiralty Way", "Herbert Macaulay Way", "Bourdillon Rd"]
TITLE_WORDS = ["Afrobeats", "Night", "Tech", "Meetup", "Jazz", "Brunch",
               "Festival", "Summit", "Comedy", "Open Mic", "Art", "Market",
               "Run", "Owambe", "Fashion", "Week", "Gospel", "Concert",
               "Startup", "Pitch", "Food", "Fiesta", "Café", "Crème",
               "Rave", "Détente", "Workshop", "Hackathon", "Wine", "Tasting"]
EMOJI = ["🎉", "🚀", "🎶", "🔥", "🍷", "🎭", "💃🏾", "🎤", "🌍", "✨", "🏃‍♀️",
         "👨‍👩‍👧", "🇳🇬", "❤️"]
SENTENCES = [
    "Join us for an unforgettable evening of live music and great vibes.",
    "Doors open at 6pm; bring your ticket's QR code on your phone.",
    "Early-bird pricing ends soon — don't miss out!",
    "Proceeds support local artists and the Ọ̀yọ́ youth programme.",
    "Dress code: smart casual. Owambe gele encouraged 💃🏾.",
    "Food by Mama Ńkechi's kitchen; vegetarian options available.",
    "Speakers from Lagos, Nairobi, Kraków and São Paulo.",
    "Parking is limited, so please use ride-share where possible 🚗.",
    "All ages welcome; under-16s must be accompanied by an adult.",
    "Refunds are available up to 48 hours before the event.",
    "Bring a friend and get 10% off at the bar 🍹.",
    "Line-up: DJ Kóbọ̀, Zoë & the Łódź Brass, and special guests.",
    "The venue is wheelchair accessible.",
    "Tickets are non-transferable unless stated otherwise.",
    'Quote of the night: "music is the answer" \\ no matter the question.',
    "Tab-separated\tdetails and a second line\nwith more details.",
]
CATEGORIES = ["music", "tech", "food", "art", "sports", "business",
              "comedy", "religion", "fashion", "education"]
TICKET_NAMES = ["Regular", "VIP", "VVIP", "Early Bird", "Table for 5",
                "Student", "Backstage ✨", "Día completo", "Group (4)"]
NOTIFICATION_TYPES = ["ticket_purchase", "event_reminder", "event_update",
                      "payment_success", "payment_failed", "system",
                      "new_event", "admin_alert"]
NOTE_WORDS = ["Remember", "to", "bring", "ID", "🎟️", "with", "Zoë", "and",
              "Łukasz", "meet", "at", "gate", "B", "café", "après", "show"]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def ascii_slug(s):
    """The ASCII letters of a name, for e-mail local parts."""
    d = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    d = "".join(ch for ch in d.lower() if ch.isalnum())
    return d or "user"


FIRST_SLUGS = [ascii_slug(n) for n in FIRST_NAMES]
LAST_SLUGS = [ascii_slug(n) for n in LAST_NAMES]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "eventfinder.ng",
                 "proton.me", "icloud.com"]


def tsv(s):
    """Escape a text value for LOAD DATA's default format."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def uuid4_hex(rng):
    """A version-4 UUID as 32 hex digits, from rng (deterministic)."""
    b = rng.getrandbits(128)
    b = (b & ~(0xF << 76)) | (0x4 << 76)
    b = (b & ~(0x3 << 62)) | (0x2 << 62)
    return "%032x" % b


def token(rng, n):
    """n random base62 characters (Clerk ids, auth codes, signatures)."""
    return "".join(rng.choices(B64, k=n))


EPOCH = datetime.datetime(2022, 1, 1)
DAY_US = 86_400_000_000
_DAYS = [(EPOCH + datetime.timedelta(days=d)).strftime("%Y-%m-%d")
         for d in range(0, 2200)]


def dt6(us):
    """'YYYY-MM-DD HH:MM:SS.ffffff' for microseconds since 2022-01-01:
    the exact text a datetime(6) column returns, built without datetime
    objects because it runs millions of times."""
    d, r = divmod(us, DAY_US)
    s, f = divmod(r, 1_000_000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return "%s %02d:%02d:%02d.%06d" % (_DAYS[d], h, m, s, f)


def iso_z(us):
    """The same instant as Paystack writes it: 2024-03-01T10:00:00.000Z."""
    return dt6(us).replace(" ", "T")[:23] + "Z"


def now_us():
    """Now, as microseconds since 2022-01-01 (UTC)."""
    delta = datetime.datetime.utcnow() - EPOCH
    return (delta.days * DAY_US + delta.seconds * 1_000_000
            + delta.microseconds)


def money(cents):
    return "%d.%02d" % divmod(cents, 100)


# -- JSON with odd spacing -----------------------------------------------------
ITEM_SEPS = [", ", ",", " , ", ",\n  ", ",\n\t", ",  ", " ,"]
KEY_SEPS = [": ", ":", " : ", ":  ", ":\t", " :"]
OPENS = ["", " ", "\n  ", "  "]
CLOSES = ["", " ", "\n", "  "]


class Ph:
    """A placeholder in a JSON template: filled per row with an already
    JSON-encoded value, so templates are built once and rows are cheap."""

    def __init__(self, name):
        self.name = name


def odd_json(rng, obj, ascii_strings=None):
    """JSON text for obj the way hand-written or foreign serialisers
    produce it: one random spacing style per document, keys shuffled,
    strings sometimes \\u-escaped. Ph values become %(name)s slots."""
    style = (rng.choice(ITEM_SEPS), rng.choice(KEY_SEPS), rng.choice(OPENS),
             rng.choice(CLOSES))
    if ascii_strings is None:
        ascii_strings = rng.random() < 0.3
    return _render(rng, obj, style, ascii_strings)


def _render(rng, v, style, ascii_strings):
    item, key, opn, cls = style
    if isinstance(v, Ph):
        return "%(" + v.name + ")s"
    if isinstance(v, dict):
        keys = list(v)
        rng.shuffle(keys)
        return "{" + opn + item.join(
            _enc(k, ascii_strings) + key +
            _render(rng, v[k], style, ascii_strings) for k in keys) + cls + "}"
    if isinstance(v, list):
        return "[" + item.join(_render(rng, x, style, ascii_strings)
                               for x in v) + "]"
    if isinstance(v, str):
        return _enc(v, ascii_strings)
    return json.dumps(v)


def _enc(s, ascii_strings):
    return json.dumps(s, ensure_ascii=ascii_strings).replace("%", "%%")


def jstr(s):
    """A JSON string literal for a template slot."""
    return json.dumps(s, ensure_ascii=False)


def user_metadata_obj(rng):
    """What Clerk's public_metadata looks like for event_finder users."""
    r = rng.random()
    if r < 0.15:
        return {}
    obj = {"role": rng.choice(["attendee", "organizer", "attendee"]),
           "onboarded": rng.random() < 0.8}
    if r > 0.4:
        obj["preferences"] = {"theme": rng.choice(["dark", "light"]),
                              "language": rng.choice(["en", "yo", "fr",
                                                      "pt-BR", "pl"]),
                              "cities": rng.sample([c[0] for c in CITIES], 2)}
    if r > 0.7:
        obj["bio"] = (rng.choice(SENTENCES) + " " + rng.choice(EMOJI))
        obj["interests"] = rng.sample(CATEGORIES, 3)
    if r > 0.9:
        obj["referral"] = {"code": token(rng, 8), "count": rng.randrange(40),
                           "score": round(rng.uniform(-1, 1), 3)}
    return obj


def paystack_obj():
    """A Paystack charge webhook, with slots for the per-row values."""
    return {
        "event": "charge.success",
        "data": {
            "id": Ph("pid"), "status": Ph("status"),
            "reference": Ph("ref"), "amount": Ph("kobo"),
            "gateway_response": Ph("gw"), "paid_at": Ph("paid"),
            "channel": Ph("channel"), "currency": Ph("cur"),
            "metadata": {"event_id": Ph("eid"), "tickets": Ph("n")},
            "customer": {"email": Ph("email")},
            "authorization": {"authorization_code": Ph("auth"),
                              "last4": Ph("last4"), "reusable": True},
        },
    }


def paystack_values(rng, ref, cents, status, us, eid, email):
    """Slot values for paystack_obj() (each one JSON-encoded already)."""
    return {
        "pid": str(rng.randrange(10**9, 10**10)), "status": jstr(status),
        "ref": jstr(ref), "kobo": str(cents), "gw": jstr(
            "Successful" if status == "success" else "Declined"),
        "paid": jstr(iso_z(us)), "channel": jstr(rng.choice(
            ["card", "bank", "ussd", "bank_transfer"])),
        "cur": jstr("NGN"),
        "eid": "null" if eid is None else str(eid),
        "n": str(rng.randrange(1, 5)), "email": jstr(email),
        "auth": jstr("AUTH_" + token(rng, 10)),
        "last4": jstr("%04d" % rng.randrange(10000)),
    }


def templates(rng, obj, n=16):
    """n renderings of obj, each with its own spacing, key order and
    escaping: rows pick one and fill its slots."""
    return [odd_json(rng, obj) for _ in range(n)]


# -- per-table row generators -------------------------------------------------
class Ctx:
    """Row counts at this scale, shared by the generators so that foreign
    keys point at rows that exist."""

    def __init__(self, scale):
        self.n = {t: max(1, int(round(c * scale))) for t, c in SIZES.items()}
        self.users = self.n["clerk_sync_clerkuser"]
        self.events = self.n["clerk_sync_event"]
        self.types = self.n["clerk_sync_eventtickettype"]
        # at tiny scales there are fewer (user, event) pairs than saves
        self.n["clerk_sync_savedevent"] = min(
            self.n["clerk_sync_savedevent"], self.users * self.events)
        self.n["clerk_sync_notificationsettings"] = self.users


def created(rng):
    """A creation time between 2022-01-01 and 2025-06-30."""
    return rng.randrange(0, 1276 * DAY_US)


def user_names(i):
    """First/last name indexes for user i (shared with payment e-mails)."""
    return (i * 7 + i // 13) % len(FIRST_NAMES), (i * 11 + i // 7) % len(
        LAST_NAMES)


def user_email(i):
    f, l_ = user_names(i)
    return "%s.%s%d@%s" % (FIRST_SLUGS[f], LAST_SLUGS[l_], i,
                           EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)])


def gen_clerkuser(rng, ctx):
    tmpl = templates(rng, user_metadata_obj(rng))  # unused slots: none
    for i in range(1, ctx.users + 1):
        f, l_ = user_names(i)
        c = created(rng)
        if rng.random() < 0.5:
            meta = rng.choice(tmpl)  # a shared shape, as real users have
        else:
            meta = odd_json(rng, user_metadata_obj(rng))
        meta = meta.replace("%%", "%")
        yield "%d\tuser_%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n" % (
            i, token(rng, 27), user_email(i), FIRST_NAMES[f], LAST_NAMES[l_],
            "https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJodHRwczov"
            "L2ltYWdlcy5jbGVyay5kZXYvb2F1dGhfZ29vZ2xlL2ltZ18" + token(rng, 40),
            rng.random() < 0.01, tsv(meta), dt6(c),
            dt6(c + rng.randrange(0, 400 * DAY_US)))


def gen_event(rng, ctx):
    for i in range(1, ctx.events + 1):
        city, lat, lon = rng.choice(CITIES)
        online = rng.random() < 0.08
        title = " ".join(rng.sample(TITLE_WORDS, rng.randrange(2, 5)))
        if rng.random() < 0.4:
            title += " " + rng.choice(EMOJI)
        c = created(rng)
        start = c + rng.randrange(DAY_US, 200 * DAY_US)
        cap = rng.choice([None, 50, 100, 250, 500, 1000, 5000, 20000,
                          2_500_000_000, 4_294_967_295])
        yield ("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d"
               "\t%s\t%s\t%d\n") % (
            i, tsv(title), tsv(" ".join(rng.choices(SENTENCES, k=8))),
            rng.choice(VENUES), "%d %s" % (rng.randrange(1, 300),
                                           rng.choice(STREETS)), city,
            NULL if online else "%.6f" % (lat + rng.uniform(-0.2, 0.2)),
            NULL if online else "%.6f" % (lon + rng.uniform(-0.2, 0.2)),
            dt6(start), dt6(start + rng.randrange(3600, 3 * 86400) * 10**6),
            rng.choice(CATEGORIES), money(rng.randrange(0, 5_000_000)),
            NULL if cap is None else cap,
            "https://cdn.eventfinder.ng/events/%d/%s.jpg" % (i, token(rng, 20)),
            rng.random() < 0.9, dt6(c), dt6(c + rng.randrange(DAY_US)),
            rng.randrange(1, ctx.users + 1))


def type_event(ctx, t):
    """The event ticket type t belongs to (types are grouped by event)."""
    return (t - 1) * ctx.events // ctx.types + 1


def gen_eventtickettype(rng, ctx):
    for i in range(1, ctx.types + 1):
        qty = rng.choice([50, 100, 500, 1000, 10000, 3_000_000_000])
        yield "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%d\n" % (
            i, rng.choice(TICKET_NAMES), tsv(rng.choice(SENTENCES)),
            money(rng.randrange(0, 20_000_000)), qty,
            rng.randrange(0, min(qty, 100_000) + 1), dt6(created(rng)),
            type_event(ctx, i))


def gen_ticket(rng, ctx):
    for i in range(1, ctx.n["clerk_sync_ticket"] + 1):
        t = rng.randrange(1, ctx.types + 1)
        ev = type_event(ctx, t)
        if rng.random() < 0.05:
            t = None  # legacy tickets bought before ticket types existed
        p = created(rng)
        status = rng.choice(["active", "active", "active", "used",
                             "cancelled", "refunded"])
        yield "%d\t%s\tdata:image/png;base64,%s\t%s\t%s\t%s\t%d\t%s\t%d\n" % (
            i, uuid4_hex(rng),
            base64.b64encode(rng.randbytes(rng.randrange(250, 330))).decode(),
            status, dt6(p),
            dt6(p + rng.randrange(DAY_US)) if status == "used" else NULL,
            ev, NULL if t is None else t, rng.randrange(1, ctx.users + 1))


def gen_savedevent(rng, ctx):
    seen = set()
    for i in range(1, ctx.n["clerk_sync_savedevent"] + 1):
        while True:
            u = rng.randrange(1, ctx.users + 1)
            e = rng.randrange(1, ctx.events + 1)
            if (u, e) not in seen:
                seen.add((u, e))
                break
        yield "%d\t%s\t%d\t%d\n" % (i, dt6(created(rng)), e, u)


def gen_notification(rng, ctx):
    for i in range(1, ctx.n["clerk_sync_notification"] + 1):
        admin = rng.random() < 0.05
        kind = "admin_alert" if admin else rng.choice(NOTIFICATION_TYPES[:7])
        title = rng.choice(["Your ticket is confirmed 🎟️",
                            "Reminder: %s starts soon" % rng.choice(
                                TITLE_WORDS), "Payment received ✅",
                            "New event near you in %s" % rng.choice(
                                CITIES)[0], "Flagged event needs review"])
        yield "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n" % (
            i, admin, kind, title,
            tsv(" ".join(rng.choices(SENTENCES, k=rng.randrange(2, 5)))),
            rng.random() < 0.6, dt6(created(rng)),
            NULL if admin else rng.randrange(1, ctx.users + 1))


def gen_notificationsettings(rng, ctx):
    users = list(range(1, ctx.users + 1))
    rng.shuffle(users)  # settings ids do not line up with user ids
    for i, u in enumerate(users, 1):
        b = rng.getrandbits(5)
        yield "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n" % (
            i, b & 1, b >> 1 & 1, b >> 2 & 1, b >> 3 & 1, b >> 4 & 1,
            dt6(created(rng)), u)


def gen_payment(rng, ctx):
    tmpl = templates(rng, paystack_obj())
    for i in range(1, ctx.n["clerk_sync_payment"] + 1):
        u = rng.randrange(1, ctx.users + 1)
        ev = None if rng.random() < 0.1 else rng.randrange(1, ctx.events + 1)
        cents = rng.randrange(100, 50_000_000)
        status = rng.choice(["success", "success", "success", "pending",
                             "failed", "abandoned"])
        c = created(rng)
        ref = "EVF-%07d-%s" % (i, token(rng, 10))
        payload = rng.choice(tmpl) % paystack_values(
            rng, ref, cents, status, c, ev, user_email(u))
        yield "%d\t%s\t%s\tNGN\t%s\tpaystack\t%s\t%s\t%s\t%s\t%d\n" % (
            i, ref, money(cents), status, tsv(payload), dt6(c),
            dt6(c + rng.randrange(0, 3600 * 10**6)),
            NULL if ev is None else ev, u)


def gen_calendarevent(rng, ctx):
    for i in range(1, ctx.n["clerk_sync_calendarevent"] + 1):
        a = created(rng)
        yield "%d\t%s\t%s\t%s\t%d\t%d\n" % (
            i, NULL if rng.random() < 0.4 else dt6(a + rng.randrange(
                DAY_US, 90 * DAY_US)),
            " ".join(rng.choices(NOTE_WORDS, k=rng.randrange(0, 8))), dt6(a),
            rng.randrange(1, ctx.events + 1), rng.randrange(1, ctx.users + 1))


GENERATORS = {
    "clerk_sync_clerkuser": gen_clerkuser,
    "clerk_sync_event": gen_event,
    "clerk_sync_eventtickettype": gen_eventtickettype,
    "clerk_sync_ticket": gen_ticket,
    "clerk_sync_savedevent": gen_savedevent,
    "clerk_sync_notification": gen_notification,
    "clerk_sync_notificationsettings": gen_notificationsettings,
    "clerk_sync_payment": gen_payment,
    "clerk_sync_calendarevent": gen_calendarevent,
}


# -- loading --------------------------------------------------------------------
class Loader(threading.Thread):
    """Loads TSV chunk files from a queue while the caller formats the next
    one (mysqlclient releases the GIL while the server works)."""

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn = conn
        self.q = queue.Queue(maxsize=2)
        self.error = None
        self.local_infile = True
        self.done_at = {}  # table -> monotonic time its last chunk loaded

    def run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            table, path, last = item
            try:
                if self.error is None:
                    self.load(table, path)
                    if last:
                        self.done_at[table] = time.monotonic()
            except Exception as e:  # re-raised by generate()
                self.error = e
            finally:
                os.unlink(path)

    def load(self, table, path):
        cols = ", ".join("`%s`" % c for c in COLUMNS[table])
        cur = self.conn.cursor()
        if self.local_infile:
            try:
                cur.execute(
                    "LOAD DATA LOCAL INFILE %s INTO TABLE `{}` CHARACTER SET "
                    "utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                    "LINES TERMINATED BY '\\n' ({})".format(table, cols),
                    (path,))
                self.check_warnings(cur, table)
                return
            except MySQLdb.OperationalError as e:
                if e.args[0] not in (1148, 2068, 4166):
                    raise
                self.local_infile = False  # client or server forbids it
        self.insert(cur, table, cols, path)

    def check_warnings(self, cur, table):
        """LOAD DATA reports bad rows as warnings: a generator bug must
        fail here, not surface as a puzzling diff later."""
        if self.conn.warning_count():
            cur.execute("SHOW WARNINGS LIMIT 5")
            raise RuntimeError(f"LOAD DATA into {table}: {cur.fetchall()}")

    def insert(self, cur, table, cols, path, max_bytes=4 << 20):
        """The fallback without LOCAL INFILE: multi-row INSERTs. A TSV
        field is already a valid SQL string body (same backslash escapes)
        once single quotes are escaped."""
        head = "INSERT INTO `%s` (%s) VALUES " % (table, cols)
        batch, size = [], 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                vals = ",".join(
                    "NULL" if v == NULL else "'" + v.replace("'", "\\'") + "'"
                    for v in line[:-1].split("\t"))
                batch.append("(" + vals + ")")
                size += len(vals)
                if size > max_bytes:
                    cur.execute(head + ",".join(batch))
                    batch, size = [], 0
        if batch:
            cur.execute(head + ",".join(batch))


def prepare_session(conn):
    """Bulk-load settings for this session only (restored by
    restore_session): no FK or unique checks, UTC, backslash escapes on."""
    cur = conn.cursor()
    cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0, "
                "time_zone = '+00:00', "
                "sql_mode = 'STRICT_TRANS_TABLES,NO_AUTO_VALUE_ON_ZERO'")
    conn.autocommit(True)


def restore_session(conn):
    conn.cursor().execute(
        "SET SESSION foreign_key_checks = 1, unique_checks = 1")


def generate(conn, scale=1.0, seed=1, tables=None, log=None,
             chunk_rows=CHUNK_ROWS):
    """Fill the (empty) clerk_sync_* tables on conn with scale x the
    README's sizes. Connect with local_infile=1 for speed; without it the
    loader falls back to multi-row INSERTs. Returns {table: rows} and
    logs rows/s through log (default: stderr)."""
    if log is None:
        def log(msg):
            print(msg, file=sys.stderr, flush=True)
    ctx = Ctx(scale)
    tables = list(tables or SIZES)
    tmp = tempfile.mkdtemp(prefix="ferry-ef-gen-")
    prepare_session(conn)
    loader = Loader(conn)
    loader.start()
    t0 = time.monotonic()
    counts = {}
    try:
        for table in tables:
            counts[table] = _produce(table, ctx, seed, tmp, loader,
                                     chunk_rows)
    finally:
        loader.q.put(None)
        loader.join()
        shutil.rmtree(tmp, ignore_errors=True)
        restore_session(conn)
    if loader.error:
        raise loader.error
    wall = time.monotonic() - t0
    total = sum(counts.values())
    for t in tables:
        log(f"  {t}: {counts[t]} rows (loaded at "
            f"{loader.done_at.get(t, t0) - t0:.1f}s)")
    how = "LOAD DATA LOCAL" if loader.local_infile else "multi-row INSERT"
    log(f"generated {total} rows in {wall:.1f}s: {total / wall:,.0f} rows/s "
        f"(scale {scale}, seed {seed}, {how})")
    return counts


def _produce(table, ctx, seed, tmp, loader, chunk_rows):
    """Format table's rows into chunk files and queue them for loading."""
    rng = random.Random(f"{seed}:{table}")
    lines, n, part = [], 0, 0
    for line in GENERATORS[table](rng, ctx):
        lines.append(line)
        if len(lines) >= chunk_rows:
            _queue_chunk(table, lines, tmp, part, loader, last=False)
            n += len(lines)
            lines, part = [], part + 1
    _queue_chunk(table, lines, tmp, part, loader, last=True)
    return n + len(lines)


def _queue_chunk(table, lines, tmp, part, loader, last):
    if loader.error:
        raise loader.error
    path = os.path.join(tmp, f"{table}.{part}.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    loader.q.put((table, path, last))


# -- CLI --------------------------------------------------------------------------
def connect_from_args(args, **kw):
    """A connection from the CLI's --socket/--host/... options."""
    p = dict(user=args.user, charset="utf8mb4", autocommit=True, **kw)
    if args.password_file:
        with open(args.password_file) as f:
            p["passwd"] = f.read().rstrip("\n")
    if args.socket:
        p["unix_socket"] = args.socket
    else:
        p["host"], p["port"] = args.host, args.port
    if args.database:
        p["db"] = args.database
    return MySQLdb.connect(**p)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python3 -m tests.harness.event_finder",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3306)
    ap.add_argument("--user", default="root")
    ap.add_argument("--password-file")
    ap.add_argument("--database", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("create-source", help="create the clerk_sync_* tables")
    sub.add_parser("create-target", help="create the new apps' tables")
    g = sub.add_parser("generate", help="fill the clerk_sync_* tables")
    g.add_argument("--scale", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=1)
    w = sub.add_parser("workload", help="live writes on clerk_sync_*")
    w.add_argument("--rate", type=float, default=200,
                   help="write statements per second")
    w.add_argument("--duration", type=float, help="seconds (default: "
                   "until SIGINT/SIGTERM)")
    w.add_argument("--count", type=int, help="stop after N writes")
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--connections", type=int, default=1)
    w.add_argument("--acks", help="write acknowledged transactions here "
                   "(JSON lines)")
    c = sub.add_parser("compare", help="compare clerk_sync_* with the "
                       "new tables (exit 1 on any difference)")
    c.add_argument("--target-database", required=True)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.cmd == "create-source":
        create_source_schema(connect_from_args(args))
    elif args.cmd == "create-target":
        create_target_schema(connect_from_args(args))
    elif args.cmd == "generate":
        generate(connect_from_args(args, local_infile=1), args.scale,
                 args.seed, log=lambda m: print(m, flush=True))
    elif args.cmd == "workload":
        from tests.harness.workload import cli_workload
        return cli_workload(args, lambda: connect_from_args(args))
    elif args.cmd == "compare":
        from tests.harness.workload import compare
        src = connect_from_args(args)
        args.database = args.target_database
        diffs = compare(src, connect_from_args(args))
        for d in diffs:
            print(d)
        print(f"{len(diffs)} difference(s)")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
