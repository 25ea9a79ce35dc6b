
# 021_repo_check.pl — repo-check on a healthy and on broken setups, every
# backend: no backup yet (CRITICAL) and no verify recorded (WARNING); healthy
# after a base backup and repo-verify (exit 0, every check OK, the
# Prometheus file whole, no temporary file left); an old backup (WARNING,
# then CRITICAL); the master key older than rotate_after (WARNING); the key
# file readable by others (CRITICAL, naming the mode); the last verify found
# damage (CRITICAL); archiving failing (CRITICAL); no conninfo (skipped);
# free space (local); the repository unreachable (CRITICAL); the server down
# (CRITICAL); a bad configuration and a bad option (3 UNKNOWN). Logical
# dumps: none (OK, also with dump_max_age set), the newest full dump's age
# per database (message, Prometheus gauge), WARNING past [check]
# dump_max_age naming the database (a newer --schema-only dump, or data
# without meta, does not count), the globals' age as pg.globals, a bad
# dump_max_age refused.
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary');
$node->start;
my $dir = $env->{dir};

# the test machine's disk may be nearly full: the healthy runs ask little
my $conf = env_variant($env, "$dir/check.conf", { check => { free_warn => '1M', free_crit => '1K' } });

sub check
{
	my ($c, @args) = @_;
	my $r = run_pgark('repo-check', '--config', $c, '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	$r->{by} = { map { $_->{name} => $_ } @{ $r->{json}{checks} // [] } };
	return $r;
}

sub variant
{
	my ($name, $changes) = @_;
	my %c = (check => { free_warn => '1M', free_crit => '1K', %{ delete $changes->{check} // {} } }, %$changes);
	return env_variant($env, "$dir/$name.conf", \%c);
}

# --- nothing backed up yet
my $r = check($conf);
is($r->{rc}, 2, 'no backup yet: exit 2 (CRITICAL)') or diag show($r);
is($r->{json}{status}, 'CRITICAL', '... status CRITICAL');
is($r->{by}{backup}{status}, 'CRITICAL', '... the backup check');
like($r->{by}{backup}{message}, qr/no backup/, '... saying there is none');
is($r->{by}{verify}{status}, 'WARNING', 'no verify recorded: WARNING');
like($r->{by}{verify}{message}, qr/no repo-verify result/, '... saying so');

# --- healthy
my $b1 = base_push($env->{conf}, '--fast');
is($b1->{rc}, 0, 'base-push') or diag $b1->{stderr};
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
my $v = run_pgark('repo-verify', '--config', $env->{conf});
is($v->{rc}, 0, 'repo-verify') or diag show($v);
ok(repo_object_exists($env, 'status/verify'), '... recorded status/verify');

my $promdir = PostgreSQL::Test::Utils::tempdir('prom');
my $prom = "$promdir/pgark.prom";
$r = check($conf, '--prometheus', $prom);
is($r->{rc}, 0, 'healthy: exit 0') or diag show($r);
is($r->{json}{status}, 'OK', '... status OK');
my @names = map { $_->{name} } @{ $r->{json}{checks} };
my @expect = qw(repository key key_age archiver backup wal verify drill dumps);
push @expect, 'free_space' if backend_is_local();
is_deeply([ sort @names ], [ sort @expect ], '... the checks: ' . join(' ', @names));
is_deeply([ grep { $_->{status} ne 'OK' } @{ $r->{json}{checks} } ], [], '... every one OK');
like($r->{by}{backup}{message}, qr/\Q$b1->{json}{backup_id}\E/, '... naming the newest backup');
is($r->{by}{backup}{warn}, 26 * 3600, '... default backup_warn 26h');
is($r->{by}{backup}{crit}, 50 * 3600, '... default backup_crit 50h');
like($r->{by}{key_age}{message}, qr/skipped: \[crypto\] rotate_after is not set/, '... key age skipped without rotate_after');
like($r->{by}{wal}{message}, qr/the server's last archived one is there/, '... the last archived segment is in the repository');
ok(!repo_list_objects($env, 'check/'), '... no probe object left');

# the Prometheus file: whole, parsed, no temporary file beside it
{
	my $text = slurp_file($prom);
	my (%val, @bad);
	for my $line (split /\n/, $text)
	{
		next if $line =~ /^# (HELP|TYPE) /;
		if ($line =~ /^([a-z_]+(?:\{check="[a-z_]+"\})?) (-?\d+(?:\.\d+)?)$/) { $val{$1} = $2 }
		else { push @bad, $line }
	}
	is_deeply(\@bad, [], 'the Prometheus file parses line by line');
	like($text, qr/\n\z/, '... ends with a newline');
	is($val{'pgark_check_status{check="backup"}'}, 0, '... pgark_check_status{check="backup"} 0');
	is($val{pgark_status}, 0, '... pgark_status 0');
	ok(defined $val{pgark_last_backup_age_seconds}, '... pgark_last_backup_age_seconds');
	is($val{pgark_last_verify_ok}, 1, '... pgark_last_verify_ok 1');
	ok(defined $val{pgark_last_verify_age_seconds}, '... pgark_last_verify_age_seconds');
	ok(defined $val{pgark_archive_lag_seconds}, '... pgark_archive_lag_seconds');
	is(defined $val{pgark_repo_free_bytes}, backend_is_local() ? 1 : '', '... pgark_repo_free_bytes on local only');
	is_deeply([ list_dir($promdir) ], ['pgark.prom'], '... and nothing else in its directory');
}

# the human form
{
	my $t = run_pgark('repo-check', '--config', $conf);
	is($t->{rc}, 0, 'the human form: exit 0');
	like($t->{stdout}, qr/\APGARK OK - \d+ checks ok \|.*backup=\d+s;93600;180000/, '... Nagios first line with perfdata');
	like($t->{stdout}, qr/^OK +backup +newest usable backup/m, '... a line per check');
}

# --- logical dumps: the newest one's age per database
$r = check(variant('dumpage0', { check => { dump_max_age => '1s' } }));
is($r->{by}{dumps}{status}, 'OK', 'no dump, dump_max_age 1s: dumps OK') or diag explain $r->{by}{dumps};
like($r->{by}{dumps}{message}, qr/no logical dump in the repository/, '... saying there is none');
{
	my $bad = variant('dumpagebad', { check => { dump_max_age => 'often' } });
	my $b = run_pgark('repo-check', '--config', $bad);
	is($b->{rc}, 3, '[check] dump_max_age = often: UNKNOWN (exit 3)') or diag show($b);
	like($b->{stderr}, qr/dump_max_age/, '... naming the setting');
}
$node->safe_psql('postgres', 'CREATE DATABASE dumped');
for my $db (qw(dumped postgres))
{
	my $d = run_pgark('dump-push', '--config', $env->{conf}, '--db', $db);
	is($d->{rc}, 0, "dump-push --db $db") or diag show($d);
}
{
	my $dprom = "$promdir/dumps.prom";
	$r = check($conf, '--prometheus', $dprom);
	is($r->{by}{dumps}{status}, 'OK', 'dumps of two databases: dumps OK') or diag explain $r->{by}{dumps};
	like($r->{by}{dumps}{message}, qr/newest full dump of each database: dumped \d+s ago, postgres \d+s ago$/,
		'... each database\'s newest dump and its age');
	ok(defined $r->{by}{dumps}{value} && $r->{by}{dumps}{value} < 600, '... the value: the oldest of them (' . ($r->{by}{dumps}{value} // 'none') . ')');
	my %val = map { /^pgark_last_dump_age_seconds\{database="(\w+)"\} (\d+)$/ ? ($1 => $2) : () } split /\n/, slurp_file($dprom);
	is_deeply([ sort keys %val ], [qw(dumped postgres)], '... Prometheus: pgark_last_dump_age_seconds{database=...} for each');
}
# a margin: postgres's new dump must be well within dump_max_age when
# checked, dumped's well past it
sleep 6;
my $d2 = run_pgark('dump-push', '--config', $env->{conf}, '--db', 'postgres');
is($d2->{rc}, 0, 'a newer dump of postgres') or diag show($d2);
$r = check(variant('dumpage1', { check => { dump_max_age => '4s' } }));
is($r->{rc}, 1, 'the newest dump of one database older than dump_max_age: exit 1') or diag show($r);
is($r->{by}{dumps}{status}, 'WARNING', '... dumps WARNING');
like($r->{by}{dumps}{message}, qr/the newest full dump of 1 database is older than \[check\] dump_max_age = 4s: dumped \d+s ago; the others: postgres \d+s ago/,
	'... naming the database and the setting; not the one dumped since');
is($r->{by}{dumps}{warn}, 4, '... the threshold');
# a --schema-only dump of dumped since, and the data of a dump-push that
# died before its meta: neither is a full dump, dumped stays stale
{
	my $s = run_pgark('dump-push', '--config', $env->{conf}, '--db', 'dumped', '--schema-only');
	is($s->{rc}, 0, 'a --schema-only dump of dumped') or diag show($s);
	my @t = gmtime(time);
	my $id = sprintf('%04d%02d%02dT%02d%02d%02dZ-dead', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
	repo_write_object($env, "dumps/dumped/$id/data", 'not a dump');
	$r = check(variant('dumpage3', { check => { dump_max_age => '4s' } }));
	is($r->{by}{dumps}{status}, 'WARNING', '... dumps still WARNING') or diag explain $r->{by}{dumps};
	like($r->{by}{dumps}{message}, qr/older than \[check\] dump_max_age = 4s: dumped (\d+)s ago \(schema-only \d+s ago\)/,
		'... the full dump\'s age counts; the schema-only one named beside it');
	ok($r->{by}{dumps}{message} =~ /dumped (\d+)s ago/ && $1 >= 6, "... dumped's age is its full dump's ($1 s)");
	repo_remove_object($env, "dumps/dumped/$id/data");
}
# the globals' newest dump is reported too, as pg.globals
{
	my $g = run_pgark('dump-push', '--config', $env->{conf}, '--globals');
	is($g->{rc}, 0, 'dump-push --globals') or diag show($g);
	$r = check($conf);
	like($r->{by}{dumps}{message}, qr/pg\.globals \d+s ago/, '... its age reported as pg.globals') or diag explain $r->{by}{dumps};
}
$r = check(variant('dumpage2', { check => { dump_max_age => '1d' } }));
is($r->{by}{dumps}{status}, 'OK', 'within dump_max_age 1d: OK');
like($r->{by}{dumps}{message}, qr/\(within \[check\] dump_max_age = 1d 0h\)/, '... saying so');

# --- an old backup
sleep 2;
$r = check(variant('old1', { check => { backup_warn => '1s' } }));
is($r->{rc}, 1, 'backup older than backup_warn: exit 1') or diag show($r);
is($r->{by}{backup}{status}, 'WARNING', '... backup WARNING');
like($r->{by}{backup}{message}, qr/older than \[check\] backup_warn = 1s/, '... naming the threshold');
$r = check(variant('old2', { check => { backup_warn => '1s', backup_crit => '1s' } }));
is($r->{rc}, 2, 'older than backup_crit: exit 2');
is($r->{by}{backup}{status}, 'CRITICAL', '... backup CRITICAL');

# --- master key older than rotate_after
$r = check(variant('rot', { crypto => { rotate_after => '1s' } }));
is($r->{rc}, 1, 'master key older than rotate_after: exit 1') or diag show($r);
is($r->{by}{key_age}{status}, 'WARNING', '... key_age WARNING');
like($r->{by}{key_age}{message}, qr/rotate_after = 1s.*key-rotate/, '... saying to rotate');
$r = check(variant('rot2', { crypto => { rotate_after => '30d' } }));
is($r->{by}{key_age}{status}, 'OK', 'within rotate_after: OK');

# --- the key file readable by others
chmod 0644, $env->{key} or die "chmod: $!";
$r = check($conf);
is($r->{rc}, 2, 'key file mode 0644: exit 2') or diag show($r);
is($r->{by}{key}{status}, 'CRITICAL', '... key CRITICAL');
like($r->{by}{key}{message}, qr/mode 0644/, '... naming the mode');
chmod 0600, $env->{key} or die "chmod: $!";
is(check($conf)->{rc}, 0, 'mode 0600 again: exit 0');

# --- the last verify found damage
{
	my @packs = sort grep { m{^packs/../[0-9a-f]+$} } repo_list_objects($env, 'packs/');
	my $pack = $packs[0];
	my $orig = repo_read_object($env, $pack);
	my $bad = $orig;
	substr($bad, int(length($bad) / 2), 1) ^= "\x40";
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $bad);
	is(run_pgark('repo-verify', '--config', $env->{conf})->{rc}, 1, 'repo-verify finds a flipped byte');
	$r = check($conf);
	is($r->{rc}, 2, 'the last verify found damage: exit 2') or diag show($r);
	is($r->{by}{verify}{status}, 'CRITICAL', '... verify CRITICAL');
	like($r->{by}{verify}{message}, qr/found \d+ problem.*\Q$pack\E/, '... naming the problem');
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $orig);
	is(run_pgark('repo-verify', '--config', $env->{conf})->{rc}, 0, 'repaired, verified again');
	is(check($conf)->{rc}, 0, '... exit 0 again');
	$r = check(variant('vage', { check => { verify_max_age => '1s' } }));
	sleep 2;
	$r = check(variant('vage', { check => { verify_max_age => '1s' } }));
	is($r->{by}{verify}{status}, 'WARNING', 'verify older than verify_max_age: WARNING');

	# damage in an older backup found by --all is not cleared by a later
	# run that checks only the newest backup
	my $b2 = base_push($env->{conf}, '--fast');
	is($b2->{rc}, 0, 'a second backup') or diag $b2->{stderr};
	my $id1 = $b1->{json}{backup_id};
	my $man = "base/$id1/manifest";
	my $morig = repo_read_object($env, $man);
	my $mbad = $morig;
	substr($mbad, int(length($mbad) / 2), 1) ^= "\x40";
	repo_remove_object($env, $man);
	repo_write_object($env, $man, $mbad);
	is(run_pgark('repo-verify', '--config', $env->{conf}, '--all')->{rc}, 1, 'repo-verify --all: the older backup damaged');
	is(run_pgark('repo-verify', '--config', $env->{conf})->{rc}, 0, 'repo-verify of the newest: sound');
	$r = check($conf);
	is($r->{by}{verify}{status}, 'CRITICAL', '... the older backup\'s damage is still on record: CRITICAL') or diag show($r);
	like($r->{by}{verify}{message}, qr/\Q$id1\E/, '... naming it');
	repo_remove_object($env, $man);
	repo_write_object($env, $man, $morig);
	is(run_pgark('repo-verify', '--config', $env->{conf}, '--all')->{rc}, 0, 'repaired: --all sound');
	is(check($conf)->{by}{verify}{status}, 'OK', '... verify OK again');
}

# --- free space (local)
SKIP:
{
	skip 'free space is a local repository\'s', 3 unless backend_is_local();
	$r = check(variant('full', { check => { free_warn => '100%', free_crit => '100%' } }));
	is($r->{by}{free_space}{status}, 'CRITICAL', 'free below free_crit: CRITICAL') or diag show($r);
	like($r->{by}{free_space}{message}, qr/below free_crit = 100%/, '... naming the threshold');
	my $h = run_pgark('repo-check', '--config', $conf);
	like($h->{stdout}, qr/ free_space=\d+B;\d+:;\d+:( |$)/m, 'perfdata: free space alerts below its thresholds ("N:")');
}

# --- no conninfo: the archiver check is skipped, and says so
$r = check(variant('noconn', { postgres => { conninfo => undef } }));
is($r->{rc}, 0, 'no conninfo: exit 0') or diag show($r);
like($r->{by}{archiver}{message}, qr/skipped: \[postgres\] conninfo is not set/, '... archiver skipped, saying why');

# --- archiving failing
SKIP:
{
	skip 'archive_command is not used with archive_library', 5 if archiver_is_library();
	$node->safe_psql('postgres', q{ALTER SYSTEM SET archive_command = 'false'; SELECT pg_reload_conf()});
	switch_wal($node);
	# (a second after the last success: repo-check compares whole seconds)
	ok($node->poll_query_until('postgres',
			q{SELECT failed_count > 0 AND last_failed_time >= last_archived_time + interval '1 second' FROM pg_stat_archiver}),
		'archive_command fails');
	$r = check($conf);
	is($r->{rc}, 1, 'archiving failing, WAL waiting less than archive_lag_crit: exit 1 (WARNING)') or diag show($r);
	like($r->{by}{archiver}{message}, qr/archiving fails: \d+ failures/, '... counting failures');
	sleep 2;
	$r = check(variant('lagcrit', { check => { archive_lag_warn => '1s', archive_lag_crit => '1s' } }));
	is($r->{rc}, 2, '... WAL waiting longer than archive_lag_crit: exit 2 (CRITICAL)') or diag show($r);
	is($r->{by}{archiver}{status}, 'CRITICAL', '... the archiver check');
	$node->safe_psql('postgres', q{ALTER SYSTEM RESET archive_command; SELECT pg_reload_conf()});
	ok($node->poll_query_until('postgres', q{SELECT last_archived_time > last_failed_time FROM pg_stat_archiver}),
		'archiving works again');
}

# --- the repository unreachable
if (backend_is_local())
{
	rename($env->{repo}, "$env->{repo}.away") or die "rename: $!";
	$r = check($conf);
	is($r->{rc}, 2, 'repository directory gone: exit 2') or diag show($r);
	is($r->{by}{repository}{status}, 'CRITICAL', '... repository CRITICAL');
	ok(!-e $env->{repo}, '... and not re-created by the probe');
	rename("$env->{repo}.away", $env->{repo}) or die "rename: $!";
}
else
{
	$r = check(variant('nobucket', { repo => { bucket => 'pgark-no-such-bucket' } }));
	is($r->{rc}, 2, 'a bucket that does not exist: exit 2') or diag show($r);
	is($r->{by}{repository}{status}, 'CRITICAL', '... repository CRITICAL');
}

# --- bad configuration and usage: 3 UNKNOWN
$r = run_pgark('repo-check', '--config', variant('bad', { check => { backup_warn => 'soon' } }));
is($r->{rc}, 3, 'a bad configuration: exit 3') or diag show($r);
like($r->{stderr}, qr/\[check\] backup_warn: "soon" is not a duration/, '... naming the setting');
is(run_pgark('repo-check', '--config', $conf, '--no-such-option')->{rc}, 3, 'a bad option: exit 3');
$r = run_pgark('repo-check', '--config', "$dir/missing.conf");
is($r->{rc}, 3, 'a missing configuration file: exit 3');
like($r->{stdout}, qr/^PGARK UNKNOWN - /, '... and Nagios gets a first line');

# --- the server down
$node->stop;
$r = check($conf);
is($r->{rc}, 2, 'the server down: exit 2') or diag show($r);
is($r->{by}{archiver}{status}, 'CRITICAL', '... archiver CRITICAL');
like($r->{by}{archiver}{message}, qr/could not connect/, '... saying it cannot connect');

done_testing();
