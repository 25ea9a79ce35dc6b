/*
 * key-rotate — change the master key, retire an old one, or start a new data
 * key. Data is never rewritten: only the 116-byte data key objects are.
 *
 *   key-rotate --new-key FILE   every data key re-wrapped under the master key
 *                               in FILE; the configured (old) key keeps working
 *                               until it is retired
 *   key-rotate --retire FPR     the copies wrapped by the master key with that
 *                               fingerprint removed: it opens nothing any more
 *   key-rotate --new-data-key   a new data key for new objects
 */
#include <stdio.h>
#include <string.h>

#include "keyring.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static const char *opt_new_key, *opt_retire;
static int	opt_new_dek;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 1100:
			opt_new_key = arg;
			break;
		case 1101:
			opt_retire = arg;
			break;
		case 1102:
			opt_new_dek = 1;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"new-key", required_argument, NULL, 1100},
		{"retire", required_argument, NULL, 1101},
		{"new-data-key", no_argument, NULL, 1102},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "key-rotate",
		.kind = PROG_PLAIN,
		.usage = "--new-key FILE | --retire FINGERPRINT | --new-data-key",
		.help = "Rotate keys; data is never rewritten.\n"
		"\nOptions (exactly one):\n"
		"      --new-key FILE         re-wrap every data key under the master key in FILE\n"
		"                             (mode 0600 or stricter); the configured key keeps\n"
		"                             working until retired. Then set [crypto] key_file to FILE.\n"
		"      --retire FINGERPRINT   remove the copies wrapped by that old master key\n"
		"      --new-data-key         start a new data key for new objects",
	};
	pgark_err	err;
	repo	   *r;
	int			rc = 0;
	char		where[1200];

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if ((opt_new_key != NULL) + (opt_retire != NULL) + opt_new_dek != 1)
		return prog_usage_error(&p, "give exactly one of --new-key, --retire, --new-data-key");
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	config_repo_where(&p.cfg, where, sizeof(where));
	rc = 0;
	if (opt_new_key)
	{
		uint8_t		kek[KEK_LEN];
		char		fpr[2 * KEK_FPR_LEN + 1];
		int			done = 0, skipped = 0;

		if (kek_read_file(opt_new_key, kek, &err) != 0 || kek_fingerprint_hex(kek, fpr, &err) != 0 ||
			keyring_rotate(r->kr, kek, &done, &skipped, &err) != 0)
			rc = -1;
		secure_zero(kek, sizeof(kek));
		if (rc == 0)
		{
			char		detail[200];

			snprintf(detail, sizeof(detail), "from master key %s to %s: %d re-wrapped, %d already",
					 keyring_kek_fingerprint(r->kr), fpr, done, skipped);
			prog_audit(&p, "key-rotate", where, "ok", detail, 0, 0);
			log_info("re-wrapped %d data key%s of %s under the master key %s (%d already were); "
					 "set [crypto] key_file to %s. The old key (%s) still opens them until "
					 "`key-rotate --retire %s`.", done, done == 1 ? "" : "s", where, fpr, skipped, opt_new_key,
					 keyring_kek_fingerprint(r->kr), keyring_kek_fingerprint(r->kr));
		}
	}
	else if (opt_retire)
	{
		int			removed = 0;

		if (keyring_retire(r->kr, opt_retire, &removed, &err) != 0)
			rc = -1;
		else
		{
			prog_audit(&p, "key-retire", where, "ok", opt_retire, 0, 0);
			log_info("retired master key %s: %d copies of data keys removed; it opens nothing in %s any more",
					 opt_retire, removed, where);
		}
	}
	else
	{
		if (repo_new_data_key(r, &err) != 0)
			rc = -1;
		else
		{
			char		hex[2 * OBJ_DEK_ID_LEN + 1];

			hex_encode(r->meta.data_key, OBJ_DEK_ID_LEN, hex);
			prog_audit(&p, "key-new-data-key", where, "ok", hex, 0, 0);
			log_info("new objects in %s are sealed with data key %s; older ones keep theirs", where, hex);
		}
	}
	if (rc != 0)
	{
		prog_audit(&p, opt_new_key ? "key-rotate" : opt_retire ? "key-retire" : "key-new-data-key", where,
				   err_kind_name(err.kind), err.msg, 0, 0);
		rc = prog_fail(&p, &err);
	}
	repo_close(r);
	if (rc == 0)
		prog_success(&p);
	return rc;
}
