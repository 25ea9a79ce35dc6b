/*
 * s3xml.c — the S3 response documents pgark reads (s3xml.h), parsed with expat.
 *
 * One engine (xml_run) does what every document needs, and each document
 * adds two hooks that see elements open and close:
 *
 *	- the whole body goes to XML_Parse at once (the caller bounds it), after
 *	  the blanks S3 may send ahead of it (CompleteMultipartUpload keeps the
 *	  connection alive with white space while it works);
 *	- no namespace processing: names are matched on their local part, so
 *	  <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"> and
 *	  <s3:ListBucketResult> are the same element;
 *	- a DOCTYPE (and so any entity declaration) stops the parse: S3 never sends
 *	  one, and refusing it rules out entity expansion ("billion laughs") and
 *	  external entities; expat has no external entity handler to call either;
 *	- at most S3XML_MAX_DEPTH elements deep;
 *	- the element path is kept (names[0] is the root), and the character data
 *	  of the one leaf being collected goes into a fixed buffer: longer text is
 *	  an error, except for the texts of <Error> entries, which are only shown
 *	  and are cut with "..." instead;
 *	- an <Error> root is recognised for every document, its Code, Message and
 *	  RequestId kept, and turned into the caller's error by error_doc().
 *
 * Unknown elements are ignored wherever they are (S3 adds fields); a known leaf
 * holding an element is an error.  Messages quote text from the response only
 * after clean(): short, printable ASCII.
 */
#include "s3xml.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#define NAME_LEN		64		/* element names kept in the path; longer: "?" */
#define TOKEN_MAX		4096	/* <NextContinuationToken> before the caller's cap */

typedef struct xml_ctx xml_ctx;

struct xml_ctx
{
	/* set by the document's parser before xml_run() */
	const char *op;				/* "ListObjectsV2", or NULL for s3xml_parse_error */
	const char *root;			/* the root element expected; NULL: any */
	void		(*on_start) (xml_ctx *x, const char *name);	/* names[depth - 1] opened */
	void		(*on_end) (xml_ctx *x, const char *name);	/* names[depth - 1] closes */
	void	   *doc;			/* the document's own state */
	pgark_err  *err;

	XML_Parser	parser;			/* while XML_Parse runs */
	int			depth;			/* elements open */
	char		names[S3XML_MAX_DEPTH][NAME_LEN];
	int			empty;			/* the body is empty or only blanks */
	int			is_error;		/* the root is <Error> */
	int			other_root;		/* the root is neither <Error> nor root (root NULL) */
	int			failed;			/* err is set and the parser stopped */
	int			cb_rc;			/* non-zero: a callback returned it, parser stopped */

	/* the character data of the leaf element being collected */
	char	   *text;			/* NULL: none */
	size_t		textcap;
	size_t		textlen;
	int			text_depth;
	int			text_cut_ok;	/* too long: cut it with "...", else an error */
	int			text_cut;

	s3_error	s3err;			/* an <Error> document's fields */
};

/*
 * Copy s[0..len) into out for a message: bytes other than printable ASCII
 * become '?', and at most cap - 4 of them are kept, then "...".
 */
static const char *
clean(char *out, size_t cap, const char *s, size_t len)
{
	size_t		n = 0;

	if (cap < 4)
	{
		if (cap > 0)
			out[0] = '\0';
		return out;
	}
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (n == cap - 4)
		{
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
	}
	out[n] = '\0';
	return out;
}

static const char *
clean_str(char *out, size_t cap, const char *s)
{
	return clean(out, cap, s, strlen(s));
}

/* "S3 ListObjectsV2 response" / "S3 response" */
static const char *
what(const xml_ctx *x, char *buf, size_t cap)
{
	if (x->op == NULL)
		snprintf(buf, cap, "S3 response");
	else
		snprintf(buf, cap, "S3 %s response", x->op);
	return buf;
}

