#include "wal.h"

#include <stdio.h>
#include <string.h>

static int
hex_run(const char *s, size_t n, uint32_t *out)
{
	uint32_t	v = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t) (c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

int
walname_parse(const char *name, walname *out, pgark_err *err)
{
	size_t		len = name ? strlen(name) : 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(out->name))
		goto bad;
	if (len == 16 && strcmp(name + 8, ".history") == 0)
	{
		if (hex_run(name, 8, &out->tli) != 0)
			goto bad;
		out->kind = WAL_HISTORY;
	}
	else if (len >= 24 && hex_run(name, 8, &out->tli) == 0 &&
			 hex_run(name + 8, 8, &out->log) == 0 && hex_run(name + 16, 8, &out->seg) == 0)
	{
		if (len == 24)
			out->kind = WAL_SEGMENT;
		else if (len == 32 && strcmp(name + 24, ".partial") == 0)
			out->kind = WAL_PARTIAL;
		else if (len == 40 && name[24] == '.' && strcmp(name + 33, ".backup") == 0 &&
				 hex_run(name + 25, 8, &out->backup_offset) == 0)
			out->kind = WAL_BACKUP;
		else
			goto bad;
	}
	else
		goto bad;
	if (out->tli == 0)
		goto bad;
	memcpy(out->name, name, len + 1);
	return 0;
bad:
	return err_set(err, PGARK_ERR_BADNAME, 0,
				   "\"%.64s\" is not a WAL file name (expected 24 hex digits, optionally .partial, "
				   "a .backup file, or a timeline .history file)", name ? name : "");
}

const char *
walname_kind_str(walname_kind kind)
{
	switch (kind)
	{
		case WAL_SEGMENT: return "segment";
		case WAL_PARTIAL: return "partial";
		case WAL_BACKUP: return "backup";
		case WAL_HISTORY: return "history";
	}
	return "?";
}

void
walname_object(const walname *wn, char *out, size_t outlen)
{
	if (wn->kind == WAL_HISTORY)
		snprintf(out, outlen, "wal/history/%s", wn->name);
	else
		snprintf(out, outlen, "wal/%.16s/%s", wn->name, wn->name);
}

uint64_t
walname_segno(const walname *wn, uint32_t seg_size)
{
	uint64_t	per_log = UINT64_C(0x100000000) / seg_size;

	return (uint64_t) wn->log * per_log + wn->seg;
}

int
wal_seg_size_valid(uint64_t size)
{
	return size >= (1 << 20) && size <= (UINT64_C(1) << 30) && (size & (size - 1)) == 0;
}

int
wal_parse_long_header(const uint8_t *buf, size_t len, wal_long_header *h, pgark_err *err)
{
	if (len < WAL_LONG_HEADER_LEN)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "too short for a WAL page header");
	memcpy(&h->magic, buf, 2);
	memcpy(&h->info, buf + 2, 2);
	memcpy(&h->tli, buf + 4, 4);
	memcpy(&h->pageaddr, buf + 8, 8);
	memcpy(&h->sysid, buf + 24, 8);
	memcpy(&h->seg_size, buf + 32, 4);
	memcpy(&h->blcksz, buf + 36, 4);
	if (!(h->info & XLP_LONG_HEADER) || h->magic < 0xD000 || h->magic > 0xDFFF)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "no WAL long page header at the start of the file");
	return 0;
}

int
wal_check_segment(const walname *wn, const uint8_t *buf, size_t len, uint64_t sysid,
				  uint32_t seg_size, pgark_err *err)
{
	wal_long_header h = {0};
	uint64_t	expect;

	if (wal_parse_long_header(buf, len, &h, err) != 0)
		return err_prefix(err, "WAL file %s", wn->name);
	if (h.sysid != sysid)
		return err_set(err, PGARK_ERR_MISMATCH, 0,
					   "WAL file %s belongs to database system %llu, but this repository holds system %llu: "
					   "refusing to mix clusters in one repository",
					   wn->name, (unsigned long long) h.sysid, (unsigned long long) sysid);
	if (h.seg_size != seg_size)
		return err_set(err, PGARK_ERR_MISMATCH, 0,
					   "WAL file %s has segment size %u, the repository's is %u",
					   wn->name, h.seg_size, seg_size);
	if (h.tli > wn->tli)
		return err_set(err, PGARK_ERR_CORRUPT, 0,
					   "WAL file %s starts on timeline %u, after its name's timeline %u",
					   wn->name, h.tli, wn->tli);
	expect = walname_segno(wn, seg_size) * seg_size;
	if (h.pageaddr != expect)
		return err_set(err, PGARK_ERR_CORRUPT, 0,
					   "WAL file %s starts at %X/%X, not at %X/%X as its name says (a recycled or misnamed file?)",
					   wn->name, (unsigned) (h.pageaddr >> 32), (unsigned) h.pageaddr,
					   (unsigned) (expect >> 32), (unsigned) expect);
	return 0;
}

