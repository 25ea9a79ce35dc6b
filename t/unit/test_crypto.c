/*
 * test_crypto.c — known-answer tests of lib/crypto.h.
 *
 * Every expected value below is a published test vector (source named at
 * each one) or, for XXH64 where the specification publishes none, a value
 * computed with the reference xxHash implementation (named at each one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"
#include "testutil.h"

/* ------------------------------------------------------------------ AES-256-GCM */

typedef struct gcm_vector
{
	const char *name;
	const char *key;
	const char *iv;
	const char *aad;
	const char *pt;
	const char *ct;
	const char *tag;
} gcm_vector;

static const gcm_vector gcm_vectors[] = {
	/*
	 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised
	 * 2005 (the spec NIST SP 800-38D adopted), Appendix B, Test Cases 13-16:
	 * the AES-256 cases with a 96-bit IV.
	 */
	{"GCM spec test case 13 (empty P, empty A)",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000", "", "", "",
	"530f8afbc74536b9a963b4f1c4cb738b"},
	{"GCM spec test case 14 (one zero block)",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000", "",
		"00000000000000000000000000000000",
		"cea7403d4d606b6e074ec5d3baf39d18",
	"d0d1c8a799996bf0265b98b5d48ab919"},
	{"GCM spec test case 15 (64 bytes, no AAD)",
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		"cafebabefacedbaddecaf888", "",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	"b094dac5d93471bdec1a502270e3cc6c"},
	{"GCM spec test case 16 (60 bytes, 20 bytes AAD)",
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		"cafebabefacedbaddecaf888",
		"feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	"76fc6ece0f4e1768cddf8853bb2d551b"},

	/*
	 * NIST CAVP, GCM Test Vectors (SP 800-38D), gcmEncryptExtIV256.rsp,
	 * [Keylen = 256] [IVlen = 96] [Taglen = 128].
	 */
	{"CAVP gcmEncryptExtIV256 PTlen=0 AADlen=0 Count=0",
		"b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
		"516c33929df5a3284ff463d7", "", "", "",
	"bdc1ac884d332457a1d2664f168c76f0"},
	{"CAVP gcmEncryptExtIV256 PTlen=128 AADlen=0 Count=0",
		"31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
		"0d18e06c7c725ac9e362e1ce", "",
		"2db5168e932556f8089a0622981d017d",
		"fa4362189661d163fcd6a56d8bf0405a",
	"d636ac1bbedd5cc3ee727dc2ab4a9489"},
	{"CAVP gcmEncryptExtIV256 PTlen=128 AADlen=128 Count=0",
		"92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
		"ac93a1a6145299bde902f21a",
		"1e0889016f67601c8ebea4943bc23ad6",
		"2d71bcfa914e4ac045b2aa60955fad24",
		"8995ae2e6df3dbf96fac7b7137bae67f",
	"eca5aa77d51d4a0a14d9c51e1da474ab"},
	{"CAVP gcmEncryptExtIV256 PTlen=104 AADlen=160 Count=1",
		"97431e565e8370a4879de962746a2fd67eca868b1c8e51eece2c1f94f74af407",
		"17fb63066e2726d282ecc610",
		"78e7374da7c77be5938de8dd76cf0308618306a9",
		"e21629cc973fbe40176e621d9d",
		"80dbd469de480389ba6c2fca52",
	"4e284abb8b4f9f13c7497ae56df05fa5"},
	{"CAVP gcmEncryptExtIV256 PTlen=408 AADlen=720 Count=2",
		"c277df045d0a1a3956958f271055c229d2634427b1d73e99d54920da69f72e01",
		"79e24f84bc77a21a6cb14ee2",
		"ca09282238d492029afbd30ea9b4aa9d448d77b4b41a791c35ebe3f8e5034ac71210117a843fae647cea020712c27e"
		"5c8f85acf933d5e28430c7770862d8dbb197cbbcfe49dd63f6aa05fbd13e32c459342698dfee5935c7c321",
		"5ca68d858cc30b1cb0514c4e9de98e1a1a835df401f69e9ec6f1bcb1158f09114dff551683b3827457f77e17a7097b"
		"1ea69eac",
		"5c5223c8eda59a8dc28b08e6c21482a46e5d84d32c7050bf144fc57f4e8094de133198da7b4b8398b167204aff837d"
		"a15d9ab2",
	"378885950a4491bee3cd681d3c957b9a"},
};

/* open() with one byte of (what, index) flipped must fail with CORRUPT. */
static int
gcm_open_fails(gcm_ctx *g, const uint8_t *iv, const uint8_t *aad, size_t aadlen,
			   const uint8_t *ct, size_t len, const uint8_t *tag)
{
	uint8_t		out[128];
	pgark_err	err;

	err_clear(&err);
	if (gcm_open(g, iv, aad, aadlen, ct, len, out, tag, &err) == 0)
		return 0;
	return err.kind == PGARK_ERR_CORRUPT;
}

static void
test_gcm(void)
{
	for (size_t v = 0; v < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); v++)
	{
		const gcm_vector *t = &gcm_vectors[v];
		uint8_t		key[32], iv[12], aad[128], pt[128], ct[128], tag[16];
		uint8_t		out[128], outtag[16], back[128];
		size_t		keylen = unhex(t->key, key, sizeof(key));
		size_t		ivlen = unhex(t->iv, iv, sizeof(iv));
		size_t		aadlen = unhex(t->aad, aad, sizeof(aad));
		size_t		ptlen = unhex(t->pt, pt, sizeof(pt));
		size_t		ctlen = unhex(t->ct, ct, sizeof(ct));
		size_t		taglen = unhex(t->tag, tag, sizeof(tag));
		pgark_err	err;
		gcm_ctx    *g;
		int			all;

		if (keylen != 32 || ivlen != 12 || ptlen != ctlen || taglen != 16)
			bail_out("malformed vector %s", t->name);
		err_clear(&err);
		g = gcm_new(key, &err);
		if (!ok(g != NULL, "%s: gcm_new", t->name))
		{
			diag("%s", err.msg);
			continue;
		}
		memset(out, 0xAA, sizeof(out));
		is_int(gcm_seal(g, iv, aad, aadlen, pt, ptlen, out, outtag, &err), 0, "%s: seal", t->name);
		is_mem(out, ct, ctlen, "%s: ciphertext", t->name);
		is_mem(outtag, tag, 16, "%s: tag", t->name);
		is_int(gcm_open(g, iv, aad, aadlen, ct, ctlen, back, tag, &err), 0, "%s: open", t->name);
		is_mem(back, pt, ptlen, "%s: decrypts to the plaintext", t->name);

		/* in place (out aliases in), as the object writer does */
		memcpy(out, pt, ptlen);
		gcm_seal(g, iv, aad, aadlen, out, ptlen, out, outtag, &err);
		ok(memcmp(out, ct, ctlen) == 0 && memcmp(outtag, tag, 16) == 0, "%s: in-place seal", t->name);

		/* every bit of the tag, every byte of ciphertext and AAD, the IV */
		all = 1;
		for (int i = 0; i < 16 * 8; i++)
		{
			uint8_t		bad[16];

			memcpy(bad, tag, 16);
			bad[i / 8] ^= (uint8_t) (1u << (i % 8));
			all &= gcm_open_fails(g, iv, aad, aadlen, ct, ctlen, bad);
		}
		ok(all, "%s: each of the 128 flipped tag bits fails", t->name);
		all = 1;
		for (size_t i = 0; i < ctlen; i++)
		{
			uint8_t		bad[128];

			memcpy(bad, ct, ctlen);
			bad[i] ^= 0x01;
			all &= gcm_open_fails(g, iv, aad, aadlen, bad, ctlen, tag);
		}
		ok(all, "%s: each flipped ciphertext byte fails (%zu)", t->name, ctlen);
		all = 1;
		for (size_t i = 0; i < aadlen; i++)
		{
			uint8_t		bad[128];

			memcpy(bad, aad, aadlen);
			bad[i] ^= 0x80;
			all &= gcm_open_fails(g, iv, bad, aadlen, ct, ctlen, tag);
		}
		if (aadlen > 0)
		{
			ok(all, "%s: each flipped AAD byte fails (%zu)", t->name, aadlen);
			ok(gcm_open_fails(g, iv, aad, aadlen - 1, ct, ctlen, tag), "%s: shortened AAD fails", t->name);
		}
		else
		{
			uint8_t		extra = 0;

			ok(gcm_open_fails(g, iv, &extra, 1, ct, ctlen, tag), "%s: added AAD fails", t->name);
		}
		{
			uint8_t		badiv[12];

			memcpy(badiv, iv, 12);
			badiv[11] ^= 0x01;
			ok(gcm_open_fails(g, badiv, aad, aadlen, ct, ctlen, tag), "%s: other IV fails", t->name);
		}
		/* the context stays usable after a failed open */
		is_int(gcm_open(g, iv, aad, aadlen, ct, ctlen, back, tag, &err), 0,
			   "%s: open works again after failures", t->name);
		gcm_free(g);
	}
	gcm_free(NULL);
}