/* Set err ("S3 <op> response: <fmt>"), mark the parse failed and stop it. */
static void xml_fail(xml_ctx *x, pgark_errkind kind, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
xml_fail(xml_ctx *x, pgark_errkind kind, const char *fmt,...)
{
	char		msg[800];
	char		w[64];
	va_list		ap;

	if (x->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(x->err, kind, 0, "%s: %s", what(x, w, sizeof(w)), msg);
	x->failed = 1;
	if (x->parser != NULL)
		XML_StopParser(x->parser, XML_FALSE);
}

/* Collect the character data of the element just opened into buf. */
static void
collect(xml_ctx *x, char *buf, size_t cap, int cut_ok)
{
	x->text = buf;
	x->textcap = cap;
	x->textlen = 0;
	x->text_depth = x->depth;
	x->text_cut_ok = cut_ok;
	x->text_cut = 0;
	buf[0] = '\0';
}

/* Is the element at the current depth a child of an element named parent? */
static int
child_of(const xml_ctx *x, int depth, const char *parent)
{
	return x->depth == depth && depth >= 2 && strcmp(x->names[depth - 2], parent) == 0;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	xml_ctx    *x = ud;
	const char *colon = strrchr(name, ':');
	const char *local = colon ? colon + 1 : name;
	char		a[80],
				b[80];

	(void) atts;
	if (x->failed || x->cb_rc != 0)
		return;
	if (x->text != NULL)
	{
		xml_fail(x, PGARK_ERR_IO, "<%s> holds an element <%s>",
				 x->names[x->text_depth - 1], clean_str(a, sizeof(a), local));
		return;
	}
	if (x->depth >= S3XML_MAX_DEPTH)
	{
		xml_fail(x, PGARK_ERR_IO, "elements nested more than %d deep", S3XML_MAX_DEPTH);
		return;
	}
	if (strlen(local) < NAME_LEN)
		memcpy(x->names[x->depth], local, strlen(local) + 1);
	else
		memcpy(x->names[x->depth], "?", 2);	/* no element pgark knows */
	x->depth++;

	if (x->depth == 1)
	{
		if (strcmp(local, "Error") == 0)
			x->is_error = 1;
		else if (x->root == NULL)
			x->other_root = 1;
		else if (strcmp(local, x->root) != 0)
			xml_fail(x, PGARK_ERR_IO, "root element is <%s>, expected <%s>",
					 clean_str(a, sizeof(a), name), clean_str(b, sizeof(b), x->root));
		return;
	}
	if (x->is_error)
	{
		/* <Error><Code/><Message/><RequestId/>...: the first of each */
		s3_error   *e = &x->s3err;

		if (x->depth != 2)
			return;
		if (strcmp(local, "Code") == 0 && e->code[0] == '\0')
			collect(x, e->code, sizeof(e->code), 1);
		else if (strcmp(local, "Message") == 0 && e->message[0] == '\0')
			collect(x, e->message, sizeof(e->message), 1);
		else if (strcmp(local, "RequestId") == 0 && e->request_id[0] == '\0')
			collect(x, e->request_id, sizeof(e->request_id), 1);
		return;
	}
	if (!x->other_root && x->on_start != NULL)
		x->on_start(x, local);
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	xml_ctx    *x = ud;

	(void) name;
	if (x->failed || x->cb_rc != 0 || x->depth == 0)
		return;
	if (x->text != NULL && x->text_depth == x->depth)
	{
		if (x->text_cut)
			memcpy(x->text + x->textcap - 4, "...", 4);
		x->text = NULL;
	}
	if (x->depth >= 2 && !x->is_error && !x->other_root && x->on_end != NULL)
		x->on_end(x, x->names[x->depth - 1]);
	x->depth--;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	xml_ctx    *x = ud;
	size_t		room;

	if (x->failed || x->cb_rc != 0 || x->text == NULL || len <= 0)
		return;
	room = x->textcap - 1 - x->textlen;
	if ((size_t) len > room)
	{
		if (!x->text_cut_ok)
		{
			xml_fail(x, PGARK_ERR_IO, "<%s> is longer than %zu bytes",
					 x->names[x->text_depth - 1], x->textcap - 1);
			return;
		}
		/* keep what fits; on_end puts "..." over the last 3 bytes */
		if (x->textcap >= 4)
			x->text_cut = 1;
		len = (int) room;
	}
	memcpy(x->text + x->textlen, s, (size_t) len);
	x->textlen += (size_t) len;
	x->text[x->textlen] = '\0';
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		   int has_internal_subset)
{
	xml_ctx    *x = ud;

	(void) name;
	(void) sysid;
	(void) pubid;
	(void) has_internal_subset;
	xml_fail(x, PGARK_ERR_IO, "DOCTYPE declaration refused (S3 sends none, and its entities could expand without bound)");
}

/* Not reached while on_doctype stops the parse; kept as a second lock. */
static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
		  const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
		  const XML_Char *notation)
{
	xml_ctx    *x = ud;

	(void) name;
	(void) is_param;
	(void) value;
	(void) value_len;
	(void) base;
	(void) sysid;
	(void) pubid;
	(void) notation;
	xml_fail(x, PGARK_ERR_IO, "entity declaration refused");
}

/*
 * Parse body. Returns 0 if the document was read to its end (x->empty if there
 * was nothing but blanks), -1 if it failed (err set) or a callback stopped it
 * (x->cb_rc).
 */
static int
xml_run(xml_ctx *x, const char *body, size_t len)
{
	XML_Parser	p;
	enum XML_Status st;

	if (body == NULL)
		len = 0;
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
	{
		body++;
		len--;
	}
	if (len == 0)
	{
		x->empty = 1;
		return 0;
	}
	if (len > INT_MAX)
	{
		xml_fail(x, PGARK_ERR_IO, "body of %zu bytes is too large", len);
		return -1;
	}
	p = XML_ParserCreate(NULL);
	if (p == NULL)
	{
		err_set(x->err, PGARK_ERR_INTERNAL, 0, "out of memory (creating an XML parser)");
		x->failed = 1;
		return -1;
	}
	XML_SetUserData(p, x);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	x->parser = p;
	st = XML_Parse(p, body, (int) len, XML_TRUE);
	x->parser = NULL;
	if (st != XML_STATUS_OK && !x->failed && x->cb_rc == 0)
	{
		char		w[64];
		char		start[56];

		err_set(x->err, PGARK_ERR_IO, 0,
				"%s is not well-formed XML at line %llu, column %llu: %s (body begins \"%s\")",
				what(x, w, sizeof(w)),
				(unsigned long long) XML_GetCurrentLineNumber(p),
				(unsigned long long) XML_GetCurrentColumnNumber(p) + 1,
				XML_ErrorString(XML_GetErrorCode(p)),
				clean(start, sizeof(start), body, len));
		x->failed = 1;
	}
	XML_ParserFree(p);
	return (x->failed || x->cb_rc != 0) ? -1 : 0;
}

/* The caller's error for an <Error> document (kind by s3xml_code_retryable). */
static int
error_doc(const xml_ctx *x)
{
	const s3_error *e = &x->s3err;
	char		code[72],
				msg[240],
				rid[72];

	if (e->code[0] == '\0')
		return err_set(x->err, PGARK_ERR_IO, 0, "S3 %s failed: <Error> without a <Code>: \"%s\"",
					   x->op, clean_str(msg, sizeof(msg), e->message));
	return err_set(x->err, s3xml_code_retryable(e->code) ? PGARK_ERR_TRANSIENT : PGARK_ERR_IO, 0,
				   "S3 %s failed: %s: %s%s%s%s",
				   x->op, clean_str(code, sizeof(code), e->code),
				   e->message[0] ? clean_str(msg, sizeof(msg), e->message) : "(no message)",
				   e->request_id[0] ? " (request id " : "",
				   clean_str(rid, sizeof(rid), e->request_id),
				   e->request_id[0] ? ")" : "");
}

/*
 * Retried after a pause (kind PGARK_ERR_TRANSIENT):
 *	InternalError, ServiceUnavailable	500/503: S3's own advice is to retry
 *	SlowDown							503: request rate too high; back off
 *	SlowDownRead, SlowDownWrite			MinIO's 503 while a read/write quorum is missing
 *	RequestTimeout						400: the connection sat idle; a new request works
 *	OperationAborted					409: a conflicting operation is in progress
 *	ConditionalRequestConflict			409: a concurrent conditional write; AWS says retry
 *										(the retry then gets 412 if the object now exists)
 *	Throttling, ThrottlingException,	AWS-wide throttling codes (the AWS SDKs retry them)
 *	RequestThrottled
 * Not retried: RequestTimeTooSkewed (the clock has to be fixed: waiting does
 * not help), credentials and permissions (AccessDenied, InvalidAccessKeyId,
 * SignatureDoesNotMatch, ExpiredToken), and everything about the request itself
 * (NoSuchKey, NoSuchUpload, InvalidPart, EntityTooSmall, ...).
 */
int
s3xml_code_retryable(const char *code)
{
	static const char *const codes[] = {
		"InternalError", "ServiceUnavailable", "SlowDown", "SlowDownRead", "SlowDownWrite",
		"RequestTimeout", "OperationAborted", "ConditionalRequestConflict",
		"Throttling", "ThrottlingException", "RequestThrottled",
	};

	if (code == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ values */

/* A decimal uint64: digits only, no sign or blanks, no overflow. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t	v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++)
	{
		unsigned	d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned) (*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* n decimal digits at s (all of them digits), or -1 */
static int
digits(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int y, int m, int d)
{
	int			mp = (m + 9) % 12;	/* March = 0 */
	int64_t		yy = y - (m <= 2);
	int64_t		era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t		yoe = yy - era * 400;
	int64_t		doy = (153 * mp + 2) / 5 + d - 1;
	int64_t		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/*
 * ISO 8601 as S3 writes it: YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm),
 * e.g. 2026-11-27T05:06:24.000Z, to seconds since the epoch (the fraction is
 * dropped; ss may be 60, a leap second, counted as the next minute's 0 as
 * timegm does).
 */
static int
parse_time(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				off = 0;
	const char *p;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
		sec < 0 || sec > 60)
		return -1;
	if (d > mdays[mo - 1] + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	p = s + 19;
	if (*p == '.')
	{
		int			n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n < 1 || n > 9)
			return -1;
	}
	if (p[0] == 'Z' && p[1] == '\0')
		off = 0;
	else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':')
	{
		int			oh = digits(p + 1, 2),
					om = digits(p + 4, 2);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (p[0] == '-' ? -1 : 1);
	}
	else
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	return 0;
}

/* ------------------------------------------------------------------ <Error> */

int
s3xml_parse_error(const char *body, size_t len, s3_error *out, pgark_err *err)
{
	xml_ctx		x;

	memset(&x, 0, sizeof(x));
	x.err = err;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (xml_run(&x, body, len) < 0)
		return -1;
	if (x.empty || !x.is_error)
		return 0;
	if (out != NULL)
		*out = x.s3err;
	return 1;
}

/* ------------------------------------------------------------------ ListObjectsV2 */

#define HAVE_KEY	1
#define HAVE_SIZE	2
#define HAVE_MTIME	4

typedef struct list_doc
{
	s3xml_list_fn fn;
	void	   *arg;
	long		entries;		/* <Contents> opened so far */
	unsigned	have;			/* HAVE_* of the current entry */
	char		key[S3XML_KEY_MAX + 1];
	uint64_t	size;
	int64_t		mtime;
	char		val[64];		/* <Size>, <LastModified>, <IsTruncated>, <EncodingType> */
	int			truncated;		/* -1 until <IsTruncated> */
	int			have_token;
	char		token[TOKEN_MAX + 1];
} list_doc;

/* "<Contents> "key"" or "<Contents> entry 3" for messages */
static const char *
entry_name(const list_doc *d, char *buf, size_t cap)
{
	char		k[120];

	if (d->have & HAVE_KEY)
		snprintf(buf, cap, "<Contents> \"%s\"", clean_str(k, sizeof(k), d->key));
	else
		snprintf(buf, cap, "<Contents> entry %ld", d->entries);
	return buf;
}

static void
list_start(xml_ctx *x, const char *name)
{
	list_doc   *d = x->doc;
	char		en[160];

	if (x->depth == 2)
	{
		if (strcmp(name, "Contents") == 0)
		{
			d->entries++;
			d->have = 0;
		}
		else if (strcmp(name, "IsTruncated") == 0)
		{
			if (d->truncated >= 0)
				xml_fail(x, PGARK_ERR_IO, "more than one <IsTruncated>");
			else
				collect(x, d->val, sizeof(d->val), 0);
		}
		else if (strcmp(name, "NextContinuationToken") == 0)
		{
			if (d->have_token)
				xml_fail(x, PGARK_ERR_IO, "more than one <NextContinuationToken>");
			else
				collect(x, d->token, sizeof(d->token), 0);
		}
		else if (strcmp(name, "EncodingType") == 0)
			collect(x, d->val, sizeof(d->val), 0);
	}
	else if (child_of(x, 3, "Contents"))
	{
		unsigned	bit = strcmp(name, "Key") == 0 ? HAVE_KEY :
			strcmp(name, "Size") == 0 ? HAVE_SIZE :
			strcmp(name, "LastModified") == 0 ? HAVE_MTIME : 0;

		if (bit == 0)
			return;
		if (d->have & bit)
			xml_fail(x, PGARK_ERR_IO, "%s has more than one <%s>", entry_name(d, en, sizeof(en)), name);
		else if (bit == HAVE_KEY)
			collect(x, d->key, sizeof(d->key), 0);
		else
			collect(x, d->val, sizeof(d->val), 0);
	}
}

static void
list_end(xml_ctx *x, const char *name)
{
	list_doc   *d = x->doc;
	char		en[160],
				v[80];

	if (child_of(x, 3, "Contents"))
	{
		if (strcmp(name, "Key") == 0)
		{
			if (d->key[0] == '\0')
				xml_fail(x, PGARK_ERR_IO, "%s has an empty <Key>", entry_name(d, en, sizeof(en)));
			d->have |= HAVE_KEY;
		}
		else if (strcmp(name, "Size") == 0)
		{
			if (parse_u64(d->val, &d->size) != 0)
				xml_fail(x, PGARK_ERR_IO, "%s: <Size> \"%s\" is not a decimal number of bytes",
						 entry_name(d, en, sizeof(en)), clean_str(v, sizeof(v), d->val));
			d->have |= HAVE_SIZE;
		}
		else if (strcmp(name, "LastModified") == 0)
		{
			if (parse_time(d->val, &d->mtime) != 0)
				xml_fail(x, PGARK_ERR_IO, "%s: <LastModified> \"%s\" is not an ISO 8601 time like 2026-11-27T05:06:24.000Z",
						 entry_name(d, en, sizeof(en)), clean_str(v, sizeof(v), d->val));
			d->have |= HAVE_MTIME;
		}
		return;
	}
	if (x->depth != 2)
		return;
	if (strcmp(name, "Contents") == 0)
	{
		s3_list_entry e;
		int			rc;

		if (!(d->have & HAVE_KEY))
		{
			xml_fail(x, PGARK_ERR_IO, "%s has no <Key>", entry_name(d, en, sizeof(en)));
			return;
		}
		if (!(d->have & HAVE_SIZE) || !(d->have & HAVE_MTIME))
		{
			xml_fail(x, PGARK_ERR_IO, "%s has no <%s>", entry_name(d, en, sizeof(en)),
					 (d->have & HAVE_SIZE) ? "LastModified" : "Size");
			return;
		}
		if (d->fn == NULL)
			return;
		e.key = d->key;
		e.size = d->size;
		e.mtime = d->mtime;
		rc = d->fn(d->arg, &e, x->err);
		if (rc != 0)
		{
			x->cb_rc = rc;
			XML_StopParser(x->parser, XML_FALSE);
		}
	}
	else if (strcmp(name, "IsTruncated") == 0)
	{
		if (strcmp(d->val, "true") == 0)
			d->truncated = 1;
		else if (strcmp(d->val, "false") == 0)
			d->truncated = 0;
		else
			xml_fail(x, PGARK_ERR_IO, "<IsTruncated> is \"%s\", not true or false",
					 clean_str(v, sizeof(v), d->val));
	}
	else if (strcmp(name, "NextContinuationToken") == 0)
		d->have_token = 1;
	else if (strcmp(name, "EncodingType") == 0 && d->val[0] != '\0')
		xml_fail(x, PGARK_ERR_IO, "<EncodingType> is \"%s\": keys would be encoded, and pgark never asks for that",
				 clean_str(v, sizeof(v), d->val));
}

int
s3xml_parse_list(const char *body, size_t len, s3xml_list_fn fn, void *arg,
				 int *truncated, char *next_token, size_t tokcap, pgark_err *err)
{
	xml_ctx		x;
	list_doc	d;

	memset(&x, 0, sizeof(x));
	memset(&d, 0, sizeof(d));
	d.fn = fn;
	d.arg = arg;
	d.truncated = -1;
	x.op = "ListObjectsV2";
	x.root = "ListBucketResult";
	x.on_start = list_start;
	x.on_end = list_end;
	x.doc = &d;
	x.err = err;
	if (truncated != NULL)
		*truncated = 0;
	if (next_token != NULL && tokcap > 0)
		next_token[0] = '\0';

	if (xml_run(&x, body, len) < 0)
		return x.cb_rc != 0 ? x.cb_rc : -1;
	if (x.empty)
		return err_set(err, PGARK_ERR_IO, 0, "S3 ListObjectsV2 response is empty");
	if (x.is_error)
		return error_doc(&x);
	if (d.truncated < 0)
		return err_set(err, PGARK_ERR_IO, 0, "S3 ListObjectsV2 response: no <IsTruncated>");
	if (d.truncated && d.token[0] == '\0')
		return err_set(err, PGARK_ERR_IO, 0,
					   "S3 ListObjectsV2 response: <IsTruncated>true without <NextContinuationToken>");
	if (d.token[0] != '\0')
	{
		size_t		n = strlen(d.token);

		if (next_token == NULL || n >= tokcap)
			return err_set(err, PGARK_ERR_IO, 0,
						   "S3 ListObjectsV2 response: <NextContinuationToken> is longer than %zu bytes",
						   tokcap > 0 ? tokcap - 1 : 0);
		memcpy(next_token, d.token, n + 1);
	}
	if (truncated != NULL)
		*truncated = d.truncated;
	return 0;
}

/* ------------------------------------------------------------------ CreateMultipartUpload */

typedef struct init_doc
{
	char	   *id;
	size_t		cap;
	int			have;
} init_doc;

static void
init_start(xml_ctx *x, const char *name)
{
	init_doc   *d = x->doc;

	if (x->depth != 2 || strcmp(name, "UploadId") != 0)
		return;
	if (d->have)
		xml_fail(x, PGARK_ERR_IO, "more than one <UploadId>");
	else
		collect(x, d->id, d->cap, 0);
}

static void
init_end(xml_ctx *x, const char *name)
{
	init_doc   *d = x->doc;

	if (x->depth == 2 && strcmp(name, "UploadId") == 0)
		d->have = 1;
}

int
s3xml_parse_initiate(const char *body, size_t len, char *upload_id, size_t cap,
					 pgark_err *err)
{
	xml_ctx		x;
	init_doc	d;
	int			rc;

	if (upload_id == NULL || cap < 2)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "s3xml_parse_initiate: no room for an upload id");
	memset(&x, 0, sizeof(x));
	memset(&d, 0, sizeof(d));
	d.id = upload_id;
	d.cap = cap;
	x.op = "CreateMultipartUpload";
	x.root = "InitiateMultipartUploadResult";
	x.on_start = init_start;
	x.on_end = init_end;
	x.doc = &d;
	x.err = err;
	upload_id[0] = '\0';

	if (xml_run(&x, body, len) < 0)
		rc = -1;
	else if (x.empty)
		rc = err_set(err, PGARK_ERR_IO, 0, "S3 CreateMultipartUpload response is empty");
	else if (x.is_error)
		rc = error_doc(&x);
	else if (!d.have)
		rc = err_set(err, PGARK_ERR_IO, 0, "S3 CreateMultipartUpload response: no <UploadId>");
	else if (upload_id[0] == '\0')
		rc = err_set(err, PGARK_ERR_IO, 0, "S3 CreateMultipartUpload response: empty <UploadId>");
	else
		rc = 0;
	if (rc != 0)
		upload_id[0] = '\0';
	return rc;
}

/* ------------------------------------------------------------------ CompleteMultipartUpload */

int
s3xml_parse_complete(const char *body, size_t len, pgark_err *err)
{
	xml_ctx		x;

	memset(&x, 0, sizeof(x));
	x.op = "CompleteMultipartUpload";
	x.root = "CompleteMultipartUploadResult";
	x.err = err;
	if (xml_run(&x, body, len) < 0)
		return -1;
	if (x.empty)
		return err_set(err, PGARK_ERR_IO, 0, "S3 CompleteMultipartUpload response is empty");
	if (x.is_error)
		return error_doc(&x);
	return 0;
}

/* ------------------------------------------------------------------ DeleteObjects */

typedef struct delete_doc
{
	long		nfailed;		/* <Error> entries */
	int			all_retryable;	/* every failure's code is retryable */
	char		key[S3XML_KEY_MAX + 1]; /* of the entry being read */
	s3_error	cur;
	char		first_key[S3XML_KEY_MAX + 1];
	s3_error	first;
} delete_doc;

static void
delete_start(xml_ctx *x, const char *name)
{
	delete_doc *d = x->doc;

	if (x->depth == 2 && strcmp(name, "Error") == 0)
	{
		d->nfailed++;
		d->key[0] = '\0';
		memset(&d->cur, 0, sizeof(d->cur));
	}
	else if (child_of(x, 3, "Error"))
	{
		/* only shown: cut rather than refused */
		if (strcmp(name, "Key") == 0)
			collect(x, d->key, sizeof(d->key), 1);
		else if (strcmp(name, "Code") == 0)
			collect(x, d->cur.code, sizeof(d->cur.code), 1);
		else if (strcmp(name, "Message") == 0)
			collect(x, d->cur.message, sizeof(d->cur.message), 1);
	}
}

static void
delete_end(xml_ctx *x, const char *name)
{
	delete_doc *d = x->doc;

	if (x->depth != 2 || strcmp(name, "Error") != 0)
		return;
	if (!s3xml_code_retryable(d->cur.code))
		d->all_retryable = 0;
	if (d->nfailed == 1)
	{
		memcpy(d->first_key, d->key, sizeof(d->first_key));
		d->first = d->cur;
	}
}

int
s3xml_parse_delete(const char *body, size_t len, pgark_err *err)
{
	xml_ctx		x;
	delete_doc *d;
	char		k[120],
				c[72],
				m[200];
	int			rc;

	/* two keys and two error texts: on the heap rather than the stack */
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	memset(&x, 0, sizeof(x));
	d->all_retryable = 1;
	x.op = "DeleteObjects";
	x.root = "DeleteResult";
	x.on_start = delete_start;
	x.on_end = delete_end;
	x.doc = d;
	x.err = err;

	if (xml_run(&x, body, len) < 0)
		rc = -1;
	else if (x.empty)
		rc = 0;					/* quiet mode, nothing failed: AWS may send no body at all */
	else if (x.is_error)
		rc = error_doc(&x);
	else if (d->nfailed == 0)
		rc = 0;
	else
		rc = err_set(err, d->all_retryable ? PGARK_ERR_TRANSIENT : PGARK_ERR_IO, 0,
					 "S3 DeleteObjects: %ld key%s not deleted, the first \"%s\": %s: %s",
					 d->nfailed, d->nfailed == 1 ? "" : "s",
					 clean_str(k, sizeof(k), d->first_key),
					 d->first.code[0] ? clean_str(c, sizeof(c), d->first.code) : "(no code)",
					 d->first.message[0] ? clean_str(m, sizeof(m), d->first.message) : "(no message)");
	free(d);
	return rc;
}
