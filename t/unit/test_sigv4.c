/*
 * test_sigv4.c — lib/sigv4.h against AWS's published Signature V4 vectors.
 *
 * The vectors live in t/data/sigv4/ (README.md there names their sources,
 * commits and licences) and are read at run time from $PGARK_TOP/t/data/sigv4,
 * else t/data/sigv4 relative to the current directory (tests run from the
 * repository root):
 *
 *   aws-c-auth-v4/          AWS's maintained suite (38 cases), header signing
 *   aws-sig-v4-test-suite/  the classic 2015 suite (31 cases, 3 defective)
 *   s3-docs-examples.json   the worked examples of the Amazon S3 API Reference
 *
 * Every case reports its canonical request, string to sign and signature as
 * separate checks named "<suite>/<case>: <what>", so a failure says which
 * vector and which step. Only header signing is tested: pgark never builds
 * presigned URLs, so the query-* files of aws-c-auth-v4 are not read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "tap.h"
#include "testutil.h"

static char datadir[4096];

static void vector_bail(const char *fmt,...) __attribute__((noreturn, format(printf, 1, 2)));

/*
 * bail_out() with a GNU noreturn attribute: the same, but static analysers
 * that do not know C11's _Noreturn then see that nothing follows it.
 */
static void
vector_bail(const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bail_out("%s", msg);
}