void
walname_segment(uint32_t tli, uint64_t segno, uint32_t seg_size, walname *out)
{
	uint64_t	per_log = UINT64_C(0x100000000) / seg_size;

	memset(out, 0, sizeof(*out));
	out->kind = WAL_SEGMENT;
	out->tli = tli;
	out->log = (uint32_t) (segno / per_log);
	out->seg = (uint32_t) (segno % per_log);
	snprintf(out->name, sizeof(out->name), "%08X%08X%08X", out->tli, out->log, out->seg);
}

/* Hex or decimal digits at *p (up to end), as PostgreSQL's sscanf %X / %u
 * reads them; -1 if there is none or the value exceeds 32 bits. */
static int
scan_u32(const char **p, const char *end, int base, uint32_t *out)
{
	uint64_t	v = 0;
	const char *s = *p;

	while (s < end)
	{
		int			d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		v = v * (uint64_t) base + (uint64_t) d;
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	if (s == *p)
		return -1;
	*p = s;
	*out = (uint32_t) v;
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int
wal_history_parse(const char *text, size_t len, uint32_t tli, wal_tl_entry *out, size_t max,
				  size_t *n, pgark_err *err)
{
	const char *p = text;
	const char *end = text + len;
	uint32_t	last = 0;
	uint64_t	prev_end = 0;
	size_t		count = 0;
	int			lineno = 0;

	*n = 0;
	/* ancestors first, oldest first; reversed at the end */
	while (p < end)
	{
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		const char *s = p;
		uint32_t	parent, hi, lo;

		if (eol == NULL)
			eol = end;
		p = eol < end ? eol + 1 : end;
		lineno++;
		while (s < eol && is_space(*s))
			s++;
		if (s == eol || *s == '#')
			continue;
		if (scan_u32(&s, eol, 10, &parent) != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0,
						   "history file of timeline %u, line %d: no timeline ID", tli, lineno);
		while (s < eol && is_space(*s))
			s++;
		if (scan_u32(&s, eol, 16, &hi) != 0 || s >= eol || *s++ != '/' || scan_u32(&s, eol, 16, &lo) != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0,
						   "history file of timeline %u, line %d: no switch point (X/Y)", tli, lineno);
		if (parent == 0 || parent <= last)
			return err_set(err, PGARK_ERR_CORRUPT, 0,
						   "history file of timeline %u, line %d: timeline IDs must be in increasing sequence",
						   tli, lineno);
		if (count + 1 >= max)
			return err_set(err, PGARK_ERR_CORRUPT, 0,
						   "history file of timeline %u: more than %zu timelines", tli, max - 1);
		out[count].tli = parent;
		out[count].begin = prev_end;
		out[count].end = ((uint64_t) hi << 32) | lo;
		prev_end = out[count].end;
		last = parent;
		count++;
	}
	if (tli <= last || max == 0)
		return err_set(err, PGARK_ERR_CORRUPT, 0,
					   "history file of timeline %u: its ancestors must have lower timeline IDs (the last is %u)",
					   tli, last);
	out[count].tli = tli;
	out[count].begin = prev_end;
	out[count].end = 0;
	count++;
	for (size_t i = 0; i < count / 2; i++)
	{
		wal_tl_entry t = out[i];

		out[i] = out[count - 1 - i];
		out[count - 1 - i] = t;
	}
	*n = count;
	return 0;
}
