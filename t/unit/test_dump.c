/*
 * test_dump.c — the names and metadata of logical dumps (FORMAT.md
 * section 8): database names encoded reversibly into store names (every
 * byte, each name one encoding only, the result a valid store name), bad
 * encodings refused; the metadata round trip, and every malformed
 * metadata refused; which read errors are the dump's damage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "store.h"
#include "tap.h"

static void
round_trip(const char *db, const char *want)
{
	char		enc[3 * DUMP_NAME_MAX + 1], dec[DUMP_NAME_MAX + 1], name[300];

	if (!is_int(dump_name_encode(db, enc, sizeof(enc)), 0, "encode \"%s\"", db))
		return;
	if (want)
		is_str(enc, want, "\"%s\" encodes as %s", db, want);
	snprintf(name, sizeof(name), "dumps/%s/20261127T020001Z-3f2a/data", enc);
	ok(store_name_valid(name), "%s is a valid store name", name);
	ok(strchr(enc, '.') == NULL, "no '.' in an encoded name (pg.globals is never a database's)");
	if (is_int(dump_name_decode(enc, dec, sizeof(dec)), 0, "decode %s", enc))
		is_str(dec, db, "and back");
}

static void
bad_name(const char *enc, const char *why)
{
	char		dec[DUMP_NAME_MAX + 1];

	is_int(dump_name_decode(enc, dec, sizeof(dec)), -1, "decode refuses %s (%s)", enc, why);
}

/* pg_dump's WriteInt with int size 4 */
static size_t
put_int(uint8_t *h, size_t n, int v)
{
	unsigned	u = (unsigned) (v < 0 ? -v : v);

	h[n++] = v < 0;
	for (int i = 0; i < 4; i++, u >>= 8)
		h[n++] = (uint8_t) (u & 0xff);
	return n;
}

/* the header pg_dump -Fc writes, up to its database name (archive 1.vmin) */
static size_t
archive_head(uint8_t *h, int vmin, const char *db)
{
	size_t		n = 0, dl = strlen(db);
	const int	tm[7] = {1, 2, 3, 27, 10, 126, 0};

	memcpy(h, "PGDMP", 5);
	n = 5;
	h[n++] = 1;
	h[n++] = (uint8_t) vmin;
	h[n++] = 0;
	h[n++] = 4;					/* int size */
	h[n++] = 8;					/* offset size */
	h[n++] = 1;					/* custom */
	if (vmin >= 15)
		h[n++] = 0;				/* compression algorithm: a byte */
	else
		n = put_int(h, n, -1);	/* compression level: an int */
	for (int i = 0; i < 7; i++)
		n = put_int(h, n, tm[i]);
	n = put_int(h, n, (int) dl);
	memcpy(h + n, db, dl);
	return n + dl;
}

static const char good_meta[] =
	"pgark-dump 1\n"
	"dump_id 20261127T020001Z-3f2a\n"
	"database my_20db\n"
	"kind full\n"
	"format custom\n"
	"server_version 150004\n"
	"pg_dump_version pg_dump (PostgreSQL) 15.4\n"
	"start_time 2026-11-27T02:00:01Z\n"
	"end_time 2026-11-27T02:00:09Z\n"
	"plain_bytes 1234\n"
	"stored_bytes 1400\n"
	"sha256 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	"end\n";

/* good_meta with the first occurrence of from replaced by to */
static void
bad_meta(const char *from, const char *to, const char *why)
{
	char		text[2048];
	const char *p = strstr(good_meta, from);
	dump_meta	m;
	pgark_err	err;

	if (!ok(p != NULL, "(test) %s in the metadata", from))
		return;
	snprintf(text, sizeof(text), "%.*s%s%s", (int) (p - good_meta), good_meta, to, p + strlen(from));
	err_clear(&err);
	is_int(dump_meta_parse(text, strlen(text), &m, &err), -1, "metadata refused: %s", why);
	is_int(err.kind, PGARK_ERR_CORRUPT, "as damage (%s)", err.msg);
}

