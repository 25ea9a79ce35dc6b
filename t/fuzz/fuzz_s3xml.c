/*
 * fuzz_s3xml.c — libFuzzer driver for the S3 response parsers (lib/s3xml.h).
 *
 * Every input goes to every parser, in a buffer of exactly its size (as an
 * HTTP body would be: not NUL-terminated), and the results are checked
 * against the contracts of s3xml.h; a broken contract abort()s, which the
 * fuzzer reports as a crash just like a sanitizer finding. See README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_s3xml: contract broken at line %d: %s\n", __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

typedef struct fuzz_list
{
	int			n;
	int			stop_at;		/* > 0: return 42 at this entry */
} fuzz_list;

static int
list_fn(void *arg, const s3_list_entry *e, pgark_err *err)
{
	fuzz_list  *f = arg;
	size_t		klen;

	CHECK(e->key != NULL);
	klen = strlen(e->key);
	CHECK(klen >= 1 && klen <= S3XML_KEY_MAX);
	f->n++;
	if (f->stop_at > 0 && f->n == f->stop_at)
	{
		err_set(err, PGARK_ERR_NOSPACE, 0, "fuzz callback stops");
		return 42;
	}
	return 0;
}

/* strlen within cap bytes (cap if there is no NUL) */
static size_t
blen(const char *s, size_t cap)
{
	size_t		n = 0;

	while (n < cap && s[n] != '\0')
		n++;
	return n;
}

/* A failure's err: a kind the parsers use, a non-empty one-line message. */
static void
check_failure(const pgark_err *err)
{
	size_t		n = blen(err->msg, sizeof(err->msg));

	CHECK(n > 0 && n < sizeof(err->msg));
	CHECK(err->kind == PGARK_ERR_IO || err->kind == PGARK_ERR_TRANSIENT ||
		  err->kind == PGARK_ERR_INTERNAL);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char) err->msg[i] >= 0x20 && (unsigned char) err->msg[i] < 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	pgark_err	err;
	int			rc;

	/* <Error> */
	{
		s3_error	e;

		err_clear(&err);
		rc = s3xml_parse_error(body, size, &e, &err);
		CHECK(rc == -1 || rc == 0 || rc == 1);
		if (rc == -1)
			check_failure(&err);
		else
		{
			CHECK(blen(e.code, sizeof(e.code)) < sizeof(e.code));
			CHECK(blen(e.message, sizeof(e.message)) < sizeof(e.message));
			CHECK(blen(e.request_id, sizeof(e.request_id)) < sizeof(e.request_id));
			if (rc == 0)
				CHECK(e.code[0] == '\0' && e.message[0] == '\0');
		}
	}

	/* ListObjectsV2: the callback stops at entry (size % 5), none when 0; small token buffers too */
	{
		fuzz_list	f = {0, (int) (size % 5)};
		int			truncated = -1;
		char		token[1025];
		size_t		tokcap = (size % 3 == 0) ? 16 : sizeof(token);

		err_clear(&err);
		rc = s3xml_parse_list(body, size, list_fn, &f, &truncated, token, tokcap, &err);
		CHECK(rc == 0 || rc == -1 || rc == 42);
		if (rc == 42)
			CHECK(f.stop_at > 0 && f.n == f.stop_at && err.kind == PGARK_ERR_NOSPACE);
		else
			CHECK(f.stop_at == 0 || f.n < f.stop_at);
		if (rc == -1)
			check_failure(&err);
		if (rc == 0)
		{
			CHECK(truncated == 0 || truncated == 1);
			CHECK(blen(token, tokcap) < tokcap);
			if (truncated)
				CHECK(token[0] != '\0');
		}
		else if (rc == -1)
			CHECK(truncated == 0 && token[0] == '\0');
	}

	/* CreateMultipartUpload */
	{
		char		id[256];

		err_clear(&err);
		rc = s3xml_parse_initiate(body, size, id, sizeof(id), &err);
		CHECK(rc == 0 || rc == -1);
		if (rc == 0)
			CHECK(id[0] != '\0' && blen(id, sizeof(id)) < sizeof(id));
		else
		{
			CHECK(id[0] == '\0');
			check_failure(&err);
		}
	}

	/* CompleteMultipartUpload */
	err_clear(&err);
	rc = s3xml_parse_complete(body, size, &err);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1)
		check_failure(&err);

	/* DeleteObjects */
	err_clear(&err);
	rc = s3xml_parse_delete(body, size, &err);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1)
		check_failure(&err);

	/* the code table, on a NUL-terminated copy of a short input */
	if (size < 64)
	{
		char		code[64];

		memcpy(code, data, size);
		code[size] = '\0';
		rc = s3xml_code_retryable(code);
		CHECK(rc == 0 || rc == 1);
	}
	return 0;
}
