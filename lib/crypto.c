#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

struct gcm_ctx
{
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

static int
ossl_fail(pgark_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char		buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(err, PGARK_ERR_INTERNAL, 0, "OpenSSL %s failed: %s", what, buf);
}

gcm_ctx *
gcm_new(const uint8_t key[AES256_KEY_LEN], pgark_err *err)
{
	gcm_ctx    *g = calloc(1, sizeof(*g));

	if (g == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	g->enc = EVP_CIPHER_CTX_new();
	g->dec = EVP_CIPHER_CTX_new();
	if (g->enc == NULL || g->dec == NULL ||
		EVP_EncryptInit_ex(g->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
		EVP_DecryptInit_ex(g->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
	{
		ossl_fail(err, "AES-256-GCM init");
		gcm_free(g);
		return NULL;
	}
	return g;
}

void
gcm_free(gcm_ctx *g)
{
	if (g == NULL)
		return;
	EVP_CIPHER_CTX_free(g->enc);	/* cleanses the key schedule */
	EVP_CIPHER_CTX_free(g->dec);
	free(g);
}

int
gcm_seal(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN], const uint8_t *aad, size_t aadlen,
		 const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[GCM_TAG_LEN], pgark_err *err)
{
	int			outl;

	if (EVP_EncryptInit_ex(g->enc, NULL, NULL, NULL, nonce) != 1)
		return ossl_fail(err, "GCM nonce");
	if (aadlen > 0 && EVP_EncryptUpdate(g->enc, NULL, &outl, aad, (int) aadlen) != 1)
		return ossl_fail(err, "GCM AAD");
	if (len > 0 && EVP_EncryptUpdate(g->enc, out, &outl, in, (int) len) != 1)
		return ossl_fail(err, "GCM encrypt");
	if (EVP_EncryptFinal_ex(g->enc, out + len, &outl) != 1)
		return ossl_fail(err, "GCM final");
	if (EVP_CIPHER_CTX_ctrl(g->enc, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1)
		return ossl_fail(err, "GCM tag");
	return 0;
}

int
gcm_open(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN], const uint8_t *aad, size_t aadlen,
		 const uint8_t *in, size_t len, uint8_t *out, const uint8_t tag[GCM_TAG_LEN], pgark_err *err)
{
	int			outl;
	uint8_t		tagcopy[GCM_TAG_LEN];

	memcpy(tagcopy, tag, GCM_TAG_LEN);
	if (EVP_DecryptInit_ex(g->dec, NULL, NULL, NULL, nonce) != 1)
		return ossl_fail(err, "GCM nonce");
	if (aadlen > 0 && EVP_DecryptUpdate(g->dec, NULL, &outl, aad, (int) aadlen) != 1)
		return ossl_fail(err, "GCM AAD");
	if (len > 0 && EVP_DecryptUpdate(g->dec, out, &outl, in, (int) len) != 1)
		return ossl_fail(err, "GCM decrypt");
	if (EVP_CIPHER_CTX_ctrl(g->dec, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tagcopy) != 1)
		return ossl_fail(err, "GCM set tag");
	if (EVP_DecryptFinal_ex(g->dec, out + len, &outl) != 1)
	{
		ERR_clear_error();
		return err_set(err, PGARK_ERR_CORRUPT, 0, "authentication failed");
	}
	return 0;
}

int
hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
			const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen, pgark_err *err)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int			rc = -1;
	size_t		len = outlen;

	if (pctx == NULL)
		return ossl_fail(err, "HKDF context");
	if (EVP_PKEY_derive_init(pctx) != 1 ||
		EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) != 1 ||
		(saltlen > 0 && EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt, (int) saltlen) != 1) ||
		EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm, (int) ikmlen) != 1 ||
		EVP_PKEY_CTX_add1_hkdf_info(pctx, info, (int) infolen) != 1 ||
		EVP_PKEY_derive(pctx, out, &len) != 1 || len != outlen)
		ossl_fail(err, "HKDF-SHA256");
	else
		rc = 0;
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int
hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
			uint8_t out[SHA256_LEN], pgark_err *err)
{
	unsigned int outlen = SHA256_LEN;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen) == NULL)
		return ossl_fail(err, "HMAC-SHA256");
	return 0;
}

struct sha256_ctx
{
	EVP_MD_CTX *md;
};

sha256_ctx *
sha256_new(pgark_err *err)
{
	sha256_ctx *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->md = EVP_MD_CTX_new()) == NULL ||
		EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
	{
		ossl_fail(err, "SHA-256 init");
		sha256_free(s);
		return NULL;
	}
	return s;
}

