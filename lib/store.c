#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Every writer/reader begins with a pointer to its store. */
struct store_writer
{
	store	   *st;
};
struct store_reader
{
	store	   *st;
};

int
store_name_valid(const char *name)
{
	const char *p = name;

	if (name == NULL || *name == '\0' || strlen(name) > 512)
		return 0;
	while (*p)
	{
		/* start of a component */
		if (*p == '/' || *p == '.')
			return 0;
		while (*p && *p != '/')
		{
			char		c = *p;

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				  c == '.' || c == '_' || c == '-'))
				return 0;
			p++;
		}
		if (*p == '/')
		{
			p++;
			if (*p == '\0')
				return 0;
		}
	}
	return 1;
}

static int
bad_name(const char *name, pgark_err *err)
{
	return err_set(err, PGARK_ERR_INTERNAL, 0, "invalid object name \"%s\"", name ? name : "(null)");
}

store *
store_open(const pgark_config *cfg, pgark_err *err)
{
	if (strcmp(cfg->repo_type, "local") == 0)
		return store_local_open(cfg->repo_path, err);
	if (strcmp(cfg->repo_type, "s3") == 0)
		return store_s3_open(cfg, err);
	err_set(err, PGARK_ERR_CONFIG, 0, "[repo] type: \"%s\" is not supported", cfg->repo_type);
	return NULL;
}

void
store_free(store *st)
{
	if (st)
		st->ops->free(st);
}

store_writer *
store_put_begin(store *st, const char *name, pgark_err *err)
{
	if (!store_name_valid(name))
	{
		bad_name(name, err);
		return NULL;
	}
	return st->ops->put_begin(st, name, err);
}

int
store_put_write(store_writer *w, const void *buf, size_t len, pgark_err *err)
{
	return w->st->ops->put_write(w, buf, len, err);
}

int
store_put_commit(store_writer *w, int flags, pgark_err *err)
{
	return w->st->ops->put_commit(w, flags, err);
}

int
store_put_commit_async(store_writer *w, int flags, pgark_err *err)
{
	if (w->st->ops->put_commit_async)
		return w->st->ops->put_commit_async(w, flags, err);
	return w->st->ops->put_commit(w, flags, err);
}

int
store_drain(store *st, pgark_err *err)
{
	return st->ops->drain ? st->ops->drain(st, err) : 0;
}

void
store_put_abort(store_writer *w)
{
	if (w)
		w->st->ops->put_abort(w);
}

store_reader *
store_get(store *st, const char *name, uint64_t offset, uint64_t len, pgark_err *err)
{
	if (!store_name_valid(name))
	{
		bad_name(name, err);
		return NULL;
	}
	return st->ops->get(st, name, offset, len, err);
}

int
store_read(store_reader *r, void *buf, size_t len, size_t *got, pgark_err *err)
{
	return r->st->ops->read(r, buf, len, got, err);
}

int
store_read_source(void *reader, void *buf, size_t len, size_t *got, pgark_err *err)
{
	return store_read((store_reader *) reader, buf, len, got, err);
}

void
store_reader_close(store_reader *r)
{
	if (r)
		r->st->ops->reader_close(r);
}

int
store_head(store *st, const char *name, store_stat *out, pgark_err *err)
{
	if (!store_name_valid(name))
		return bad_name(name, err);
	return st->ops->head(st, name, out, err);
}

int
store_list(store *st, const char *prefix, store_list_fn fn, void *arg, pgark_err *err)
{
	return st->ops->list(st, prefix, fn, arg, err);
}

int
store_remove(store *st, const char *name, pgark_err *err)
{
	if (!store_name_valid(name))
		return bad_name(name, err);
	return st->ops->remove(st, name, err);
}

int
store_remove_many(store *st, const char *const *names, size_t n, pgark_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (!store_name_valid(names[i]))
			return bad_name(names[i], err);
	if (st->ops->remove_many)
		return st->ops->remove_many(st, names, n, err);
	for (size_t i = 0; i < n; i++)
		if (st->ops->remove(st, names[i], err) != 0)
			return -1;
	return 0;
}

int
store_sync(store *st, const char *name, pgark_err *err)
{
	if (!store_name_valid(name))
		return bad_name(name, err);
	return st->ops->sync ? st->ops->sync(st, name, err) : 0;
}

int
store_put_buf(store *st, const char *name, const void *buf, size_t len, int flags, pgark_err *err)
{
	store_writer *w = store_put_begin(st, name, err);

	if (w == NULL)
		return -1;
	if (store_put_write(w, buf, len, err) != 0)
	{
		store_put_abort(w);
		return -1;
	}
	return store_put_commit(w, flags, err);
}

int
store_get_buf(store *st, const char *name, size_t maxlen, uint8_t **out, size_t *outlen, pgark_err *err)
{
	store_reader *r = store_get(st, name, 0, 0, err);
	uint8_t    *buf;
	size_t		used = 0;

	*out = NULL;
	*outlen = 0;
	if (r == NULL)
		return -1;
	buf = malloc(maxlen + 1);
	if (buf == NULL)
	{
		store_reader_close(r);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	}
	for (;;)
	{
		size_t		got;

		if (store_read(r, buf + used, maxlen + 1 - used, &got, err) != 0)
			goto fail;
		if (got == 0)
			break;
		used += got;
		if (used > maxlen)
		{
			err_set(err, PGARK_ERR_CORRUPT, 0, "object %s in %s is larger than %zu bytes",
					name, st->where, maxlen);
			goto fail;
		}
	}
	store_reader_close(r);
	*out = buf;
	*outlen = used;
	return 0;
fail:
	store_reader_close(r);
	free(buf);
	return -1;
}
