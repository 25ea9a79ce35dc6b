/*
 * key-gen — create a master key file: 32 random bytes, mode 0600, never
 * overwriting an existing file.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "keyring.h"
#include "prog.h"
#include "util.h"

int
main(int argc, char **argv)
{
	prog		p = {
		.name = "key-gen",
		.kind = PROG_PLAIN,
		.usage = "KEYFILE",
		.help = "Create a new master key: 32 random bytes in KEYFILE, mode 0600.\n"
		"An existing file is never overwritten. Keep a copy of the key somewhere\n"
		"safe and apart from the repository: without it nothing can be restored.",
	};
	pgark_err	err;
	char		dir[PATH_MAX];
	struct stat sb;
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, NULL, NULL, NULL)) >= 0)
		return rc;
	if (p.argc != 1)
		return prog_usage_error(&p, "expected the path of the key file to create");
	path_dirname(p.argv[0], dir, sizeof(dir));
	if (stat(dir, &sb) != 0 && mkdir_p(dir, 0700, &err) != 0)
		return prog_fail(&p, &err);
	if (kek_generate_file(p.argv[0], &err) != 0)
		return prog_fail(&p, &err);
	{
		uint8_t		kek[KEK_LEN];
		pgark_config cfg;
		keyring    *kr;

		/* show the fingerprint that repo-init and key errors will name */
		config_defaults(&cfg);
		snprintf(cfg.key_file, sizeof(cfg.key_file), "%s", p.argv[0]);
		kr = keyring_open(&cfg, NULL, &err);
		if (kr == NULL)
			return prog_fail(&p, &err);
		log_info("created master key %s (mode 0600, fingerprint %s); keep a copy apart from the repository",
				 p.argv[0], keyring_kek_fingerprint(kr));
		keyring_free(kr);
		secure_zero(kek, sizeof(kek));
	}
	return prog_success(&p);
}