void
sha256_update(sha256_ctx *s, const void *data, size_t len)
{
	if (len > 0)
		EVP_DigestUpdate(s->md, data, len);
}

void
sha256_final(sha256_ctx *s, uint8_t out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	EVP_DigestFinal_ex(s->md, out, &n);
	EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
}

void
sha256_free(sha256_ctx *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->md);
	free(s);
}

void
sha256_once(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	SHA256(data, len, out);
}

int
random_bytes(uint8_t *out, size_t n, pgark_err *err)
{
	if (RAND_bytes(out, (int) n) != 1)
		return ossl_fail(err, "random bytes");
	return 0;
}

/*
 * XXH64, written from the published xxHash specification (Yann Collet,
 * "xxHash fast digest algorithm", doc/xxhash_spec.md, version 0.1.1).
 */
#define P1 UINT64_C(11400714785074694791)
#define P2 UINT64_C(14029467366897019727)
#define P3 UINT64_C(1609587929392839161)
#define P4 UINT64_C(9650029242287828579)
#define P5 UINT64_C(2870177450012600261)

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
xxround(uint64_t acc, uint64_t lane)
{
	acc += lane * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static inline uint64_t
xxmerge(uint64_t acc, uint64_t v)
{
	acc ^= xxround(0, v);
	return acc * P1 + P4;
}

void
xxh64_init(xxh64_state *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->v[0] = seed + P1 + P2;
	s->v[1] = seed + P2;
	s->v[2] = seed;
	s->v[3] = seed - P1;
}

static void
xxh64_stripe(uint64_t v[4], const uint8_t *p)
{
	v[0] = xxround(v[0], get_le64(p));
	v[1] = xxround(v[1], get_le64(p + 8));
	v[2] = xxround(v[2], get_le64(p + 16));
	v[3] = xxround(v[3], get_le64(p + 24));
}

void
xxh64_update(xxh64_state *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint8_t *end = p + len;

	s->total_len += len;
	if (s->memsize + len < 32)
	{
		if (len > 0)
			memcpy(s->mem + s->memsize, p, len);
		s->memsize += (uint32_t) len;
		return;
	}
	if (s->memsize > 0)
	{
		size_t		fill = 32 - s->memsize;

		memcpy(s->mem + s->memsize, p, fill);
		xxh64_stripe(s->v, s->mem);
		p += fill;
		s->memsize = 0;
	}
	if (end - p >= 32)
	{
		/* in registers: stores through s->v would have to be assumed to
		 * change the bytes p points to, and reloaded every stripe */
		uint64_t	v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];

		do
		{
			v0 = xxround(v0, get_le64(p));
			v1 = xxround(v1, get_le64(p + 8));
			v2 = xxround(v2, get_le64(p + 16));
			v3 = xxround(v3, get_le64(p + 24));
			p += 32;
		} while (end - p >= 32);
		s->v[0] = v0;
		s->v[1] = v1;
		s->v[2] = v2;
		s->v[3] = v3;
	}
	if (p < end)
	{
		memcpy(s->mem, p, (size_t) (end - p));
		s->memsize = (uint32_t) (end - p);
	}
}

uint64_t
xxh64_digest(const xxh64_state *s)
{
	uint64_t	h;
	const uint8_t *p = s->mem;
	const uint8_t *end = p + s->memsize;

	if (s->total_len >= 32)
	{
		h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
		h = xxmerge(h, s->v[0]);
		h = xxmerge(h, s->v[1]);
		h = xxmerge(h, s->v[2]);
		h = xxmerge(h, s->v[3]);
	}
	else
		h = s->seed + P5;
	h += s->total_len;
	while (end - p >= 8)
	{
		h ^= xxround(0, get_le64(p));
		h = rotl64(h, 27) * P1 + P4;
		p += 8;
	}
	if (end - p >= 4)
	{
		h ^= (uint64_t) get_le32(p) * P1;
		h = rotl64(h, 23) * P2 + P3;
		p += 4;
	}
	while (p < end)
	{
		h ^= (uint64_t) (*p) * P5;
		h = rotl64(h, 11) * P1;
		p++;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t
xxh64(const void *data, size_t len, uint64_t seed)
{
	xxh64_state s;

	xxh64_init(&s, seed);
	xxh64_update(&s, data, len);
	return xxh64_digest(&s);
}