/*
 * gcm_rekey: a context re-keyed (used or not yet, in either direction) seals
 * and opens exactly as a new context for the new key, and nothing of the old
 * key stays in use.
 */
static void
test_gcm_rekey(void)
{
	const gcm_vector *t = &gcm_vectors[sizeof(gcm_vectors) / sizeof(gcm_vectors[0]) - 1];
	uint8_t		k1[32], k2[32], iv[12], aad[128], pt[128];
	uint8_t		c1[128], c2[128], t1[16], t2[16], out[128], tag[16], back[128];
	size_t		aadlen, ptlen;
	pgark_err	err;
	gcm_ctx    *g1, *g2, *g;

	unhex(t->key, k1, sizeof(k1));
	unhex(t->iv, iv, sizeof(iv));
	aadlen = unhex(t->aad, aad, sizeof(aad));
	ptlen = unhex(t->pt, pt, sizeof(pt));
	memcpy(k2, k1, sizeof(k2));
	k2[0] ^= 0x5a;
	if ((g1 = gcm_new(k1, &err)) == NULL || (g2 = gcm_new(k2, &err)) == NULL ||
		gcm_seal(g1, iv, aad, aadlen, pt, ptlen, c1, t1, &err) != 0 ||
		gcm_seal(g2, iv, aad, aadlen, pt, ptlen, c2, t2, &err) != 0)
		bail_out("gcm: %s", err.msg);
	ok(memcmp(t1, t2, 16) != 0, "rekey: two keys give two tags");

	/* keyed in both directions, then re-keyed */
	g = gcm_new(k1, &err);
	ok(gcm_seal(g, iv, aad, aadlen, pt, ptlen, out, tag, &err) == 0 &&
	   gcm_open(g, iv, aad, aadlen, c1, ptlen, back, t1, &err) == 0, "rekey: a context used with key 1 both ways");
	gcm_rekey(g, k2);
	ok(gcm_seal(g, iv, aad, aadlen, pt, ptlen, out, tag, &err) == 0 &&
	   memcmp(out, c2, ptlen) == 0 && memcmp(tag, t2, 16) == 0, "... re-keyed to key 2, seals as key 2");
	ok(gcm_open(g, iv, aad, aadlen, c2, ptlen, back, t2, &err) == 0 && memcmp(back, pt, ptlen) == 0,
	   "... opens what key 2 sealed");
	ok(gcm_open_fails(g, iv, aad, aadlen, c1, ptlen, t1), "... and no longer what key 1 sealed");
	gcm_rekey(g, k1);
	ok(gcm_open(g, iv, aad, aadlen, c1, ptlen, back, t1, &err) == 0 &&
	   gcm_open_fails(g, iv, aad, aadlen, c2, ptlen, t2), "... back to key 1: key 1 opens, key 2 fails");
	gcm_free(g);

	/* re-keyed before any use, and twice in a row */
	g = gcm_new(k1, &err);
	gcm_rekey(g, k2);
	ok(gcm_open(g, iv, aad, aadlen, c2, ptlen, back, t2, &err) == 0, "rekey before first use: the new key");
	gcm_rekey(g, k1);
	gcm_rekey(g, k2);
	ok(gcm_open(g, iv, aad, aadlen, c2, ptlen, back, t2, &err) == 0 &&
	   gcm_open_fails(g, iv, aad, aadlen, c1, ptlen, t1), "rekey twice: the last key");
	gcm_free(g);
	gcm_free(g1);
	gcm_free(g2);
}

