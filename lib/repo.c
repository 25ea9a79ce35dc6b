#include "repo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "wal.h"

int
repo_meta_format(const repo_meta *m, char *out, size_t outlen)
{
	char		dek[2 * OBJ_DEK_ID_LEN + 1];
	int			n;

	hex_encode(m->data_key, OBJ_DEK_ID_LEN, dek);
	n = snprintf(out, outlen,
				 "# pgark repository: not secret; do not edit (see FORMAT.md)\n"
				 "format = %d\n"
				 "system_identifier = %" PRIu64 "\n"
				 "pg_version = %d\n"
				 "wal_segment_size = %" PRIu32 "\n"
				 "cipher = %s\n"
				 "data_key = %s\n"
				 "created = %s\n",
				 m->format, m->sysid, m->pg_version, m->wal_seg_size,
				 m->cipher == OBJ_CIPHER_NONE ? "none" : "aes-256-gcm",
				 m->cipher == OBJ_CIPHER_NONE ? "none" : dek, m->created);
	return (n < 0 || (size_t) n >= outlen) ? -1 : n;
}

static int
parse_u64(const char *v, uint64_t *out)
{
	char	   *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return (errno || *end) ? -1 : 0;
}

int
repo_meta_parse(const char *text, size_t len, repo_meta *m, pgark_err *err)
{
	char		buf[2048];
	char	   *line, *save = NULL;
	unsigned	seen = 0;
	int			lineno = 0;

	if (len >= sizeof(buf))
		return err_set(err, PGARK_ERR_CORRUPT, 0, "%s is too large", REPO_META_NAME);
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(m, 0, sizeof(*m));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *eq, *key, *val, *e;
		uint64_t	u;

		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strstr(line, " = ");
		if (eq == NULL)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s line %d: expected \"key = value\"", REPO_META_NAME, lineno);
		*eq = '\0';
		key = line;
		val = eq + 3;
		for (e = val + strlen(val); e > val && e[-1] == '\r'; e--)
			e[-1] = '\0';
		if (strcmp(key, "format") == 0 && parse_u64(val, &u) == 0)
		{
			if (u != REPO_FORMAT)
				return err_set(err, PGARK_ERR_CORRUPT, 0,
							   "repository format %" PRIu64 " is not supported by this pgark (it reads format %d)",
							   u, REPO_FORMAT);
			m->format = (int) u;
			seen |= 1;
		}
		else if (strcmp(key, "system_identifier") == 0 && parse_u64(val, &u) == 0)
		{
			m->sysid = u;
			seen |= 2;
		}
		else if (strcmp(key, "pg_version") == 0 && parse_u64(val, &u) == 0 && u < 1000)
		{
			m->pg_version = (int) u;
			seen |= 4;
		}
		else if (strcmp(key, "wal_segment_size") == 0 && parse_u64(val, &u) == 0 && wal_seg_size_valid(u))
		{
			m->wal_seg_size = (uint32_t) u;
			seen |= 8;
		}
		else if (strcmp(key, "cipher") == 0 && (strcmp(val, "none") == 0 || strcmp(val, "aes-256-gcm") == 0))
		{
			m->cipher = strcmp(val, "none") == 0 ? OBJ_CIPHER_NONE : OBJ_CIPHER_AES256GCM;
			seen |= 16;
		}
		else if (strcmp(key, "data_key") == 0 &&
				 (strcmp(val, "none") == 0 || hex_decode(val, m->data_key, OBJ_DEK_ID_LEN) == 0))
			seen |= 32;
		else if (strcmp(key, "created") == 0 && strlen(val) < sizeof(m->created))
		{
			snprintf(m->created, sizeof(m->created), "%s", val);
			seen |= 64;
		}
		else
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s line %d: unknown or invalid \"%s\"",
						   REPO_META_NAME, lineno, key);
	}
	if (seen != 127)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "%s is incomplete", REPO_META_NAME);
	return 0;
}

