#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "object.h"
#include "util.h"

#define MF_MAX_LINE 16384
#define MF_MAX_LABEL (1024 * 1024)

void
lsn_format(uint64_t lsn, char *out, size_t outlen)
{
	snprintf(out, outlen, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
}

int
lsn_parse(const char *s, uint64_t *lsn)
{
	unsigned	hi, lo;
	int			n = 0;

	if (sscanf(s, "%8X/%8X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return -1;
	*lsn = ((uint64_t) hi << 32) | lo;
	return 0;
}

void
mf_head_free(mf_head *h)
{
	if (h == NULL)
		return;
	free(h->backup_label);
	free(h->tablespace_map);
	h->backup_label = h->tablespace_map = NULL;
}

int
mf_path_safe(const char *path)
{
	const char *p = path;

	if (path[0] == '\0' || path[0] == '/' || strlen(path) >= PATH_MAX)
		return 0;
	for (const char *c = path; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return 0;
	while (*p)
	{
		const char *end = strchr(p, '/');
		size_t		n = end ? (size_t) (end - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (end == NULL)
			break;
		p = end + 1;
		if (*p == '\0')
			return 0;
	}
	return 1;
}

/* Paths and labels go into lines %XX-escaped outside a safe set. */
static void
escape(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;

	for (const unsigned char *p = (const unsigned char *) in; *p && o + 4 < outlen; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			strchr("._/+@:,=-", *p))
			out[o++] = (char) *p;
		else
			o += (size_t) snprintf(out + o, outlen - o, "%%%02X", *p);
	}
	out[o] = '\0';
}

static int
unescape(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;

	for (const char *p = in; *p; p++)
	{
		if (o + 1 >= outlen)
			return -1;
		if (*p == '%')
		{
			uint8_t		b;
			char		hex[3] = {p[1], p[1] ? p[2] : 0, 0};

			if (hex_decode(hex, &b, 1) != 0 || b == 0)
				return -1;
			out[o++] = (char) b;
			p += 2;
		}
		else
			out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------ writer */

struct mf_writer
{
	FILE	   *body;
	uint8_t   **packs;			/* known pack ids, in number order */
	size_t		npacks, cappacks;
	uint64_t	nentries;
	uint64_t	nchunks;
	uint64_t	file_left;		/* chunks the open file still owes */
	int			in_file;
};

mf_writer *
mf_writer_new(const char *spool_dir, pgark_err *err)
{
	mf_writer  *w = calloc(1, sizeof(*w));
	const char *dir = spool_dir && spool_dir[0] ? spool_dir : getenv("TMPDIR");
	int			fd;

	if (w == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || (w->body = fdopen(fd, "w+")) == NULL)
	{
		err_sys(err, PGARK_ERR_IO, "could not create a temporary file in %s for the manifest", dir);
		if (fd >= 0)
			close(fd);
		free(w);
		return NULL;
	}
	return w;
}

void
mf_writer_free(mf_writer *w)
{
	if (w == NULL)
		return;
	if (w->body)
		fclose(w->body);
	for (size_t i = 0; i < w->npacks; i++)
		free(w->packs[i]);
	free(w->packs);
	free(w);
}

static int
body_error(pgark_err *err)
{
	return err_sys(err, PGARK_ERR_IO, "could not write the manifest's temporary file");
}

int
mf_add_dir(mf_writer *w, const char *path, mode_t mode, pgark_err *err)
{
	char		esc[PATH_MAX * 3];

	escape(path, esc, sizeof(esc));
	w->nentries++;
	if (fprintf(w->body, "dir %s %04o\n", esc, (unsigned) (mode & 07777)) < 0)
		return body_error(err);
	return 0;
}

int
mf_add_tablespace(mf_writer *w, const char *path, const char *target, pgark_err *err)
{
	char		esc[PATH_MAX * 3], tesc[PATH_MAX * 3];

	escape(path, esc, sizeof(esc));
	escape(target, tesc, sizeof(tesc));
	w->nentries++;
	if (fprintf(w->body, "tablespace %s %s\n", esc, tesc) < 0)
		return body_error(err);
	return 0;
}

/* Number of a pack in this manifest, declaring it on first use. Linear
 * search from the end: chunks of a file come from few, recent packs. */
static long
pack_number(mf_writer *w, const uint8_t pack[PACK_ID_LEN], pgark_err *err)
{
	char		hex[2 * PACK_ID_LEN + 1];

	for (size_t i = w->npacks; i > 0; i--)
		if (memcmp(w->packs[i - 1], pack, PACK_ID_LEN) == 0)
			return (long) (i - 1);
	if (w->npacks == w->cappacks)
	{
		size_t		cap = w->cappacks ? w->cappacks * 2 : 64;
		uint8_t   **n = realloc(w->packs, cap * sizeof(*n));

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		w->packs = n;
		w->cappacks = cap;
	}
	if ((w->packs[w->npacks] = malloc(PACK_ID_LEN)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	memcpy(w->packs[w->npacks], pack, PACK_ID_LEN);
	hex_encode(pack, PACK_ID_LEN, hex);
	if (fprintf(w->body, "pack %zu %s\n", w->npacks, hex) < 0)
		return body_error(err);
	return (long) w->npacks++;
}

int
mf_file_begin(mf_writer *w, const char *path, mode_t mode, uint64_t size, int64_t mtime, pgark_err *err)
{
	char		esc[PATH_MAX * 3];
	uint64_t	n = size / PACK_CHUNK_SIZE + (size % PACK_CHUNK_SIZE ? 1 : 0);

	if (w->in_file)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "manifest: file %s begun inside another", path);
	escape(path, esc, sizeof(esc));
	w->nentries++;
	if (fprintf(w->body, "file %s %04o %" PRIu64 " %" PRId64 " %" PRIu64 "\n", esc, (unsigned) (mode & 07777),
				size, mtime, n) < 0)
		return body_error(err);
	w->in_file = 1;
	w->file_left = n;
	return 0;
}

int
mf_file_chunk(mf_writer *w, const chunk_ref *ref, pgark_err *err)
{
	char		hex[2 * CHUNK_ID_LEN + 1];
	long		num;

	if (!w->in_file || w->file_left == 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "manifest: more chunks than the file's size");
	/* a pack is declared on the line before the first chunk in it */
	if ((num = pack_number(w, ref->pack, err)) < 0)
		return -1;
	hex_encode(ref->id, CHUNK_ID_LEN, hex);
	if (fprintf(w->body, "c %s %ld %" PRIu64 " %u\n", hex, num, ref->offset, ref->len) < 0)
		return body_error(err);
	w->file_left--;
	w->nchunks++;
	return 0;
}

int
mf_file_end(mf_writer *w, pgark_err *err)
{
	if (!w->in_file || w->file_left != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "manifest: a file ends short of its chunks");
	w->in_file = 0;
	return 0;
}

int
mf_add_file(mf_writer *w, const char *path, mode_t mode, uint64_t size, int64_t mtime,
			uint64_t nchunks, const chunk_ref *chunks, pgark_err *err)
{
	if (mf_file_begin(w, path, mode, size, mtime, err) != 0)
		return -1;
	for (uint64_t i = 0; i < nchunks; i++)
		if (mf_file_chunk(w, &chunks[i], err) != 0)
			return -1;
	return mf_file_end(w, err);
}

static int
sink_store(void *arg, const void *buf, size_t len, pgark_err *err)
{
	return store_put_write((store_writer *) arg, buf, len, err);
}

static int
put_text(obj_writer *ow, pgark_err *err, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static int
put_text(obj_writer *ow, pgark_err *err, const char *fmt,...)
{
	char		line[MF_MAX_LINE];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(line))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "manifest line too long");
	return obj_writer_write(ow, line, (size_t) n, err);
}

int
mf_writer_commit(mf_writer *w, repo *r, const mf_head *h, pgark_err *err)
{
	char		name[128], tbuf[2][32], lsn[2][32], label[sizeof(h->label) * 3];
	obj_params	p;
	store_writer *sw = NULL;
	obj_writer *ow = NULL;
	char		buf[65536];
	size_t		n;
	const char *bl = h->backup_label ? h->backup_label : "";
	const char *tm = h->tablespace_map ? h->tablespace_map : "";
	int			rc = -1;

	if (fflush(w->body) != 0 || ferror(w->body))
		return body_error(err);
	rewind(w->body);
	snprintf(name, sizeof(name), "base/%s/manifest", h->backup_id);
	iso8601_from_unix(h->start_time, tbuf[0], sizeof(tbuf[0]));
	iso8601_from_unix(h->stop_time, tbuf[1], sizeof(tbuf[1]));
	lsn_format(h->start_lsn, lsn[0], sizeof(lsn[0]));
	lsn_format(h->stop_lsn, lsn[1], sizeof(lsn[1]));
	escape(h->label, label, sizeof(label));
	if (repo_object_params(r, OBJ_LEN_UNKNOWN, &p, err) != 0 ||
		(sw = store_put_begin(r->st, name, err)) == NULL ||
		(ow = obj_writer_new(&p, sink_store, sw, err)) == NULL)
		goto done;
	if (put_text(ow, err,
				 MF_MAGIC "\n"
				 "backup_id %s\n"
				 "system_identifier %" PRIu64 "\n"
				 "pg_version %d\n"
				 "timeline %u\n"
				 "start_lsn %s\nstop_lsn %s\n"
				 "start_wal %s\nstop_wal %s\n"
				 "start_time %s\nstop_time %s\n"
				 "label %s\n"
				 "chunk_size %u\n"
				 "files %" PRIu64 "\n"
				 "bytes_total %" PRIu64 "\nbytes_stored %" PRIu64 "\nbytes_reused %" PRIu64 "\n"
				 "bad_checksums %" PRIu64 "\n"
				 "stop_snapshot %s\n"
				 "backup_label %zu\n",
				 h->backup_id, h->sysid, h->pg_version, h->timeline, lsn[0], lsn[1],
				 h->start_wal, h->stop_wal, tbuf[0], tbuf[1], label[0] ? label : "-", h->chunk_size,
				 h->files, h->bytes_total, h->bytes_stored, h->bytes_reused, h->bad_checksums,
				 h->stop_snapshot[0] ? h->stop_snapshot : "-", strlen(bl)) != 0 ||
		obj_writer_write(ow, bl, strlen(bl), err) != 0 ||
		put_text(ow, err, "\ntablespace_map %zu\n", strlen(tm)) != 0 ||
		obj_writer_write(ow, tm, strlen(tm), err) != 0 ||
		put_text(ow, err, "\nbody\n") != 0)
		goto done;
	while ((n = fread(buf, 1, sizeof(buf), w->body)) > 0)
		if (obj_writer_write(ow, buf, n, err) != 0)
			goto done;
	if (ferror(w->body))
	{
		err_sys(err, PGARK_ERR_IO, "could not read the manifest's temporary file");
		goto done;
	}
	if (put_text(ow, err, "end %" PRIu64 " %" PRIu64 "\n", w->nentries, w->nchunks) != 0 ||
		obj_writer_finish(ow, NULL, err) != 0)
		goto done;
	rc = store_put_commit(sw, STORE_NO_OVERWRITE | STORE_OWN_NAME, err);
	sw = NULL;
done:
	obj_writer_free(ow);
	store_put_abort(sw);
	if (rc != 0)
		err_prefix(err, "writing manifest %s", name);
	return rc;
}

/* ------------------------------------------------------------ reader */

struct mf_reader
{
	store_reader *sr;
	obj_reader *or;
	char		name[128];
	char	   *buf;			/* line buffer */
	size_t		len, off;
	int			eof;
	uint8_t   **packs;
	size_t		npacks, cappacks;
	mf_entry	e;
	uint64_t	chunks_left;	/* of the current file, not yet read */
	uint64_t	nentries, nchunks;
	int			done;
};

static int
fill(mf_reader *rd, pgark_err *err)
{
	size_t		got;

	if (rd->off > 0)
	{
		memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
		rd->len -= rd->off;
		rd->off = 0;
	}
	if (rd->eof || rd->len == MF_MAX_LINE)
		return 0;
	if (obj_reader_read(rd->or, rd->buf + rd->len, MF_MAX_LINE - rd->len, &got, err) != 0)
		return -1;
	if (got == 0)
		rd->eof = 1;
	rd->len += got;
	return 0;
}

static int
bad(mf_reader *rd, pgark_err *err, const char *what)
{
	return err_set(err, PGARK_ERR_CORRUPT, 0, "manifest %s: %s", rd->name, what);
}

/* Next line, NUL-terminated in place; NULL at the end (check err kind). */
static char *
next_line(mf_reader *rd, pgark_err *err)
{
	for (;;)
	{
		char	   *nl = memchr(rd->buf + rd->off, '\n', rd->len - rd->off);

		if (nl)
		{
			char	   *line = rd->buf + rd->off;

			*nl = '\0';
			rd->off = (size_t) (nl - rd->buf) + 1;
			return line;
		}
		if (rd->eof)
		{
			bad(rd, err, rd->len > rd->off ? "unterminated last line" : "ends without its end line");
			return NULL;
		}
		if (rd->off == 0 && rd->len == MF_MAX_LINE)
		{
			bad(rd, err, "line too long");
			return NULL;
		}
		if (fill(rd, err) != 0)
			return NULL;
	}
}

/* Exactly n raw bytes, then a newline, into a malloc'd string. */
static char *
read_blob(mf_reader *rd, size_t n, pgark_err *err)
{
	char	   *s;
	size_t		have = 0;

	if (n > MF_MAX_LABEL || (s = malloc(n + 1)) == NULL)
	{
		bad(rd, err, "label too large");
		return NULL;
	}
	while (have < n)
	{
		size_t		take;

		if (rd->off == rd->len)
		{
			if (rd->eof)
			{
				free(s);
				bad(rd, err, "truncated inside a label");
				return NULL;
			}
			if (fill(rd, err) != 0)
			{
				free(s);
				return NULL;
			}
			continue;
		}
		take = rd->len - rd->off < n - have ? rd->len - rd->off : n - have;
		memcpy(s + have, rd->buf + rd->off, take);
		have += take;
		rd->off += take;
	}
	s[n] = '\0';
	if (strlen(s) != n)
	{
		free(s);
		bad(rd, err, "NUL byte in a label");
		return NULL;
	}
	{
		char	   *rest = next_line(rd, err);

		if (rest == NULL || rest[0] != '\0')
		{
			free(s);
			if (rest)
				bad(rd, err, "label not followed by a newline");
			return NULL;
		}
	}
	return s;
}

static int
parse_head(mf_reader *rd, mf_head *h, pgark_err *err)
{
	char	   *line;
	unsigned	seen = 0;

	memset(h, 0, sizeof(*h));
	if ((line = next_line(rd, err)) == NULL)
		return -1;
	if (strcmp(line, MF_MAGIC) != 0)
		return bad(rd, err, "not a pgark manifest, or a version this pgark does not read");
	while ((line = next_line(rd, err)) != NULL)
	{
		char	   *sp = strchr(line, ' ');
		const char *v;
		uint64_t	u;
		char	   *end;

		if (strcmp(line, "body") == 0)
			break;
		if (sp == NULL)
			return bad(rd, err, "malformed head line");
		*sp = '\0';
		v = sp + 1;
		errno = 0;
		u = strtoull(v, &end, 10);
		if (strcmp(line, "backup_id") == 0 && strlen(v) < sizeof(h->backup_id))
			snprintf(h->backup_id, sizeof(h->backup_id), "%s", v), seen |= 1;
		else if (strcmp(line, "system_identifier") == 0 && !*end)
			h->sysid = u, seen |= 2;
		else if (strcmp(line, "pg_version") == 0 && !*end)
			h->pg_version = (int) u;
		else if (strcmp(line, "timeline") == 0 && !*end && u > 0 && u <= UINT32_MAX)
			h->timeline = (uint32_t) u, seen |= 4;
		else if (strcmp(line, "start_lsn") == 0 && lsn_parse(v, &h->start_lsn) == 0)
			seen |= 8;
		else if (strcmp(line, "stop_lsn") == 0 && lsn_parse(v, &h->stop_lsn) == 0)
			seen |= 16;
		else if (strcmp(line, "start_wal") == 0 && strlen(v) < sizeof(h->start_wal))
			snprintf(h->start_wal, sizeof(h->start_wal), "%s", v);
		else if (strcmp(line, "stop_wal") == 0 && strlen(v) < sizeof(h->stop_wal))
			snprintf(h->stop_wal, sizeof(h->stop_wal), "%s", v);
		else if (strcmp(line, "start_time") == 0 && iso8601_parse(v, &h->start_time) == 0)
			seen |= 32;
		else if (strcmp(line, "stop_time") == 0 && iso8601_parse(v, &h->stop_time) == 0)
			seen |= 64;
		else if (strcmp(line, "label") == 0)
		{
			if (strcmp(v, "-") != 0 && unescape(v, h->label, sizeof(h->label)) != 0)
				return bad(rd, err, "malformed label");
		}
		else if (strcmp(line, "chunk_size") == 0 && !*end)
		{
			if (u != PACK_CHUNK_SIZE)
				return bad(rd, err, "unsupported chunk size");
			h->chunk_size = (uint32_t) u;
			seen |= 128;
		}
		else if (strcmp(line, "files") == 0 && !*end)
			h->files = u;
		else if (strcmp(line, "bytes_total") == 0 && !*end)
			h->bytes_total = u;
		else if (strcmp(line, "bytes_stored") == 0 && !*end)
			h->bytes_stored = u;
		else if (strcmp(line, "bytes_reused") == 0 && !*end)
			h->bytes_reused = u;
		else if (strcmp(line, "bad_checksums") == 0 && !*end)
			h->bad_checksums = u;
		else if (strcmp(line, "stop_snapshot") == 0 && strlen(v) < sizeof(h->stop_snapshot) &&
				 strspn(v, "0123456789:,-") == strlen(v))
			snprintf(h->stop_snapshot, sizeof(h->stop_snapshot), "%s", strcmp(v, "-") == 0 ? "" : v);
		else if (strcmp(line, "backup_label") == 0 && !*end && h->backup_label == NULL)
		{
			if ((h->backup_label = read_blob(rd, (size_t) u, err)) == NULL)
				return -1;
			seen |= 256;
		}
		else if (strcmp(line, "tablespace_map") == 0 && !*end && h->tablespace_map == NULL)
		{
			if ((h->tablespace_map = read_blob(rd, (size_t) u, err)) == NULL)
				return -1;
		}
		else
			return bad(rd, err, "unknown or malformed head line");
	}
	if (line == NULL)
		return -1;
	if (seen != 511)
		return bad(rd, err, "head is incomplete");
	if (h->tablespace_map == NULL && (h->tablespace_map = calloc(1, 1)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	return 0;
}

mf_reader *
mf_open(repo *r, const char *backup_id, mf_head *head, pgark_err *err)
{
	mf_reader  *rd = calloc(1, sizeof(*rd));

	memset(head, 0, sizeof(*head));
	if (rd == NULL || (rd->buf = malloc(MF_MAX_LINE + 1)) == NULL)
	{
		free(rd);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	snprintf(rd->name, sizeof(rd->name), "base/%s/manifest", backup_id);
	if (!store_name_valid(rd->name))
	{
		err_set(err, PGARK_ERR_USAGE, 0, "\"%s\" is not a backup id", backup_id);
		goto fail;
	}
	if ((rd->sr = store_get(r->st, rd->name, 0, 0, err)) == NULL)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			err_set(err, PGARK_ERR_NOTFOUND, 0, "no backup %s in %s", backup_id, r->st->where);
		goto fail;
	}
	if ((rd->or = repo_object_reader(r, store_read_source, rd->sr, err)) == NULL)
		goto fail;
	if (parse_head(rd, head, err) != 0)
	{
		mf_head_free(head);
		goto fail;
	}
	if (strcmp(head->backup_id, backup_id) != 0 || head->sysid != r->meta.sysid)
	{
		mf_head_free(head);
		bad(rd, err, "belongs to another backup or another database system");
		goto fail;
	}
	return rd;
fail:
	if (err->kind == PGARK_ERR_CORRUPT && strstr(err->msg, "manifest") == NULL)
		err_prefix(err, "manifest %s", rd->name);
	mf_close(rd);
	return NULL;
}

/* "pack <n> <id>": 1 if line is one (and it was taken), 0 if not, -1 bad */
static int
pack_line(mf_reader *rd, const char *line, pgark_err *err)
{
	char		p1[40];
	size_t		num;
	int			n = 0;

	if (strncmp(line, "pack ", 5) != 0)
		return 0;
	if (sscanf(line, "pack %zu %32s%n", &num, p1, &n) != 2 || line[n] != '\0' ||
		num != rd->npacks || strlen(p1) != 32)
		return bad(rd, err, "malformed or out-of-order pack line");
	if (rd->npacks == rd->cappacks)
	{
		size_t		cap = rd->cappacks ? rd->cappacks * 2 : 64;
		uint8_t   **np = realloc(rd->packs, cap * sizeof(*np));

		if (np == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		rd->packs = np;
		rd->cappacks = cap;
	}
	if ((rd->packs[rd->npacks] = malloc(PACK_ID_LEN)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	if (hex_decode(p1, rd->packs[rd->npacks], PACK_ID_LEN) != 0)
	{
		free(rd->packs[rd->npacks]);
		return bad(rd, err, "malformed pack id");
	}
	rd->npacks++;
	return 1;
}

/* Decimal digits at *p (at least one, no sign) into *v; p past them. */
static int
parse_dec(const char **p, unsigned long long *v)
{
	const char *s = *p;
	unsigned long long n = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
	{
		if (n > (ULLONG_MAX - (unsigned) (*s - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned) (*s - '0');
	}
	*p = s;
	*v = n;
	return 0;
}

/* A restore reads one chunk line per 8 KiB, so it is parsed by hand rather
 * than with sscanf. */
int
mf_parse_chunk_line(const char *cl, uint8_t id[CHUNK_ID_LEN], unsigned long long *pn,
					unsigned long long *off, unsigned long long *len)
{
	const char *p = cl + 2;

	if (cl[0] != 'c' || cl[1] != ' ' || strnlen(p, 2 * CHUNK_ID_LEN + 1) < 2 * CHUNK_ID_LEN ||
		p[2 * CHUNK_ID_LEN] != ' ')
		return -1;
	{
		char		hex[2 * CHUNK_ID_LEN + 1];

		memcpy(hex, p, 2 * CHUNK_ID_LEN);
		hex[2 * CHUNK_ID_LEN] = '\0';
		if (hex_decode(hex, id, CHUNK_ID_LEN) != 0)
			return -1;
	}
	p += 2 * CHUNK_ID_LEN + 1;
	if (parse_dec(&p, pn) != 0 || *p++ != ' ' || parse_dec(&p, off) != 0 || *p++ != ' ' ||
		parse_dec(&p, len) != 0 || *p != '\0')
		return -1;
	return 0;
}

int
mf_chunks(mf_reader *rd, chunk_ref *out, uint32_t max, uint32_t *got, pgark_err *err)
{
	*got = 0;
	while (*got < max && rd->chunks_left > 0)
	{
		char	   *cl = next_line(rd, err);
		unsigned long long off, len, pn;
		int			pk;
		chunk_ref  *ref = &out[*got];

		if (cl == NULL)
			return -1;
		if ((pk = pack_line(rd, cl, err)) != 0)
		{
			if (pk < 0)
				return -1;
			continue;
		}
		if (mf_parse_chunk_line(cl, ref->id, &pn, &off, &len) != 0 || pn >= rd->npacks ||
			len == 0 || len > 2 * PACK_CHUNK_SIZE)
			return bad(rd, err, "malformed chunk line");
		memcpy(ref->pack, rd->packs[pn], PACK_ID_LEN);
		ref->offset = off;
		ref->len = (uint32_t) len;
		rd->chunks_left--;
		rd->nchunks++;
		(*got)++;
	}
	return 0;
}

int
mf_next(mf_reader *rd, mf_entry **out, pgark_err *err)
{
	char	   *line;

	*out = NULL;
	if (rd->done)
		return 0;
	while (rd->chunks_left > 0)
	{
		chunk_ref	skip[64];
		uint32_t	got;

		if (mf_chunks(rd, skip, 64, &got, err) != 0)
			return -1;
	}
	while ((line = next_line(rd, err)) != NULL)
	{
		mf_entry   *e = &rd->e;
		char		p1[PATH_MAX * 3 + 1], p2[PATH_MAX * 3 + 1];
		unsigned	mode;
		unsigned long long size, nent, nch, nchunks;
		long long	mtime;
		int			n = 0, pk;

		if ((pk = pack_line(rd, line, err)) != 0)
		{
			if (pk < 0)
				return -1;
			continue;
		}
		memset(e->path, 0, 1);
		e->target[0] = '\0';
		e->nchunks = 0;
		e->size = 0;
		e->mtime = 0;
		e->mode = 0;
		if (strncmp(line, "dir ", 4) == 0 && sscanf(line, "dir %12287s %o%n", p1, &mode, &n) == 2 && line[n] == '\0')
		{
			e->kind = MF_DIR;
			e->mode = (mode_t) (mode & 07777);
		}
		else if (strncmp(line, "tablespace ", 11) == 0 &&
				 sscanf(line, "tablespace %12287s %12287s%n", p1, p2, &n) == 2 && line[n] == '\0')
		{
			e->kind = MF_TABLESPACE;
			if (unescape(p2, e->target, sizeof(e->target)) != 0 || e->target[0] != '/')
				return bad(rd, err, "malformed tablespace target");
		}
		else if (strncmp(line, "file ", 5) == 0 &&
				 sscanf(line, "file %12287s %o %llu %lld %llu%n", p1, &mode, &size, &mtime, &nchunks, &n) == 5 &&
				 line[n] == '\0')
		{
			uint64_t	expect = size / PACK_CHUNK_SIZE + (size % PACK_CHUNK_SIZE ? 1 : 0);

			if (nchunks != expect)
				return bad(rd, err, "file's chunk count does not match its size");
			e->kind = MF_FILE;
			e->mode = (mode_t) (mode & 07777);
			e->size = size;
			e->mtime = mtime;
			e->nchunks = nchunks;
			rd->chunks_left = nchunks;
		}
		else if (sscanf(line, "end %llu %llu%n", &nent, &nch, &n) == 2 && line[n] == '\0')
		{
			char		extra;
			size_t		got;

			if (nent != rd->nentries || nch != rd->nchunks)
				return bad(rd, err, "end line disagrees with the entries read");
			/* nothing may follow, and the object must verify to its end */
			if (rd->off != rd->len)
				return bad(rd, err, "data after the end line");
			if (obj_reader_read(rd->or, &extra, 1, &got, err) != 0)
				return -1;
			if (got != 0)
				return bad(rd, err, "data after the end line");
			rd->done = 1;
			return 0;
		}
		else
			return bad(rd, err, "malformed entry line");
		if (unescape(p1, e->path, sizeof(e->path)) != 0 || !mf_path_safe(e->path))
			return bad(rd, err, "a path is not safe to restore (absolute, \"..\", or malformed)");
		rd->nentries++;
		*out = e;
		return 1;
	}
	return -1;
}

size_t
mf_npacks(const mf_reader *rd)
{
	return rd->npacks;
}

const uint8_t *
mf_pack_id(const mf_reader *rd, size_t i)
{
	return i < rd->npacks ? rd->packs[i] : NULL;
}

void
mf_close(mf_reader *rd)
{
	if (rd == NULL)
		return;
	obj_reader_free(rd->or);
	store_reader_close(rd->sr);
	for (size_t i = 0; i < rd->npacks; i++)
		free(rd->packs[i]);
	free(rd->packs);
	free(rd->buf);
	free(rd);
}

int
mf_xid_finished_at_stop(const mf_head *h, uint64_t xid)
{
	unsigned long long xmin, xmax;
	int			n = 0;
	const char *p;

	if (h->stop_snapshot[0] == '\0' ||
		sscanf(h->stop_snapshot, "%llu:%llu:%n", &xmin, &xmax, &n) != 2 || n == 0)
		return -1;
	if (xid <= UINT32_MAX && xmax > UINT32_MAX)
	{
		/* a 32-bit xid: in the snapshot's epoch, or the one before */
		uint64_t	full = (xmax & ~(uint64_t) UINT32_MAX) | xid;

		xid = full > xmax ? full - (UINT64_C(1) << 32) : full;
	}
	if (xid < xmin)
		return 1;
	if (xid >= xmax)
		return 0;
	/* between: finished unless still in progress (listed) */
	for (p = h->stop_snapshot + n; *p;)
	{
		char	   *end;
		unsigned long long x = strtoull(p, &end, 10);

		if (end == p)
			break;
		if (x == xid)
			return 0;
		p = *end == ',' ? end + 1 : end;
	}
	return 1;
}

typedef struct id_list
{
	char	  **ids;
	size_t		n, cap;
} id_list;

static int
collect_backup(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	id_list    *l = arg;
	const char *id = name + 5;	/* after "base/" */
	const char *slash = strchr(id, '/');

	(void) st;
	if (slash == NULL || strcmp(slash, "/manifest") != 0)
		return 0;
	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 32;
		char	  **n = realloc(l->ids, cap * sizeof(*n));

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		l->ids = n;
		l->cap = cap;
	}
	if ((l->ids[l->n] = strndup(id, (size_t) (slash - id))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	l->n++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int
mf_list_backups(repo *r, char ***ids, size_t *n, pgark_err *err)
{
	id_list		l = {NULL, 0, 0};

	if (store_list(r->st, "base/", collect_backup, &l, err) != 0)
	{
		mf_free_list(l.ids, l.n);
		return -1;
	}
	if (l.n > 1)
		qsort(l.ids, l.n, sizeof(*l.ids), cmp_str);
	*ids = l.ids;
	*n = l.n;
	return 0;
}

void
mf_free_list(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