int
main(void)
{
	char		all[256], enc[3 * DUMP_NAME_MAX + 1], text[2048];
	dump_meta	m, m2;
	pgark_err	err;
	int			n;

	round_trip("shop", "shop");
	round_trip("my db/\xc3\xa9t\xc3\xa9.x", "my_20db_2f_c3_a9t_c3_a9_2ex");
	round_trip("sales_2026", "sales_5f2026");
	round_trip(".hidden", "_2ehidden");
	round_trip("-", "-");
	round_trip("..", "_2e_2e");
	round_trip("a\tb\"c'd%e", NULL);
	/* every byte but 0, in names of at most 64 bytes */
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char) i;
	all[255] = '\0';
	for (int off = 0; off < 255; off += 64)
	{
		char		part[DUMP_NAME_MAX + 1];

		snprintf(part, sizeof(part), "%.64s", all + off);
		round_trip(part, NULL);
	}
	is_int(dump_name_encode("", enc, sizeof(enc)), -1, "an empty name is refused");
	memset(all, 'a', 65);
	all[65] = '\0';
	is_int(dump_name_encode(all, enc, sizeof(enc)), -1, "a name of 65 bytes is refused");

	bad_name("", "empty");
	bad_name("a_", "cut escape");
	bad_name("a_2", "cut escape");
	bad_name("a_2E", "upper-case hex");
	bad_name("a_zz", "not hex");
	bad_name("_61", "an escaped byte that stands for itself");
	bad_name("_2d", "an escaped '-'");
	bad_name("_00", "a NUL byte");
	bad_name("a.b", "a '.'");
	bad_name("pg.globals", "the globals' directory");

	/* metadata */
	err_clear(&err);
	if (is_int(dump_meta_parse(good_meta, strlen(good_meta), &m, &err), 0, "good metadata parses (%s)", err.msg))
	{
		is_str(m.database, "my db", "database decoded");
		is_int(m.kind, DUMP_FULL, "kind");
		is_int(m.server_version, 150004, "server_version");
		is_uint(m.plain_bytes, 1234, "plain_bytes");
		is_uint(m.stored_bytes, 1400, "stored_bytes");
		n = dump_meta_format(&m, text, sizeof(text));
		is_str(n > 0 ? text : "", good_meta, "formats back byte for byte");
		m.kind = DUMP_GLOBALS;
		m.database[0] = '\0';
		n = dump_meta_format(&m, text, sizeof(text));
		ok(n > 0 && strstr(text, "database -\nkind globals\nformat plain\n") != NULL, "globals: database -, format plain");
		is_int(dump_meta_parse(text, (size_t) n, &m2, &err), 0, "and parse");
	}
	bad_meta("pgark-dump 1", "pgark-dump 2", "another version");
	bad_meta("dump_id 20261127T020001Z-3f2a", "dump_id 20261127T020001Z-3F2A", "upper-case id");
	bad_meta("dump_id 20261127T020001Z-3f2a", "dump_id ../x", "an id that is not one");
	bad_meta("database my_20db", "database my db", "a database not encoded");
	bad_meta("database my_20db", "database my_2ddb", "a database encoded two ways");
	bad_meta("kind full", "kind partial", "an unknown kind");
	bad_meta("format custom", "format plain", "a format that is not the kind's");
	bad_meta("server_version 150004", "server_version x", "a version that is not a number");
	bad_meta("start_time 2026-11-27T02:00:01Z", "start_time yesterday", "a time that is not one");
	bad_meta("plain_bytes 1234", "plain_bytes -1", "a negative size");
	bad_meta("stored_bytes 1400", "stored_bytes 99999999999999999999999", "a size too large");
	bad_meta("sha256 00112233", "sha256 0011223", "a short hash");
	bad_meta("aabbcc", "AABBCC", "an upper-case hash");
	bad_meta("kind full\nformat custom\n", "format custom\nkind full\n", "lines out of order");
	bad_meta("end\n", "end\nmore\n", "something after end");
	bad_meta("end\n", "", "no end");
	bad_meta("plain_bytes 1234\n", "plain_bytes  1234\n", "two spaces");

	/* the database in a custom-format archive's header */
	{
		uint8_t		h[256];
		char		db[DUMP_NAME_MAX + 1];
		size_t		hl;

		hl = archive_head(h, 14, "shop");
		is_int(dump_archive_dbname(h, hl, db, sizeof(db)), 1, "a 1.14 (PostgreSQL 15) header");
		is_str(db, "shop", "names its database");
		{
			size_t		cut = 0;

			while (cut < hl && dump_archive_dbname(h, cut, db, sizeof(db)) == 0)
				cut++;
			is_uint(cut, hl, "cut anywhere before its end: more bytes needed");
		}
		hl = archive_head(h, 15, "my db");
		is_int(dump_archive_dbname(h, hl, db, sizeof(db)), 1, "a 1.15 (PostgreSQL 16) header");
		is_str(db, "my db", "names its database");
		memcpy(h, "PGDMQ", 5);
		is_int(dump_archive_dbname(h, hl, db, sizeof(db)), -1, "not an archive");
		hl = archive_head(h, 14, "shop");
		h[10] = 3;
		is_int(dump_archive_dbname(h, hl, db, sizeof(db)), -1, "a tar archive is not custom format");
	}
	/* damage is the dump's own; the store, the master key, a dump removed
	 * meanwhile say nothing of it (repo-verify records no damage) */
	{
		static const struct
		{
			pgark_errkind kind;
			int			sys_errno;
			int			damage;
			const char *what;
		}			c[] = {
			{PGARK_ERR_CORRUPT, 0, 1, "a frame or hash that does not match"},
			{PGARK_ERR_MISMATCH, 0, 1, "a mismatch"},
			{PGARK_ERR_KEY, ENOENT, 1, "a data key the repository lacks"},
			{PGARK_ERR_KEY, 0, 0, "the master key"},
			{PGARK_ERR_TRANSIENT, 0, 0, "a store error after the retries, a timeout"},
			{PGARK_ERR_NOTFOUND, ENOENT, 0, "the dump removed meanwhile"},
			{PGARK_ERR_INTERNAL, 0, 0, "out of memory"},
			{PGARK_ERR_IO, 0, 0, "a local I/O error"},
		};

		for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		{
			pgark_err	e;

			err_set(&e, c[i].kind, c[i].sys_errno, "x");
			is_int(dump_err_is_damage(&e), c[i].damage, "%s: %s", c[i].what, c[i].damage ? "damage" : "not damage");
		}
	}
	return done_testing();
}