int
repo_create(const pgark_config *cfg, uint64_t sysid, int pg_version, uint32_t wal_seg_size,
			repo_meta *out, pgark_err *err)
{
	store	   *st = NULL;
	keyring    *kr = NULL;
	repo_meta	m;
	char		text[1024];
	store_reader *sr;
	int			rc = -1;
	int			n;

	if (!wal_seg_size_valid(wal_seg_size))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "invalid WAL segment size %u", wal_seg_size);
	if (strcmp(cfg->repo_type, "local") == 0)
	{
		char		wal[PATH_MAX];

		if (mkdir_p(cfg->repo_path, 0700, err) != 0)
			return -1;
		/* wal/ exists from the start: its absence later means damage, not
		 * an empty archive (see store_local.c) */
		if ((size_t) snprintf(wal, sizeof(wal), "%s/wal/history", cfg->repo_path) >= sizeof(wal))
			return err_set(err, PGARK_ERR_CONFIG, 0, "[repo] path too long");
		if (mkdir_p(wal, 0700, err) != 0)
			return -1;
		{
			char		parent[PATH_MAX];

			path_dirname(cfg->repo_path, parent, sizeof(parent));
			if (fsync_dir(parent, err) != 0)
				return -1;
		}
	}
	if ((st = store_open(cfg, err)) == NULL)
		goto done;

	/*
	 * A GET, not a HEAD: on S3 a HEAD is answered 404 without a body both for
	 * a missing object and for a missing bucket, while a GET names the error
	 * (NoSuchKey or NoSuchBucket). A bucket that does not exist is an error
	 * here, reported by this first request; pgark never creates one.
	 */
	if ((sr = store_get(st, REPO_META_NAME, 0, 0, err)) != NULL)
	{
		store_reader_close(sr);
		err_set(err, PGARK_ERR_EXISTS, 0, "%s is already a pgark repository (%s exists)", st->where, REPO_META_NAME);
		goto done;
	}
	if (err->kind != PGARK_ERR_NOTFOUND)
		goto done;
	err_clear(err);
	memset(&m, 0, sizeof(m));
	m.format = REPO_FORMAT;
	m.sysid = sysid;
	m.pg_version = pg_version;
	m.wal_seg_size = wal_seg_size;
	iso8601_now(m.created, sizeof(m.created));
	m.created[19] = 'Z';		/* whole seconds */
	m.created[20] = '\0';
	m.cipher = config_cipher_is_none(cfg) ? OBJ_CIPHER_NONE : OBJ_CIPHER_AES256GCM;
	if ((kr = keyring_open(cfg, st, err)) == NULL)
		goto done;
	if (m.cipher == OBJ_CIPHER_AES256GCM)
	{
		const obj_dek *dek = keyring_new_dek(kr, err);

		if (dek == NULL)
			goto done;
		memcpy(m.data_key, dek->id, OBJ_DEK_ID_LEN);
	}
	n = repo_meta_format(&m, text, sizeof(text));
	if (n < 0 || store_put_buf(st, REPO_META_NAME, text, (size_t) n, STORE_NO_OVERWRITE, err) != 0)
	{
		if (n < 0)
			err_set(err, PGARK_ERR_INTERNAL, 0, "repository metadata too long");
		goto done;
	}
	if (out)
		*out = m;
	rc = 0;
done:
	keyring_free(kr);
	store_free(st);
	return rc;
}

repo *
repo_open(const pgark_config *cfg, pgark_err *err)
{
	repo	   *r = calloc(1, sizeof(*r));
	uint8_t    *buf = NULL;
	size_t		len;

	if (r == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	if ((r->st = store_open(cfg, err)) == NULL)
		goto fail;
	if (store_get_buf(r->st, REPO_META_NAME, 2047, &buf, &len, err) != 0)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			err_set(err, PGARK_ERR_NOREPO, 0,
					"%s is not a pgark repository (no %s): initialise it with repo-init", r->st->where, REPO_META_NAME);
		goto fail;
	}
	if (repo_meta_parse((const char *) buf, len, &r->meta, err) != 0)
	{
		err_prefix(err, "repository %s", r->st->where);
		goto fail;
	}
	if ((r->meta.cipher == OBJ_CIPHER_NONE) != (config_cipher_is_none(cfg) != 0))
	{
		err_set(err, PGARK_ERR_CONFIG, 0,
				"repository %s uses cipher %s but the configuration says [crypto] cipher = %s",
				r->st->where, r->meta.cipher == OBJ_CIPHER_NONE ? "none" : "aes-256-gcm", cfg->cipher);
		goto fail;
	}
	if ((r->kr = keyring_open(cfg, r->st, err)) == NULL)
		goto fail;
	free(buf);
	return r;
fail:
	free(buf);
	repo_close(r);
	return NULL;
}

void
repo_close(repo *r)
{
	if (r == NULL)
		return;
	keyring_free(r->kr);
	store_free(r->st);
	free(r);
}

/* An object's cipher must be the repository's (see repo_object_reader). */
static int
check_cipher(repo *r, const obj_header *h, pgark_err *err)
{
	if (h->cipher == r->meta.cipher)
		return 0;
	return err_set(err, PGARK_ERR_CORRUPT, 0,
				   "object is %s but the repository is %s: refusing it (replaced or forged)",
				   r->meta.cipher == OBJ_CIPHER_NONE ? "encrypted" : "NOT encrypted",
				   r->meta.cipher == OBJ_CIPHER_NONE ? "not" : "encrypted");
}

obj_reader *
repo_object_reader(repo *r, obj_source_fn src, void *src_arg, pgark_err *err)
{
	obj_reader *or = obj_reader_new(src, src_arg, keyring_lookup, r->kr, err);

	if (or != NULL && check_cipher(r, obj_reader_header(or), err) != 0)
	{
		obj_reader_free(or);
		return NULL;
	}
	return or;
}

obj_decoder *
repo_object_decoder(repo *r, pgark_err *err)
{
	return obj_decoder_new(keyring_lookup, r->kr, err);
}