/* ------------------------------------------------------------------ small helpers */

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		vector_bail("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* A vector file, whole (NUL-terminated); bails out if it is missing. */
static char *
load(const char *rel, size_t *lenp)
{
	char		path[8192];
	size_t		len;
	char	   *buf;

	if ((size_t) snprintf(path, sizeof(path), "%s/%s", datadir, rel) >= sizeof(path))
		vector_bail("path too long: %s/%s", datadir, rel);
	buf = (char *) read_file(path, &len);
	if (buf == NULL)
		vector_bail("cannot read test vector %s", path);
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* An expected-output file: CRs dropped (as aws-c-auth's own harness does) and
 * one final newline removed (a canonical request, string to sign or signature
 * never ends with one). */
static char *
load_expected(const char *rel)
{
	char	   *s = load(rel, NULL);
	size_t		o = 0;

	for (size_t i = 0; s[i] != '\0'; i++)
		if (s[i] != '\r')
			s[o++] = s[i];
	s[o] = '\0';
	if (o > 0 && s[o - 1] == '\n')
		s[o - 1] = '\0';
	return s;
}

/* %XX-decode n bytes of s (no '+' rule: SigV4 query strings do not use it). */
static char *
pct_decode(const char *s, size_t n)
{
	char	   *out = xmalloc(n + 1);
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%' && i + 2 < n && tu_hexval(s[i + 1]) >= 0 && tu_hexval(s[i + 2]) >= 0)
		{
			out[o++] = (char) (tu_hexval(s[i + 1]) * 16 + tu_hexval(s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------------ a request under test */

typedef struct kvlist
{
	char	  **name;
	char	  **value;
	size_t		n;
	size_t		cap;
} kvlist;

static void
kv_add_n(kvlist *l, const char *name, size_t namelen, const char *value, size_t valuelen)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 8;
		l->name = realloc(l->name, l->cap * sizeof(*l->name));
		l->value = realloc(l->value, l->cap * sizeof(*l->value));
		if (l->name == NULL || l->value == NULL)
			vector_bail("out of memory");
	}
	l->name[l->n] = xstrndup(name, namelen);
	l->value[l->n] = xstrndup(value, valuelen);
	l->n++;
}

static void
kv_add(kvlist *l, const char *name, const char *value)
{
	kv_add_n(l, name, strlen(name), value, strlen(value));
}

static void
kv_free(kvlist *l)
{
	for (size_t i = 0; i < l->n; i++)
	{
		free(l->name[i]);
		free(l->value[i]);
	}
	free(l->name);
	free(l->value);
	memset(l, 0, sizeof(*l));
}

/* A sigv4_kv view of l (malloc'd; points into l). */
static sigv4_kv *
kv_view(const kvlist *l)
{
	sigv4_kv   *v = xmalloc((l->n ? l->n : 1) * sizeof(*v));

	for (size_t i = 0; i < l->n; i++)
	{
		v[i].name = l->name[i];
		v[i].value = l->value[i];
	}
	return v;
}

/* "a=1&b&c=%2F": split on '&' and the first '=', each part %XX-decoded. */
static void
parse_query(kvlist *q, const char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		size_t		j = i;
		size_t		eq;
		char	   *name;
		char	   *value;

		while (j < n && s[j] != '&')
			j++;
		if (j > i)
		{
			eq = i;
			while (eq < j && s[eq] != '=')
				eq++;
			name = pct_decode(s + i, eq - i);
			value = eq < j ? pct_decode(s + eq + 1, j - eq - 1) : xstrdup("");
			kv_add(q, name, value);
			free(name);
			free(value);
		}
		i = j + 1;
	}
}

typedef struct http_req
{
	char	   *method;
	char	   *target_path;	/* the request line's path, as written there */
	kvlist		query;			/* decoded */
	kvlist		headers;		/* name and raw value, in file order */
	char	   *body;
	size_t		bodylen;
} http_req;

/*
 * Parse a .req / request.txt the way aws-c-auth's harness does: lines split on
 * '\n' (CRs dropped); "METHOD target HTTP/1.1"; "Name:value" headers; a line
 * starting with white space continues the previous header's value (appended
 * with its line break, for the signer to fold); an empty line ends the
 * headers and the rest is the body.
 */
static void
parse_request(const char *raw, http_req *r)
{
	char	   *text = xstrdup(raw);
	char	   *p = text;
	char	   *eol;
	char	   *sp1;
	char	   *sp2;
	char	   *q;
	size_t		o = 0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; text[i] != '\0'; i++)
		if (text[i] != '\r')
			text[o++] = text[i];
	text[o] = '\0';

	eol = strchr(p, '\n');
	if (eol == NULL)
		eol = p + strlen(p);
	sp1 = memchr(p, ' ', (size_t) (eol - p));
	sp2 = eol;
	while (sp2 > p && sp2[-1] != ' ')
		sp2--;
	if (sp1 == NULL || sp2 <= sp1 + 1)
		vector_bail("bad request line in vector: %.*s", (int) (eol - p), p);
	sp2--;						/* the space before "HTTP/1.1" */
	r->method = xstrndup(p, (size_t) (sp1 - p));
	q = memchr(sp1 + 1, '?', (size_t) (sp2 - sp1 - 1));
	if (q != NULL)
	{
		r->target_path = xstrndup(sp1 + 1, (size_t) (q - sp1 - 1));
		parse_query(&r->query, q + 1, (size_t) (sp2 - q - 1));
	}
	else
		r->target_path = xstrndup(sp1 + 1, (size_t) (sp2 - sp1 - 1));

	p = *eol ? eol + 1 : eol;
	while (*p != '\0')
	{
		char	   *colon;

		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		if (eol == p)
		{
			p = *eol ? eol + 1 : eol;
			r->body = xstrdup(p);
			r->bodylen = strlen(p);
			break;
		}
		if (*p == ' ' || *p == '\t')
		{
			size_t		last;
			char	   *joined;
			size_t		oldlen;

			if (r->headers.n == 0)
				vector_bail("continuation line before any header in vector");
			last = r->headers.n - 1;
			oldlen = strlen(r->headers.value[last]);
			joined = xmalloc(oldlen + 1 + (size_t) (eol - p) + 1);
			memcpy(joined, r->headers.value[last], oldlen);
			joined[oldlen] = '\n';
			memcpy(joined + oldlen + 1, p, (size_t) (eol - p));
			joined[oldlen + 1 + (size_t) (eol - p)] = '\0';
			free(r->headers.value[last]);
			r->headers.value[last] = joined;
		}
		else
		{
			colon = memchr(p, ':', (size_t) (eol - p));
			if (colon == NULL)
				vector_bail("header line without ':' in vector: %.*s", (int) (eol - p), p);
			kv_add_n(&r->headers, p, (size_t) (colon - p), colon + 1, (size_t) (eol - colon - 1));
		}
		p = *eol ? eol + 1 : eol;
	}
	if (r->body == NULL)
		r->body = xstrdup("");
	free(text);
}

static void
http_req_free(http_req *r)
{
	free(r->method);
	free(r->target_path);
	kv_free(&r->query);
	kv_free(&r->headers);
	free(r->body);
}

/* ------------------------------------------------------------------ a tiny JSON reader */

/*
 * Just enough JSON for context.json and s3-docs-examples.json: objects,
 * arrays, strings (with \uXXXX escapes, surrogate pairs included), and
 * numbers, booleans and null kept as their text. Malformed input bails out.
 */
typedef enum jtype
{
	J_STR, J_LIT, J_ARR, J_OBJ
} jtype;

typedef struct jval
{
	jtype		type;
	char	   *str;			/* J_STR: decoded; J_LIT: the literal's text */
	size_t		n;				/* J_ARR, J_OBJ: number of members */
	char	  **keys;			/* J_OBJ */
	struct jval **items;
} jval;

typedef struct jparser
{
	const char *p;
	const char *what;
} jparser;

static jval *j_value(jparser *jp, int depth);

static void
j_ws(jparser *jp)
{
	while (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')
		jp->p++;
}

static void j_fail(jparser *jp, const char *why) __attribute__((noreturn));

static void
j_fail(jparser *jp, const char *why)
{
	vector_bail("%s: bad JSON (%s) near \"%.20s\"", jp->what, why, jp->p);
}

static void
put_utf8(char *out, size_t *o, unsigned long cp)
{
	if (cp < 0x80)
		out[(*o)++] = (char) cp;
	else if (cp < 0x800)
	{
		out[(*o)++] = (char) (0xC0 | (cp >> 6));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000)
	{
		out[(*o)++] = (char) (0xE0 | (cp >> 12));
		out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
	else
	{
		out[(*o)++] = (char) (0xF0 | (cp >> 18));
		out[(*o)++] = (char) (0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
}

static unsigned long
j_hex4(jparser *jp)
{
	unsigned long v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			d = tu_hexval(jp->p[i]);

		if (d < 0)
			j_fail(jp, "bad \\u escape");
		v = v * 16 + (unsigned long) d;
	}
	jp->p += 4;
	return v;
}

/* At the opening quote; returns the decoded string (malloc'd). */
static char *
j_string(jparser *jp)
{
	const char *start = ++jp->p;
	size_t		cap;
	char	   *out;
	size_t		o = 0;

	while (*jp->p != '"')
	{
		if (*jp->p == '\0')
			j_fail(jp, "unterminated string");
		if (*jp->p == '\\' && jp->p[1] != '\0')
			jp->p++;
		jp->p++;
	}
	cap = (size_t) (jp->p - start) + 1;	/* decoding never grows a string */
	out = xmalloc(cap);
	jp->p = start;
	while (*jp->p != '"')
	{
		char		c = *jp->p++;

		if (c != '\\')
		{
			out[o++] = c;
			continue;
		}
		c = *jp->p++;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				out[o++] = c;
				break;
			case 'b':
				out[o++] = '\b';
				break;
			case 'f':
				out[o++] = '\f';
				break;
			case 'n':
				out[o++] = '\n';
				break;
			case 'r':
				out[o++] = '\r';
				break;
			case 't':
				out[o++] = '\t';
				break;
			case 'u':
				{
					unsigned long cp = j_hex4(jp);

					if (cp >= 0xD800 && cp < 0xDC00 && jp->p[0] == '\\' && jp->p[1] == 'u')
					{
						unsigned long lo;

						jp->p += 2;
						lo = j_hex4(jp);
						if (lo < 0xDC00 || lo > 0xDFFF)
							j_fail(jp, "bad surrogate pair");
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					put_utf8(out, &o, cp);
					break;
				}
			default:
				j_fail(jp, "bad escape");
		}
	}
	jp->p++;
	out[o] = '\0';
	return out;
}

static jval *
j_new(jtype t)
{
	jval	   *v = xmalloc(sizeof(*v));

	memset(v, 0, sizeof(*v));
	v->type = t;
	return v;
}

static void
j_push(jval *v, char *key, jval *item)
{
	v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
	v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
	if (v->items == NULL || v->keys == NULL)
		vector_bail("out of memory");
	v->items[v->n] = item;
	v->keys[v->n] = key;
	v->n++;
}

static jval *
j_value(jparser *jp, int depth)
{
	jval	   *v;

	if (depth > 32)
		j_fail(jp, "nested too deep");
	j_ws(jp);
	if (*jp->p == '"')
	{
		v = j_new(J_STR);
		v->str = j_string(jp);
	}
	else if (*jp->p == '{' || *jp->p == '[')
	{
		int			obj = (*jp->p == '{');
		char		close = obj ? '}' : ']';

		v = j_new(obj ? J_OBJ : J_ARR);
		jp->p++;
		j_ws(jp);
		if (*jp->p == close)
			jp->p++;
		else
			for (;;)
			{
				char	   *key = NULL;

				j_ws(jp);
				if (obj)
				{
					if (*jp->p != '"')
						j_fail(jp, "expected a key");
					key = j_string(jp);
					j_ws(jp);
					if (*jp->p++ != ':')
						j_fail(jp, "expected ':'");
				}
				j_push(v, key, j_value(jp, depth + 1));
				j_ws(jp);
				if (*jp->p == ',')
				{
					jp->p++;
					continue;
				}
				if (*jp->p++ != close)
					j_fail(jp, "expected ',' or the end of a container");
				break;
			}
	}
	else
	{
		const char *start = jp->p;

		while ((*jp->p >= 'a' && *jp->p <= 'z') || (*jp->p >= '0' && *jp->p <= '9') ||
			   *jp->p == '-' || *jp->p == '+' || *jp->p == '.' || *jp->p == 'E')
			jp->p++;
		if (jp->p == start)
			j_fail(jp, "unexpected character");
		v = j_new(J_LIT);
		v->str = xstrndup(start, (size_t) (jp->p - start));
	}
	return v;
}

static jval *
json_parse(const char *text, const char *what)
{
	jparser		jp = {text, what};
	jval	   *v = j_value(&jp, 0);

	j_ws(&jp);
	if (*jp.p != '\0')
		j_fail(&jp, "trailing data");
	return v;
}

static void
json_free(jval *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++)
	{
		free(v->keys[i]);
		json_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->str);
	free(v);
}

static const jval *
jget(const jval *obj, const char *key)
{
	if (obj == NULL || obj->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

/* A string member, or NULL if absent or not a string. */
static const char *
jstr(const jval *obj, const char *key)
{
	const jval *v = jget(obj, key);

	return (v != NULL && v->type == J_STR) ? v->str : NULL;
}

/* A string member that must be there. */
static const char *
jstr_req(const jval *obj, const char *key, const char *what)
{
	const char *s = jstr(obj, key);

	if (s == NULL)
		vector_bail("%s: no string \"%s\"", what, key);
	return s;
}

/* A boolean member: 1/0, or dflt if absent. */
static int
jbool(const jval *obj, const char *key, int dflt, const char *what)
{
	const jval *v = jget(obj, key);

	if (v == NULL)
		return dflt;
	if (v->type == J_LIT && strcmp(v->str, "true") == 0)
		return 1;
	if (v->type == J_LIT && strcmp(v->str, "false") == 0)
		return 0;
	vector_bail("%s: \"%s\" is not a boolean", what, key);
}

/* ------------------------------------------------------------------ signing one case */

/* What a signed case produced (all malloc'd or empty). */
typedef struct signed_case
{
	int			rc;
	pgark_err	err;
	char		authz[1024];
	sigv4_debug dbg;
} signed_case;

static void
sign_case(const char *method, const char *path, int normalize, const kvlist *query,
		  const kvlist *headers, const char *payload_hash, const sigv4_creds *creds,
		  const char *amz_date, signed_case *out)
{
	sigv4_kv   *q = kv_view(query);
	sigv4_kv   *h = kv_view(headers);
	sigv4_request req = {0};

	memset(out, 0, sizeof(*out));
	req.method = method;
	req.path = path;
	req.query = q;
	req.nquery = query->n;
	req.headers = h;
	req.nheaders = headers->n;
	req.payload_hash = payload_hash;
	req.normalize_path = normalize;
	out->rc = sigv4_sign(&req, creds, amz_date, out->authz, sizeof(out->authz), &out->dbg,
						 &out->err);
	if (out->rc != 0)
		diag("sigv4_sign: %s", out->err.msg);
	free(q);
	free(h);
}

/* The three checks every vector gets. */
static void
check_case(const char *label, const signed_case *s, const char *creq, const char *sts,
		   const char *signature)
{
	is_str(s->rc == 0 ? s->dbg.canonical_request : "(sign failed)", creq,
		   "%s: canonical request", label);
	is_str(s->rc == 0 ? s->dbg.string_to_sign : "(sign failed)", sts,
		   "%s: string to sign", label);
	is_str(s->rc == 0 ? s->dbg.signature : "(sign failed)", signature,
		   "%s: signature", label);
}

/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
static void
iso_to_amz(const char *iso, char out[17])
{
	size_t		o = 0;

	for (const char *p = iso; *p != '\0' && o < 16; p++)
		if (*p != '-' && *p != ':')
			out[o++] = *p;
	out[o] = '\0';
	if (o != 16 || out[8] != 'T' || out[15] != 'Z')
		vector_bail("unexpected timestamp \"%s\" in vector", iso);
}

/* ------------------------------------------------------------------ aws-c-auth-v4 */

static const char *const c_auth_cases[] = {
	"get-header-key-duplicate", "get-header-value-multiline", "get-header-value-order",
	"get-header-value-trim", "get-relative-normalized", "get-relative-relative-normalized",
	"get-relative-relative-unnormalized", "get-relative-unnormalized",
	"get-slash-dot-slash-normalized", "get-slash-dot-slash-unnormalized", "get-slash-normalized",
	"get-slash-pointless-dot-normalized", "get-slash-pointless-dot-unnormalized",
	"get-slash-unnormalized", "get-slashes-normalized", "get-slashes-unnormalized",
	"get-space-normalized", "get-space-unnormalized", "get-unreserved", "get-utf8",
	"get-vanilla", "get-vanilla-empty-query-key", "get-vanilla-query",
	"get-vanilla-query-order-encoded", "get-vanilla-query-order-key-case",
	"get-vanilla-query-unreserved", "get-vanilla-utf8-query", "get-vanilla-with-session-token",
	"post-header-key-case", "post-header-key-sort", "post-header-value-case",
	"post-sts-header-after", "post-sts-header-before", "post-vanilla",
	"post-vanilla-empty-query-value", "post-vanilla-query", "post-x-www-form-urlencoded",
	"post-x-www-form-urlencoded-parameters",
};

/* The Authorization value of header-signed-request.txt (malloc'd). */
static char *
authz_from_signed_request(const char *signed_req, const char *label)
{
	const char *p = signed_req;

	while (p != NULL && *p != '\0')
	{
		const char *eol = strchr(p, '\n');
		size_t		n = eol ? (size_t) (eol - p) : strlen(p);

		if (n == 0)
			break;				/* end of the headers */
		if (strncmp(p, "Authorization:", 14) == 0)
			return xstrndup(p + 14, n - 14);
		p = eol ? eol + 1 : NULL;
	}
	vector_bail("%s: no Authorization header in header-signed-request.txt", label);
}

/*
 * aws-c-auth's harness (tests/sigv4_signing_tests.c) signs every case with
 * use_double_uri_encode on, so the request-line path is URI-encoded once more,
 * and `normalize` only switches dot-segment removal. Here:
 *
 *   normalize: true   the request-line path is the path as sent, and
 *                     normalize_path = 1 normalises it and encodes it again;
 *   normalize: false  pgark's S3 mode, where the path is built as the S3
 *                     client builds it, sigv4_uri_encode(raw path, keep '/'),
 *                     and signed as given. None of these paths holds a '%',
 *                     so this is the same canonical URI aws-c-auth computes.
 *
 * The harness there adds X-Amz-Date; with sign_body it adds
 * X-Amz-Content-Sha256 (signed) and the payload hash is always SHA-256 of the
 * body; a session token is added as X-Amz-Security-Token, signed unless
 * omit_session_token (then it is attached after signing, so it is not given
 * to the signer at all).
 */
static int
run_c_auth_case(const char *name)
{
	char		rel[512];
	char		label[256];
	char	   *ctxtext;
	char	   *reqtext;
	char	   *exp_creq;
	char	   *exp_sts;
	char	   *exp_sig;
	char	   *exp_signed;
	char	   *exp_authz;
	char	   *path;
	jval	   *ctx;
	const jval *jc;
	http_req	r;
	sigv4_creds creds;
	const char *token;
	char		amz_date[17];
	char		body_hash[65];
	int			normalize;
	int			sign_body;
	int			omit_token;
	signed_case s;

	snprintf(label, sizeof(label), "aws-c-auth-v4/%s", name);
#define CASE_FILE(f) (snprintf(rel, sizeof(rel), "aws-c-auth-v4/%s/%s", name, f), rel)
	ctxtext = load(CASE_FILE("context.json"), NULL);
	reqtext = load(CASE_FILE("request.txt"), NULL);
	exp_creq = load_expected(CASE_FILE("header-canonical-request.txt"));
	exp_sts = load_expected(CASE_FILE("header-string-to-sign.txt"));
	exp_sig = load_expected(CASE_FILE("header-signature.txt"));
	exp_signed = load_expected(CASE_FILE("header-signed-request.txt"));
#undef CASE_FILE

	ctx = json_parse(ctxtext, label);
	jc = jget(ctx, "credentials");
	creds.access_key = jstr_req(jc, "access_key_id", label);
	creds.secret_key = jstr_req(jc, "secret_access_key", label);
	token = jstr(jc, "token");
	creds.region = jstr_req(ctx, "region", label);
	creds.service = jstr_req(ctx, "service", label);
	iso_to_amz(jstr_req(ctx, "timestamp", label), amz_date);
	normalize = jbool(ctx, "normalize", -1, label);
	sign_body = jbool(ctx, "sign_body", -1, label);
	omit_token = jbool(ctx, "omit_session_token", 0, label);
	if (normalize < 0 || sign_body < 0)
		vector_bail("%s: context.json lacks normalize or sign_body", label);

	parse_request(reqtext, &r);
	kv_add(&r.headers, "X-Amz-Date", amz_date);
	if (token != NULL && !omit_token)
		kv_add(&r.headers, "X-Amz-Security-Token", token);
	sigv4_sha256_hex(r.body, r.bodylen, body_hash);
	if (sign_body)
		kv_add(&r.headers, "X-Amz-Content-Sha256", body_hash);
	path = normalize ? xstrdup(r.target_path) : sigv4_uri_encode(r.target_path, 1);
	if (path == NULL)
		vector_bail("out of memory");

	sign_case(r.method, path, normalize, &r.query, &r.headers, body_hash, &creds, amz_date, &s);
	check_case(label, &s, exp_creq, exp_sts, exp_sig);
	exp_authz = authz_from_signed_request(exp_signed, label);
	is_str(s.authz, exp_authz, "%s: Authorization header", label);

	sigv4_debug_free(&s.dbg);
	free(exp_authz);
	free(path);
	http_req_free(&r);
	json_free(ctx);
	free(ctxtext);
	free(reqtext);
	free(exp_creq);
	free(exp_sts);
	free(exp_sig);
	free(exp_signed);
	return 1;
}

/* ------------------------------------------------------------------ classic suite */

typedef struct classic_case
{
	const char *dir;			/* under aws-sig-v4-test-suite/ */
	const char *defect;			/* non-NULL: skipped, with this reason */
	int			creq_only;		/* only the .creq is defective: skip that
								 * check, run the others */
} classic_case;

static const classic_case classic_cases[] = {
	{"get-header-key-duplicate", NULL, 0},
	{"get-header-value-multiline",
		"defective vector: joins the folded header lines with ',' where SigV4 folds them "
	"with spaces (aws-c-auth-v4/get-header-value-multiline is the corrected case)", 0},
	{"get-header-value-order", NULL, 0},
	{"get-header-value-trim", NULL, 0},
	{"get-unreserved", NULL, 0},
	{"get-utf8", NULL, 0},
	{"get-vanilla", NULL, 0},
	{"get-vanilla-empty-query-key", NULL, 0},
	{"get-vanilla-query", NULL, 0},
	{"get-vanilla-query-order-key", NULL, 0},
	{"get-vanilla-query-order-key-case", NULL, 0},
	{"get-vanilla-query-order-value", NULL, 0},
	{"get-vanilla-query-unreserved", NULL, 0},
	{"get-vanilla-utf8-query", NULL, 0},
	{"normalize-path/get-relative", NULL, 0},
	{"normalize-path/get-relative-relative", NULL, 0},
	{"normalize-path/get-slash", NULL, 0},
	{"normalize-path/get-slash-dot-slash", NULL, 0},
	{"normalize-path/get-slash-pointless-dot", NULL, 0},
	{"normalize-path/get-slashes", NULL, 0},
	{"normalize-path/get-space", NULL, 0},
	{"post-header-key-case", NULL, 0},
	{"post-header-key-sort", NULL, 0},
	{"post-header-value-case", NULL, 0},
	{"post-sts-token/post-sts-header-after", NULL, 0},
	{"post-sts-token/post-sts-header-before", NULL, 0},
	{"post-vanilla", NULL, 0},
	{"post-vanilla-empty-query-value", NULL, 0},
	{"post-vanilla-query", NULL, 0},
	{"post-x-www-form-urlencoded",
		"defective .creq: content-type is in its canonical headers but not in its SignedHeaders "
	"line (its .sts and .authz are of the consistent request, and are checked)", 1},
	{"post-x-www-form-urlencoded-parameters",
		"defective vector: the .creq moves the form body into the query string and hashes an "
	"empty payload, unlike the .req (aws-c-auth-v4 has the corrected case)", 0},
};

/*
 * The classic suite: credentials and scope from its documentation, non-S3
 * rules (path normalised and encoded again), the .req's own headers signed
 * (X-Amz-Date and, for post-sts-header-before, the token are in the file),
 * payload hash = SHA-256 of the body. Returns 1 if the case was checked in
 * full, 0 if skipped (in whole or in part) as defective.
 */
static int
run_classic_case(const classic_case *c)
{
	static const sigv4_creds creds = {
		"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"
	};
	const char *base = strrchr(c->dir, '/') ? strrchr(c->dir, '/') + 1 : c->dir;
	char		rel[512];
	char		label[256];
	char	   *reqtext;
	char	   *exp_creq;
	char	   *exp_sts;
	char	   *exp_authz;
	const char *exp_sig;
	char		body_hash[65];
	http_req	r;
	signed_case s;

	snprintf(label, sizeof(label), "aws-sig-v4-test-suite/%s", base);
	if (c->defect != NULL && !c->creq_only)
	{
		skip(4, "%s: %s", label, c->defect);
		return 0;
	}
#define CASE_FILE(ext) (snprintf(rel, sizeof(rel), "aws-sig-v4-test-suite/%s/%s.%s", c->dir, base, ext), rel)
	reqtext = load(CASE_FILE("req"), NULL);
	exp_creq = load_expected(CASE_FILE("creq"));
	exp_sts = load_expected(CASE_FILE("sts"));
	exp_authz = load_expected(CASE_FILE("authz"));
#undef CASE_FILE
	exp_sig = strstr(exp_authz, "Signature=");
	if (exp_sig == NULL)
		vector_bail("%s: no Signature= in the .authz", label);
	exp_sig += strlen("Signature=");

	parse_request(reqtext, &r);
	sigv4_sha256_hex(r.body, r.bodylen, body_hash);
	sign_case(r.method, r.target_path, 1, &r.query, &r.headers, body_hash, &creds,
			  "20150830T123600Z", &s);
	if (c->creq_only)
	{
		skip(1, "%s: canonical request: %s", label, c->defect);
		is_str(s.rc == 0 ? s.dbg.string_to_sign : "(sign failed)", exp_sts,
			   "%s: string to sign", label);
		is_str(s.rc == 0 ? s.dbg.signature : "(sign failed)", exp_sig, "%s: signature", label);
	}
	else
		check_case(label, &s, exp_creq, exp_sts, exp_sig);
	is_str(s.authz, exp_authz, "%s: Authorization header", label);

	sigv4_debug_free(&s.dbg);
	http_req_free(&r);
	free(reqtext);
	free(exp_creq);
	free(exp_sts);
	free(exp_authz);
	return c->creq_only ? 0 : 1;
}

/* ------------------------------------------------------------------ S3 documentation examples */

/*
 * The Amazon S3 API Reference examples: S3 rules (path signed as given, not
 * normalised), the headers as listed (x-amz-content-sha256 among them where
 * the page has it), payload hash as given. The presigned-URL example goes
 * through the same canonical request / string to sign / signature steps, so
 * it is checked too, but has no Authorization header. The aws-chunked
 * example's seed signature needs chunk signing, which pgark does not use.
 * The pages write the Authorization value with ',' between its parts where
 * sigv4_sign() writes ", " (AWS accepts both); that is the only difference
 * allowed.
 */
static void
run_s3_docs(int *ran, int *skipped)
{
	char	   *text = load("s3-docs-examples.json", NULL);
	jval	   *doc = json_parse(text, "s3-docs-examples.json");
	const jval *cases = jget(doc, "cases");
	const jval *jc = jget(doc, "credentials");
	sigv4_creds creds;
	const char *amz_date;

	creds.access_key = jstr_req(jc, "access_key_id", "s3-docs");
	creds.secret_key = jstr_req(jc, "secret_access_key", "s3-docs");
	creds.region = jstr_req(doc, "region", "s3-docs");
	creds.service = jstr_req(doc, "service", "s3-docs");
	amz_date = jstr_req(doc, "amz_date", "s3-docs");
	if (cases == NULL || cases->type != J_ARR)
		vector_bail("s3-docs-examples.json: no \"cases\" array");

	for (size_t i = 0; i < cases->n; i++)
	{
		const jval *c = cases->items[i];
		const char *name = jstr_req(c, "name", "s3-docs case");
		const char *payload = jstr_req(c, "payload_sha256", name);
		const char *query = jstr(c, "query");
		const char *body = jstr(c, "body");
		const char *authz = jstr(c, "authorization");
		const jval *hdrs = jget(c, "headers");
		char		label[256];
		kvlist		q = {0};
		kvlist		h = {0};
		signed_case s;

		snprintf(label, sizeof(label), "s3-docs/%s", name);
		if (strcmp(payload, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
		{
			skip(3, "%s: aws-chunked (streaming) upload signing, which pgark does not use", label);
			(*skipped)++;
			continue;
		}
		if (hdrs == NULL || hdrs->type != J_ARR)
			vector_bail("%s: no headers array", label);
		for (size_t j = 0; j < hdrs->n; j++)
		{
			const jval *pair = hdrs->items[j];

			if (pair->type != J_ARR || pair->n != 2 || pair->items[0]->type != J_STR ||
				pair->items[1]->type != J_STR)
				vector_bail("%s: header %zu is not a [name, value] pair", label, j);
			kv_add(&h, pair->items[0]->str, pair->items[1]->str);
		}
		if (query != NULL)
			parse_query(&q, query, strlen(query));
		if (body != NULL)
		{
			char		bh[65];

			sigv4_sha256_hex(body, strlen(body), bh);
			is_str(bh, payload, "%s: sigv4_sha256_hex(body) is the payload hash", label);
		}

		sign_case(jstr_req(c, "method", label), jstr_req(c, "path", label), 0, &q, &h, payload,
				  &creds, amz_date, &s);
		check_case(label, &s, jstr_req(c, "canonical_request", label),
				   jstr_req(c, "string_to_sign", label), jstr_req(c, "signature", label));
		if (authz != NULL)
		{
			char		want[1024];
			size_t		o = 0;

			/* insert the space after each ',' of the page's value */
			for (const char *p = authz; *p != '\0' && o + 2 < sizeof(want); p++)
			{
				want[o++] = *p;
				if (*p == ',' && p[1] != ' ')
					want[o++] = ' ';
			}
			want[o] = '\0';
			is_str(s.authz, want, "%s: Authorization header", label);
		}
		sigv4_debug_free(&s.dbg);
		kv_free(&q);
		kv_free(&h);
		(*ran)++;
	}
	json_free(doc);
	free(text);
}

/* ------------------------------------------------------------------ direct tests */

static void
check_encode(const char *in, int keep_slash, const char *want, const char *what)
{
	char	   *got = sigv4_uri_encode(in, keep_slash);

	is_str(got, want, "sigv4_uri_encode: %s", what);
	free(got);
}

static void
test_uri_encode(void)
{
	int			bad = 0;

	check_encode("a/b/", 0, "a%2Fb%2F", "'/' encoded when keep_slash = 0");
	check_encode("/a/b/", 1, "/a/b/", "'/' kept when keep_slash = 1");
	check_encode("a+b=c d~e", 0, "a%2Bb%3Dc%20d~e", "'+' '=' ' ' encoded, '~' kept");
	check_encode("-_.~AZaz09", 0, "-_.~AZaz09", "unreserved characters kept");
	check_encode("\xe1\x88\xb4", 0, "%E1%88%B4", "UTF-8 bytes as upper-case %XX");
	check_encode("%20*!'()", 1, "%2520%2A%21%27%28%29", "'%' and sub-delims encoded");
	check_encode("", 0, "", "empty string");
	check_encode("bucket/dir name/file$1.txt", 1, "bucket/dir%20name/file%241.txt",
				 "an object key");

	/* every byte: unreserved ones kept, all others %XX with upper-case hex */
	for (int c = 1; c < 256; c++)
	{
		char		in[2] = {(char) c, '\0'};
		char		want[4];
		char	   *got = sigv4_uri_encode(in, 0);
		int			unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';

		if (unreserved)
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		if (got == NULL || strcmp(got, want) != 0)
		{
			if (bad++ == 0)
				diag("byte 0x%02x encoded as \"%s\", want \"%s\"", c, got ? got : "(null)", want);
		}
		free(got);
	}
	is_int(bad, 0, "sigv4_uri_encode: each of the 255 non-NUL bytes encoded right");
}

static void
check_query(const sigv4_kv *q, size_t n, const char *want, const char *what)
{
	char	   *got = sigv4_canonical_query(q, n);

	is_str(got, want, "sigv4_canonical_query: %s", what);
	free(got);
}

static void
test_canonical_query(void)
{
	const sigv4_kv prefix[] = {{"list-type", "2"}, {"prefix", "a/b/"}};
	const sigv4_kv uploads[] = {{"uploads", ""}};
	const sigv4_kv special[] = {{"k", "a+b=c d~e"}, {"a key", "x&y"}};
	const sigv4_kv order[] = {{"b", "1"}, {"a", "2"}, {"a", "10"}, {"B", "3"}, {"a", "1"}};
	const sigv4_kv utf8[] = {{"\xe1\x88\xb4", "\xc3\xa9t\xc3\xa9"}};
	const sigv4_kv encoded_order[] = {{"a~", "1"}, {"a-b", "2"}, {"a b", "3"}};
	const sigv4_kv null_value[] = {{"delete", NULL}};

	check_query(NULL, 0, "", "no parameters");
	check_query(prefix, 2, "list-type=2&prefix=a%2Fb%2F", "'/' in a value is %2F");
	check_query(uploads, 1, "uploads=", "a valueless key becomes 'uploads='");
	check_query(null_value, 1, "delete=", "a NULL value is treated as ''");
	check_query(special, 2, "a%20key=x%26y&k=a%2Bb%3Dc%20d~e",
				"'+' '=' ' ' '&' encoded, '~' kept");
	check_query(order, 5, "B=3&a=1&a=10&a=2&b=1",
				"sorted by name (byte order) then by value");
	check_query(utf8, 1, "%E1%88%B4=%C3%A9t%C3%A9", "UTF-8 as upper-case %XX");
	check_query(encoded_order, 3, "a%20b=3&a-b=2&a~=1", "sorted by the encoded names");
}

/* The header rules and the argument checks, on a small S3 request. */
static void
test_rules_and_errors(void)
{
	static const sigv4_creds creds = {
		"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"
	};
	sigv4_kv	hdrs[] = {
		{"Host", "bucket.s3.amazonaws.com"},
		{"X-Amz-Date", "20150830T123600Z"},
		{"X-Meta", " \t a \t\t b  "},
		{"x-meta", "c"},
		{"X-Amz-Content-SHA256", SIGV4_EMPTY_SHA256},
	};
	sigv4_kv	query[] = {{"prefix", "wal/"}, {"list-type", "2"}};
	sigv4_request req = {"GET", "/bucket/a%20b", query, 2, hdrs, 5, SIGV4_EMPTY_SHA256, 0};
	sigv4_request r2;
	sigv4_debug dbg;
	pgark_err	err;
	char		authz[512];
	char		authz2[512];
	char		sig[65];
	char		small[40];
	int			rc;

	rc = sigv4_sign(&req, &creds, "20150830T123600Z", authz, sizeof(authz), &dbg, &err);
	if (!is_int(rc, 0, "rules: sign a small S3 request"))
	{
		diag("%s", err.msg);
		return;
	}
	is_str(dbg.canonical_request,
		   "GET\n/bucket/a%20b\nlist-type=2&prefix=wal%2F\n"
		   "host:bucket.s3.amazonaws.com\n"
		   "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
		   "x-amz-date:20150830T123600Z\n"
		   "x-meta:a b,c\n"
		   "\n"
		   "host;x-amz-content-sha256;x-amz-date;x-meta\n" SIGV4_EMPTY_SHA256,
		   "rules: names lower-cased and sorted, values trimmed and folded, "
		   "same-name headers joined with ',' in order given, S3 path as given");
	like(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
		 "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-meta, Signature=",
		 "rules: Authorization header layout");
	ok(strlen(authz) > 64 && strcmp(authz + strlen(authz) - 64, dbg.signature) == 0,
	   "rules: Authorization ends with the signature");
	memcpy(sig, dbg.signature, sizeof(sig));
	sigv4_debug_free(&dbg);
	ok(dbg.canonical_request == NULL && dbg.string_to_sign == NULL,
	   "rules: sigv4_debug_free clears the struct");

	/* no debug output asked for: same result */
	rc = sigv4_sign(&req, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) == 0, "rules: dbg = NULL gives the same header");

	/* negative: any signed input changed changes the signature */
	hdrs[3].value = "d";
	rc = sigv4_sign(&req, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) != 0, "negative: a changed header value changes the signature");
	hdrs[3].value = "c";
	query[0].value = "wal/x";
	rc = sigv4_sign(&req, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) != 0, "negative: a changed query value changes the signature");
	query[0].value = "wal/";
	r2 = req;
	r2.path = "/bucket/a%20c";
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) != 0, "negative: a changed path changes the signature");
	r2 = req;
	r2.payload_hash = "UNSIGNED-PAYLOAD";
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) != 0, "negative: a changed payload hash changes the signature");
	{
		sigv4_creds c2 = creds;

		c2.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
		rc = sigv4_sign(&req, &c2, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
		ok(rc == 0 && strcmp(authz, authz2) != 0, "negative: a changed secret key changes the signature");
	}
	rc = sigv4_sign(&req, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == 0 && strcmp(authz, authz2) == 0, "negative: restoring the inputs restores the signature");

	/* errors */
	rc = sigv4_sign(&req, &creds, "2015-08-30T12:36:00Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1 && authz2[0] == '\0', "errors: a date not in YYYYMMDDTHHMMSSZ form is refused");
	rc = sigv4_sign(&req, &creds, "20150830T123601Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1, "errors: x-amz-date header differing from the signing date is refused");
	like(err.msg, "x-amz-date", "errors: ... and the message says so");
	r2 = req;
	r2.headers = hdrs + 1;
	r2.nheaders = 4;
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1 && strstr(err.msg, "host") != NULL, "errors: no host header is refused");
	r2 = req;
	r2.path = "/bucket/a b";
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1, "errors: S3 mode refuses a path that is not URI-encoded");
	r2.path = "/bucket/a%2fb";
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1, "errors: S3 mode refuses lower-case %%xx (sigv4_uri_encode never writes it)");
	r2.path = "bucket/a";
	rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
	ok(rc == -1, "errors: a path not starting with '/' is refused");
	{
		sigv4_kv	badhdr[] = {{"Host", "h"}, {"Bad Name", "v"}};

		r2 = req;
		r2.headers = badhdr;
		r2.nheaders = 2;
		rc = sigv4_sign(&r2, &creds, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
		ok(rc == -1, "errors: a header name with a space is refused");
	}
	{
		sigv4_creds c2 = creds;

		c2.region = NULL;
		rc = sigv4_sign(&req, &c2, "20150830T123600Z", authz2, sizeof(authz2), NULL, &err);
		ok(rc == -1, "errors: missing region is refused");
		is_kind(err, PGARK_ERR_CONFIG, "errors: ... as a configuration error");
	}
	memset(small, 'x', sizeof(small));
	rc = sigv4_sign(&req, &creds, "20150830T123600Z", small, sizeof(small), &dbg, &err);
	ok(rc == -1 && small[0] == '\0' && dbg.canonical_request == NULL,
	   "errors: an Authorization buffer too small is an error, not a truncated header");
	sigv4_debug_free(&dbg);
}

static void
test_normalize(void)
{
	static const struct
	{
		const char *path;
		const char *want;
	}			cases[] = {
		{"/", "/"},
		{"/a/./b/../c", "/a/c"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/../a", "/a"},
		{"//a//b//", "/a/b/"},
		{"/a%20b/c d", "/a%2520b/c%20d"},
		{"/..", "/"},
		{"/.../a", "/.../a"},
	};
	static const sigv4_creds creds = {"AK", "SK", "us-east-1", "service"};
	sigv4_kv	hdrs[] = {{"host", "example.com"}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		sigv4_request req = {"GET", cases[i].path, NULL, 0, hdrs, 1, SIGV4_EMPTY_SHA256, 1};
		sigv4_debug dbg;
		pgark_err	err;
		char		authz[512];
		char		got[256] = "(sign failed)";

		if (sigv4_sign(&req, &creds, "20150830T123600Z", authz, sizeof(authz), &dbg, &err) == 0)
		{
			const char *p = strchr(dbg.canonical_request, '\n') + 1;
			const char *e = strchr(p, '\n');

			snprintf(got, sizeof(got), "%.*s", (int) (e - p), p);
		}
		is_str(got, cases[i].want, "normalize_path: \"%s\"", cases[i].path);
		sigv4_debug_free(&dbg);
	}
}

static void
test_sha256_hex(void)
{
	char		h[65];

	sigv4_sha256_hex("", 0, h);
	is_str(h, SIGV4_EMPTY_SHA256, "sigv4_sha256_hex: empty input is SIGV4_EMPTY_SHA256");
	/* the body of the S3 API Reference's PUT Object example */
	sigv4_sha256_hex("Welcome to Amazon S3.", 21, h);
	is_str(h, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		   "sigv4_sha256_hex: \"Welcome to Amazon S3.\"");
}

int
main(void)
{
	const char *top = getenv("PGARK_TOP");
	int			ran = 0;
	int			skipped = 0;
	size_t		nclassic = sizeof(classic_cases) / sizeof(classic_cases[0]);
	size_t		ncauth = sizeof(c_auth_cases) / sizeof(c_auth_cases[0]);

	if (top != NULL && top[0] != '\0')
		snprintf(datadir, sizeof(datadir), "%s/t/data/sigv4", top);
	else
		snprintf(datadir, sizeof(datadir), "t/data/sigv4");

	test_sha256_hex();
	test_uri_encode();
	test_canonical_query();
	test_normalize();
	test_rules_and_errors();

	for (size_t i = 0; i < ncauth; i++)
		ran += run_c_auth_case(c_auth_cases[i]);
	note("aws-c-auth-v4: %d of %zu cases signed, none skipped", ran, ncauth);
	is_int(ran, 38, "aws-c-auth-v4: all 38 cases run");

	ran = 0;
	for (size_t i = 0; i < nclassic; i++)
	{
		if (run_classic_case(&classic_cases[i]))
			ran++;
		else
			skipped++;
	}
	note("aws-sig-v4-test-suite: %d cases checked in full, %d with defects skipped "
		 "(one of them in part)", ran, skipped);
	ok(ran == 28 && skipped == 3, "aws-sig-v4-test-suite: 28 cases run, 3 defective skipped");

	ran = skipped = 0;
	run_s3_docs(&ran, &skipped);
	note("s3-docs: %d cases signed, %d skipped", ran, skipped);
	ok(ran == 5 && skipped == 1, "s3-docs: 5 examples run, the aws-chunked one skipped");

	return done_testing();
}