/* ------------------------------------------------------------------ HKDF-SHA256 */

static void
test_hkdf(void)
{
	/* RFC 5869, Appendix A.1-A.3 (the SHA-256 cases). */
	static const struct
	{
		const char *name;
		const char *ikm;
		const char *salt;
		const char *info;
		size_t		L;
		const char *okm;
	}			v[] = {
		{"RFC 5869 A.1 (basic)",
			"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			"000102030405060708090a0b0c",
			"f0f1f2f3f4f5f6f7f8f9",
			42,
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		"34007208d5b887185865"},
		{"RFC 5869 A.2 (longer inputs and outputs)",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
			"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
			"404142434445464748494a4b4c4d4e4f",
			"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
			"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
			"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
			"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
			"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
			"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
			82,
			"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
			"59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		"cc30c58179ec3e87c14c01d5c1f3434f1d87"},
		{"RFC 5869 A.3 (zero-length salt and info)",
			"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			"", "",
			42,
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		"9d201395faa4b61a96c8"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
	{
		uint8_t		ikm[128], salt[128], info[128], okm[128], out[128];
		size_t		ikmlen = unhex(v[i].ikm, ikm, sizeof(ikm));
		size_t		saltlen = unhex(v[i].salt, salt, sizeof(salt));
		size_t		infolen = unhex(v[i].info, info, sizeof(info));
		size_t		okmlen = unhex(v[i].okm, okm, sizeof(okm));
		pgark_err	err;
		int			rc;

		if (okmlen != v[i].L)
			bail_out("malformed vector %s", v[i].name);
		err_clear(&err);
		memset(out, 0, sizeof(out));
		rc = hkdf_sha256(saltlen ? salt : NULL, saltlen, ikm, ikmlen, infolen ? info : NULL, infolen,
						 out, v[i].L, &err);
		if (!is_int(rc, 0, "%s: hkdf_sha256 succeeds", v[i].name))
			diag("%s", err.msg);
		is_mem(out, okm, okmlen, "%s: OKM", v[i].name);
	}
}

/* ------------------------------------------------------------------ SHA-256, HMAC */

static void
test_sha256(void)
{
	uint8_t		want[32], got[32];
	pgark_err	err;
	sha256_ctx *s;
	const char *msg448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t    *million;

	/* FIPS 180-2, Appendix B.1 (one block), B.2 (multi-block), B.3 (long message) */
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
	sha256_once("abc", 3, got);
	is_mem(got, want, 32, "SHA-256 FIPS 180-2 B.1 \"abc\"");

	unhex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", want, 32);
	sha256_once(msg448, strlen(msg448), got);
	is_mem(got, want, 32, "SHA-256 FIPS 180-2 B.2 (448-bit message)");
	/* sha256_plain (no OpenSSL initialisation): the same digests */
	memset(got, 0, sizeof(got));
	sha256_plain(msg448, strlen(msg448), got);
	is_mem(got, want, 32, "sha256_plain: FIPS 180-2 B.2");
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
	sha256_plain("abc", 3, got);
	is_mem(got, want, 32, "sha256_plain: FIPS 180-2 B.1 \"abc\"");
	unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
	sha256_plain("", 0, got);
	is_mem(got, want, 32, "sha256_plain: the empty message");
	unhex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", want, 32);

	err_clear(&err);
	s = sha256_new(&err);
	if (!ok(s != NULL, "sha256_new"))
		return;
	/* incremental, fed in pieces of 1, 2, 3, ... bytes */
	for (size_t off = 0, step = 1; off < strlen(msg448); off += step, step++)
	{
		size_t		n = strlen(msg448) - off;

		sha256_update(s, msg448 + off, n < step ? n : step);
	}
	sha256_final(s, got);
	is_mem(got, want, 32, "SHA-256 B.2 incrementally in odd pieces");

	unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want, 32);
	million = malloc(1000000);
	if (million == NULL)
		bail_out("out of memory");
	memset(million, 'a', 1000000);
	sha256_once(million, 1000000, got);
	is_mem(got, want, 32, "SHA-256 FIPS 180-2 B.3 (one million 'a')");
	/* and through the context again: final resets it for reuse */
	for (size_t off = 0; off < 1000000; off += 999)
		sha256_update(s, million + off, off + 999 <= 1000000 ? 999 : 1000000 - off);
	sha256_final(s, got);
	is_mem(got, want, 32, "SHA-256 B.3 incrementally, after a reset by final");
	free(million);

	/* empty message: FIPS 180-4 examples page (SHA256 of "") */
	unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
	sha256_final(s, got);
	is_mem(got, want, 32, "SHA-256 of the empty message");
	sha256_free(s);
	sha256_free(NULL);
}

static void
test_hmac(void)
{
	uint8_t		key[32], want[32], got[32];
	pgark_err	err;
	size_t		klen;

	/* RFC 4231 section 4.2, Test Case 1 */
	klen = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", key, sizeof(key));
	unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
	err_clear(&err);
	is_int(hmac_sha256(key, klen, (const uint8_t *) "Hi There", 8, got, &err), 0, "HMAC RFC 4231 case 1 ok");
	is_mem(got, want, 32, "HMAC-SHA256 RFC 4231 test case 1");

	/* RFC 4231 section 4.3, Test Case 2 (key shorter than the block) */
	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
	is_int(hmac_sha256((const uint8_t *) "Jefe", 4,
					   (const uint8_t *) "what do ya want for nothing?", 28, got, &err), 0,
		   "HMAC RFC 4231 case 2 ok");
	is_mem(got, want, 32, "HMAC-SHA256 RFC 4231 test case 2");

	/* RFC 4231 sections 4.7 and 4.8, Test Cases 6 and 7 (a 131-byte key,
	 * longer than the block: hashed first; case 7's data spans blocks) */
	{
		uint8_t		longkey[131];
		const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
		const char *d7 = "This is a test using a larger than block-size key and a larger than block-size data. "
			"The key needs to be hashed before being used by the HMAC algorithm.";

		memset(longkey, 0xaa, sizeof(longkey));
		unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
		is_int(hmac_sha256(longkey, sizeof(longkey), (const uint8_t *) d6, strlen(d6), got, &err), 0,
			   "HMAC RFC 4231 case 6 ok");
		is_mem(got, want, 32, "HMAC-SHA256 RFC 4231 test case 6 (key longer than a block)");
		unhex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", want, 32);
		is_int(hmac_sha256(longkey, sizeof(longkey), (const uint8_t *) d7, strlen(d7), got, &err), 0,
			   "HMAC RFC 4231 case 7 ok");
		is_mem(got, want, 32, "HMAC-SHA256 RFC 4231 test case 7 (long key, long data)");
		/* a key of exactly one block is used as it is (the value from
		 * `openssl dgst -sha256 -mac HMAC -macopt hexkey:0b...0b`) */
		memset(longkey, 0x0b, 64);
		unhex("b5b92a3baedea2988c13cc7a4826aabd9b77ab42dfcb54a29fa40923191de8d6", want, 32);
		is_int(hmac_sha256(longkey, 64, (const uint8_t *) "sixty-four", 10, got, &err), 0,
			   "HMAC with a 64-byte key ok");
		is_mem(got, want, 32, "HMAC-SHA256 with a key of exactly one block");
	}
}

/* ------------------------------------------------------------------ XXH64 */

static void
test_xxh64(void)
{
	/*
	 * The xxHash specification publishes no test vectors. These values were
	 * computed with the reference implementation: Debian's xxhash 0.8.1
	 * (`printf %s STRING | xxhsum -H64` for seed 0) and libxxhash 0.8.1's
	 * XXH64(data, len, seed) for the other seeds.
	 */
	static const struct
	{
		const char *s;
		uint64_t	seed;
		uint64_t	want;
	}			v[] = {
		{"", 0, UINT64_C(0xef46db3751d8e999)},
		{"a", 0, UINT64_C(0xd24ec4f1a98c6e5b)},
		{"abc", 0, UINT64_C(0x44bc2cf5ad770999)},
		{"message digest", 0, UINT64_C(0x066ed728fceeb3be)},
		{"abcdefghijklmnopqrstuvwxyz", 0, UINT64_C(0xcfe1f278fa89835c)},
		{"The quick brown fox jumps over the lazy dog", 0, UINT64_C(0x0b242d361fda71bc)},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890", 0,
		UINT64_C(0xe04a477f19ee145d)},
		{"", 1, UINT64_C(0xd5afba1336a3be4b)},
		{"", 2654435761u, UINT64_C(0xac75fda2929b17ef)},
		{"a", 2654435761u, UINT64_C(0x393da8b78992279b)},
		{"abc", 1, UINT64_C(0xbea9ca8199328908)},
		{"The quick brown fox jumps over the lazy dog", 1, UINT64_C(0xdf5091b6dad2c6db)},
		{"The quick brown fox jumps over the lazy dog", UINT64_C(0x9E3779B97F4A7C15),
		UINT64_C(0x7cfac66832f66b74)},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		2654435761u, UINT64_C(0x6ce04b7d2aed6957)},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		is_uint(xxh64(v[i].s, strlen(v[i].s), v[i].seed), v[i].want,
				"xxh64(\"%.20s%s\" (%zu bytes), seed %llu)", v[i].s, strlen(v[i].s) > 20 ? "..." : "",
				strlen(v[i].s), (unsigned long long) v[i].seed);

	/*
	 * A 2367-byte buffer, byte i = top byte of g_i with g_0 = 2654435761 and
	 * g_{i+1} = g_i^2 mod 2^32; values from libxxhash 0.8.1 XXH64().
	 */
	{
		static const struct
		{
			size_t		len;
			uint64_t	seed0;
			uint64_t	seedp;
		}			b[] = {
			{1, UINT64_C(0x4fce394cc88952d8), UINT64_C(0x739840cb819fa723)},
			{14, UINT64_C(0xcffa8db881bc3a3d), UINT64_C(0x5b9611585efcc9cb)},
			{222, UINT64_C(0x9dd507880debb03d), UINT64_C(0xdc515172b8ee0600)},
			{2367, UINT64_C(0x2e717c2bb15c0a8a), UINT64_C(0xf7b7f152e920c87c)},
		};
		uint8_t		buf[2367];
		uint32_t	g = 2654435761u;

		for (size_t i = 0; i < sizeof(buf); i++)
		{
			buf[i] = (uint8_t) (g >> 24);
			g *= g;
		}
		for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		{
			is_uint(xxh64(buf, b[i].len, 0), b[i].seed0, "xxh64 generated buffer, %zu bytes, seed 0", b[i].len);
			is_uint(xxh64(buf, b[i].len, 2654435761u), b[i].seedp,
					"xxh64 generated buffer, %zu bytes, seed 2654435761", b[i].len);
		}

		/* incremental == one-shot, whatever the piece sizes */
		for (uint64_t seed = 0; seed < 2; seed++)
		{
			static const size_t pieces[] = {1, 3, 7, 31, 32, 33, 5, 64, 13, 100, 2};
			uint64_t	one = xxh64(buf, sizeof(buf), seed * 2654435761u);
			int			same = 1;

			for (size_t start = 0; start < 40; start++)
			{
				xxh64_state st;
				size_t		off = 0, k = start;

				xxh64_init(&st, seed * 2654435761u);
				while (off < sizeof(buf))
				{
					size_t		n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];

					if (n > sizeof(buf) - off)
						n = sizeof(buf) - off;
					xxh64_update(&st, buf + off, n);
					xxh64_update(&st, buf + off, 0);
					off += n;
				}
				same &= xxh64_digest(&st) == one;
				same &= xxh64_digest(&st) == one;	/* digest does not consume */
			}
			ok(same, "xxh64 incremental in odd pieces (40 patterns) equals one-shot, seed %llu",
			   (unsigned long long) (seed * 2654435761u));
		}
		/* every prefix length below 100 (all tail paths), byte by byte */
		{
			int			same = 1;

			for (size_t len = 0; len < 100; len++)
			{
				xxh64_state st;

				xxh64_init(&st, 7);
				for (size_t i = 0; i < len; i++)
					xxh64_update(&st, buf + i, 1);
				same &= xxh64_digest(&st) == xxh64(buf, len, 7);
			}
			ok(same, "xxh64 fed byte by byte equals one-shot for every length 0..99");
		}
	}
}

static void
test_random(void)
{
	uint8_t		a[32], b[32], zero[32] = {0};
	pgark_err	err;

	err_clear(&err);
	is_int(random_bytes(a, sizeof(a), &err), 0, "random_bytes");
	is_int(random_bytes(b, sizeof(b), &err), 0, "random_bytes again");
	ok(memcmp(a, b, 32) != 0 && memcmp(a, zero, 32) != 0, "two random draws differ and are not zero");
}

int
main(void)
{
	test_gcm();
	test_gcm_rekey();
	test_hkdf();
	test_sha256();
	test_hmac();
	test_xxh64();
	test_random();
	return done_testing();
}