const obj_header *
repo_decode_open(repo *r, obj_decoder *d, const uint8_t *obj, size_t len, pgark_err *err)
{
	const obj_header *h = obj_decode_open(d, obj, len, err);

	if (h != NULL && check_cipher(r, h, err) != 0)
	{
		obj_decode_forget(d);	/* never read what was refused */
		return NULL;
	}
	return h;
}

int
repo_object_params(repo *r, uint64_t plain_len, obj_params *p, pgark_err *err)
{
	memset(p, 0, sizeof(*p));
	p->compression = OBJ_COMP_LZ4;
	p->cipher = r->meta.cipher;
	p->frame_size = OBJ_DEFAULT_FRAME_SIZE;
	p->plain_len = plain_len;
	if (r->meta.cipher == OBJ_CIPHER_AES256GCM)
	{
		if (r->dek == NULL && (r->dek = keyring_get_dek(r->kr, r->meta.data_key, err)) == NULL)
			return -1;
		p->dek = r->dek;
	}
	return 0;
}

/* obj_writer's sink: into the store */
static int
sink_put(void *arg, const void *buf, size_t len, pgark_err *err)
{
	return store_put_write(arg, buf, len, err);
}

int
repo_put_object(repo *r, const char *name, const void *buf, size_t len, int flags, pgark_err *err)
{
	obj_params	p;
	store_writer *sw = NULL;
	obj_writer *ow = NULL;
	int			rc = -1;

	if (repo_object_params(r, len, &p, err) != 0 || (sw = store_put_begin(r->st, name, err)) == NULL)
		return -1;
	if ((ow = obj_writer_new(&p, sink_put, sw, err)) == NULL ||
		obj_writer_write(ow, buf, len, err) != 0 || obj_writer_finish(ow, NULL, err) != 0)
		goto done;
	rc = store_put_commit(sw, flags, err);
	sw = NULL;
done:
	obj_writer_free(ow);
	store_put_abort(sw);
	return rc;
}

int
repo_get_object(repo *r, const char *object, size_t max, char **out, size_t *len, pgark_err *err)
{
	store_reader *sr = NULL;
	obj_reader *or = NULL;
	char	   *buf = NULL;
	size_t		have = 0;
	int			rc = -1;

	*out = NULL;
	*len = 0;
	if ((sr = store_get(r->st, object, 0, 0, err)) == NULL)
		goto done;				/* NOTFOUND passes through */
	if ((or = repo_object_reader(r, store_read_source, sr, err)) == NULL)
		goto bad_object;
	if (obj_reader_header(or)->plain_len > max)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "header says %llu bytes, more than the %zu expected",
				(unsigned long long) obj_reader_header(or)->plain_len, max);
		goto bad_object;
	}
	if ((buf = malloc(max + 1)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (;;)
	{
		size_t		got;

		/* one byte more than max may hold, so that an object longer than
		 * its header said is refused rather than cut */
		if (have > max)
		{
			err_set(err, PGARK_ERR_CORRUPT, 0, "more than %zu bytes", max);
			goto bad_object;
		}
		if (obj_reader_read(or, buf + have, max + 1 - have, &got, err) != 0)
			goto bad_object;
		if (got == 0)
			break;
		have += got;
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
	rc = 0;
	goto done;
bad_object:
	if (err->kind == PGARK_ERR_CORRUPT || err->kind == PGARK_ERR_MISMATCH)
		err_prefix(err, "object %s in %s is damaged", object, r->st->where);
	else
		err_prefix(err, "object %s", object);
done:
	free(buf);
	obj_reader_free(or);
	store_reader_close(sr);
	return rc;
}

int
repo_new_data_key(repo *r, pgark_err *err)
{
	repo_meta	m = r->meta;
	const obj_dek *dek;
	char		text[2048];
	int			n;

	if (m.cipher != OBJ_CIPHER_AES256GCM)
		return err_set(err, PGARK_ERR_USAGE, 0, "%s is not encrypted: it has no data keys", r->st->where);
	{
		int			count = 0;

		if (keyring_check_current(r->kr, m.data_key, &count, err) != 0)
			return -1;
		if (count >= DATA_KEYS_MAX)
			return err_set(err, PGARK_ERR_USAGE, 0, "%s already holds %d data keys, the most pgark keeps "
						   "(a restore may need every one)", r->st->where, count);
	}
	if ((dek = keyring_new_dek(r->kr, err)) == NULL)
		return err_prefix(err, "making a new data key");
	memcpy(m.data_key, dek->id, OBJ_DEK_ID_LEN);
	n = repo_meta_format(&m, text, sizeof(text));
	if (n < 0 || (size_t) n >= sizeof(text))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "repository metadata too long");
	/* one object replaced as a whole: before, the old key; after, the new */
	if (store_put_buf(r->st, REPO_META_NAME, text, (size_t) n, 0, err) != 0)
		return err_prefix(err, "rewriting %s", REPO_META_NAME);
	r->meta = m;
	r->dek = dek;
	return 0;
}
