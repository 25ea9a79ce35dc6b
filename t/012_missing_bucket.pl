
# 012_missing_bucket.pl — a repository that is not there is an error, never
# "WAL not found" (README: S3 repositories). A typo in [repo] bucket (S3: 404
# NoSuchBucket) or in [repo] prefix / path (the location exists but holds no
# pgark.repo) must not make PostgreSQL end recovery early and promote:
#  - wal-fetch exits 200, also under standby.signal, says why and writes
#    nothing at DEST, even for a name that exists in the real repository;
#  - a real archive recovery with such a restore_command stops (FATAL, no new
#    timeline) and, once the configuration is fixed, resumes and completes;
#  - wal-push exits 1 (never 0): the archiver (archive_command, or
#    pgark_archive.so under PGARK_TEST_ARCHIVER=library) keeps the segment and
#    archives it once the configuration is fixed;
#  - base-push exits non-zero and leaves nothing;
#  - repo-init (S3) refuses a missing bucket, naming it, and creates no bucket.
# On every backend. S3: the bucket "pgark-no-such-bucket-PID" of the pass's
# server, and an empty prefix of the pass's bucket. Local: the analogues, a
# repository directory that does not exist (under a missing parent) and an
# empty directory; repo-init is S3 only there (on local storage it creates the
# repository's directory by design).
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $s3 = backend_is_s3();

my ($node, $env) = backup_cluster('mb', conf => "wal_keep_size = '1GB'\nshared_buffers = '16MB'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});
$node->backup('b1');    # pg_basebackup, for the recovery of part 4
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1001, 20000) g});
my $seg = switch_wal($node);
ok(wait_for_archive($node, $seg), "archived up to $seg into the real repository");
ok(repo_object_exists($env, wal_object_name($seg)), "sanity: $seg is in the real repository");

# --- the configurations ------------------------------------------------------
# (both copies of $env's: same key, [postgres] and audit log; only [repo] differs)
my $missing = "pgark-no-such-bucket-$$";
my $nb_dir = "$env->{dir}/no-such-dir/repo";
my $nb_conf = env_variant($env, "$env->{dir}/no-bucket.conf",
	{ repo => $s3 ? { bucket => $missing } : { path => $nb_dir } });
my $nb_re = $s3
  ? qr/HTTP 404 NoSuchBucket .*there is no bucket "\Q$missing\E" at/
  : qr/repository directory \Q$nb_dir\E does not exist/;
my $nb_what = $s3 ? "a bucket that does not exist ($missing)" : 'a repository directory that does not exist';

# the location exists but holds no repository: an empty prefix of the pass's
# bucket, an empty directory
my $empty_dir = "$env->{dir}/empty";
make_path($empty_dir) unless $s3;
my $empty_repo = repo_config($empty_dir);
my $empty_conf = env_variant($env, "$env->{dir}/empty.conf", { repo => $empty_repo });
my $envE = { %$env, conf => $empty_conf, repo => $empty_dir, sections => { %{ $env->{sections} }, repo => $empty_repo } };
$envE->{where} = repo_where($envE);
my $empty_re = qr/\Q$envE->{where}\E is not a pgark repository \(no pgark\.repo\)/;
is_deeply([ repo_list_all($envE, '') ], [], "sanity: $envE->{where} holds nothing");

# S3: is there a bucket $missing? Asked with curl (ListObjects, signed), not
# through pgark's own code: 404 NoSuchBucket while there is none.
sub bucket_missing
{
	my $c = $env->{sections}{repo};
	my $r = run_cmd('curl', '-sS', '-w', '\n%{http_code}', '--aws-sigv4', "aws:amz:$c->{region}:s3",
		'--user', "$c->{access_key}:$c->{secret_key}",
		'-H', 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
		(defined $c->{ca_file} ? ('--cacert', $c->{ca_file}) : ()), "$c->{endpoint}/$missing?list-type=2");
	my $missing_now = $r->{rc} == 0 && $r->{stdout} =~ /NoSuchBucket.*\n404$/s;
	diag show($r) unless $missing_now;
	return $missing_now;
}
ok(bucket_missing(), "sanity: there is no bucket $missing") if $s3;

# nothing was created where the configuration points
sub nothing_created
{
	my ($who) = @_;
	if ($s3) { ok(bucket_missing(), "$who created no bucket $missing") }
	else { ok(!-e "$env->{dir}/no-such-dir", "$who created no directory (not even the parent)") }
	return;
}

# --- 1. wal-fetch ------------------------------------------------------------
note '1. wal-fetch: 200, also under standby.signal, nothing at DEST';
my $dest_dir = "$env->{dir}/dest";
make_path($dest_dir);
# PostgreSQL runs restore_command in the data directory: standby.signal is
# looked for there
my $fake_standby = "$env->{dir}/standby-pgdata";
make_path($fake_standby);
write_bytes("$fake_standby/standby.signal", '');

sub fetch_fails
{
	my ($conf, $re, $what) = @_;
	# an archived segment, a timeline history file (the first thing recovery
	# asks for, where "not found" would be the normal answer), a name that
	# is nowhere
	for my $name ($seg, '00000002.history', '0000000100000000000000FE')
	{
		for my $standby (0, 1)
		{
			my $how = "$what: wal-fetch $name" . ($standby ? ' under standby.signal' : '');
			my $r = run_pgark({ $standby ? (cwd => $fake_standby) : () },
				'wal-fetch', '--config', $conf, $name, "$dest_dir/$name");
			is($r->{rc}, 200, "$how exits 200 (not 1: recovery must not end here)") or diag show($r);
			like($r->{stderr}, $re, "$how says why");
			is_deeply([ list_dir($dest_dir) ], [], "$how leaves nothing at DEST");
		}
	}
	return;
}
fetch_fails($nb_conf, $nb_re, $nb_what);
fetch_fails($empty_conf, $empty_re, 'a location without pgark.repo');

# the same location holding an archived segment but still no pgark.repo (a
# prefix or path that names a copy, or a parent, of a repository): still 200
repo_write_object($envE, wal_object_name($seg), repo_read_object($env, wal_object_name($seg)));
{
	my $r = run_pgark('wal-fetch', '--config', $empty_conf, $seg, "$dest_dir/$seg");
	is($r->{rc}, 200, "a location holding $seg but no pgark.repo: wal-fetch exits 200") or diag show($r);
	like($r->{stderr}, $empty_re, '... saying it is not a pgark repository');
	is_deeply([ list_dir($dest_dir) ], [], '... and delivers nothing');
}
nothing_created('wal-fetch');

# --- 2. wal-push -------------------------------------------------------------
note '2. wal-push: 1, never 0; the archiver keeps the segment';
{
	my $copy = "$env->{dir}/$seg";
	write_bytes($copy, slurp_bytes($node->data_dir . "/pg_wal/$seg"));
	for my $c ([ $nb_conf, $nb_re, $nb_what ], [ $empty_conf, $empty_re, 'a location without pgark.repo' ])
	{
		my ($conf, $re, $what) = @$c;
		my $r = run_pgark('wal-push', '--config', $conf, $copy);
		is($r->{rc}, 1, "$what: wal-push exits 1") or diag show($r);
		like($r->{stderr}, $re, "$what: wal-push says why");
	}
	is_deeply([ repo_list_all($envE, '') ], [ wal_object_name($seg) ],
		'wal-push stored nothing in the location without pgark.repo');
	nothing_created('wal-push');

	# the real archiver, pointed at the missing bucket / directory
	my $before = $node->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver');
	$node->append_conf('postgresql.conf', archive_settings_for($nb_conf) . "\n");
	$node->reload;
	$node->safe_psql('postgres', q{INSERT INTO t VALUES (20001, 'while archiving fails')});
	my $held = switch_wal($node);
	ok(wait_for_query($node, qq{SELECT failed_count > 0 AND last_failed_wal = '$held' FROM pg_stat_archiver}),
		"the archiver fails on $held with $nb_what");
	is($node->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver'), $before,
		'... and archives nothing (wal-push never exits 0 there)');
	ok(-e $node->data_dir . "/pg_wal/archive_status/$held.ready", "... $held is kept, still .ready");
	like(slurp_file($node->logfile), $nb_re, '... the server log says why');

	# fixed: the archiver catches up by itself
	$node->append_conf('postgresql.conf', archive_settings_for($env->{conf}) . "\n");
	$node->reload;
	ok(wait_for_archive($node, $held), "configuration fixed: $held is archived");
	ok(repo_object_exists($env, wal_object_name($held)), "... into the real repository");
}

# --- 3. base-push ------------------------------------------------------------
note '3. base-push: non-zero, nothing left';
{
	my %before = map { $_ => 1 } repo_list_all($envE, '');
	for my $c ([ $nb_conf, $nb_re, $nb_what ], [ $empty_conf, $empty_re, 'a location without pgark.repo' ])
	{
		my ($conf, $re, $what) = @$c;
		my $r = base_push($conf);
		isnt($r->{rc}, 0, "$what: base-push fails") or diag show($r);
		like($r->{stderr}, $re, "$what: base-push says why");
	}
	is_deeply([ repo_list_all($envE, '') ], [ sort keys %before ], 'base-push left nothing in the location without pgark.repo');
	nothing_created('base-push');
	is_deeply([ backups_in_repo($env) ], [], 'and nothing in the real repository either');
}

# --- repo-init (S3) ----------------------------------------------------------
SKIP:
{
	skip 'repo-init on local storage creates the repository directory (and its parents) by design', 4 unless $s3;
	my $r = run_pgark('repo-init', '--config', $nb_conf, '--pgdata', $node->data_dir);
	is($r->{rc}, 1, "repo-init on $nb_what fails") or diag show($r);
	like($r->{stderr}, $nb_re, '... naming the bucket and saying it does not exist');
	like($r->{stderr}, qr/pgark never creates a bucket/, '... and that pgark does not create it');
	nothing_created('repo-init');
}

# --- 4. a real recovery --------------------------------------------------------
note '4. recovery stops (FATAL, no promotion) and resumes once fixed';
$node->safe_psql('postgres', q{INSERT INTO t VALUES (20002, 'the last row')});
my $expected = $node->safe_psql('postgres', 'SELECT count(*) || md5(string_agg(id || v, \',\' ORDER BY id)) FROM t');
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");
$node->stop;

my $restored = PostgreSQL::Test::Cluster->new('mb_restored');
$restored->init_from_backup($node, 'b1', has_restoring => 1, standby => 0);
$restored->append_conf('postgresql.conf', "hot_standby = off\narchive_mode = off\n");
my $logpos = 0;
for my $c ([ $nb_conf, $nb_re, $nb_what ], [ $empty_conf, $empty_re, 'a location without pgark.repo' ])
{
	my ($conf, $re, $what) = @$c;
	$restored->append_conf('postgresql.conf', "restore_command = '" . restore_command_for($conf) . "'\n");
	$restored->start(fail_ok => 1);
	my $exited = wait_for_postmaster_exit($restored);
	ok($exited, "$what: the server shuts down instead of ending recovery");
	my $log = substr(slurp_file($restored->logfile), $logpos);
	$logpos += length($log);
	like($log, $re, "$what: the server log says why");
	like($log, qr/FATAL:\s+could not restore file "[0-9A-F.a-z]+" from archive: child process exited with exit code 200/,
		"$what: PostgreSQL stopped recovery (FATAL) on exit code 200");
	unlike($log, qr/selected new timeline ID|archive recovery complete|database system is ready/,
		"$what: no promotion, no end of recovery");
	ok(!-e $restored->data_dir . '/pg_wal/00000002.history', "$what: no new timeline");
	if (!$exited)
	{
		$restored->stop('immediate', fail_ok => 1);
		done_testing();
		exit 1;
	}
}
$restored->append_conf('postgresql.conf', "restore_command = '" . restore_command_for($env->{conf}) . "'\n");
$restored->start;
ok(wait_for_recovery_end($restored), 'configuration fixed: recovery runs to the end of the archive and promotes');
like(substr(slurp_file($restored->logfile), $logpos), qr/restored log file "\Q$last\E" from archive/, "... replaying $last");
is($restored->safe_psql('postgres', 'SELECT count(*) || md5(string_agg(id || v, \',\' ORDER BY id)) FROM t'), $expected,
	'... to exactly what the primary committed');
$restored->stop;

# libcurl is loaded when an S3 repository is first opened, not linked: when it
# cannot be loaded the programs say so, and wal-fetch still stops recovery.
SKIP:
{
	skip 'S3 backends only (libcurl is loaded for S3 repositories)', 5 unless $s3;
	my $fake = "$env->{dir}/fake-libcurl";
	make_path($fake);
	write_bytes("$fake/empty.c", "int pgark_test_not_curl;\n");
	my $cc = run_cmd('cc', '-shared', '-fPIC', '-o', "$fake/libcurl.so.4", "$fake/empty.c");
	skip "no C compiler to build a stand-in library: $cc->{stderr}", 5 if $cc->{rc} != 0;
	my $dest = "$env->{dir}/fake-dest";
	my $r = run_pgark({ env => { LD_LIBRARY_PATH => $fake } },
		'wal-fetch', '--config', $env->{conf}, '000000010000000000000001', $dest);
	is($r->{rc}, 200, 'wal-fetch with an unusable libcurl: exit 200');
	like($r->{stderr}, qr/libcurl\.so\.4 has no curl_global_init/, '... naming the library and what it lacks');
	ok(!-e $dest, '... and nothing at DEST');
	$r = run_pgark({ env => { LD_LIBRARY_PATH => $fake } }, 'wal-push', '--config', $env->{conf},
		$node->data_dir . "/pg_wal/$last");
	is($r->{rc}, 1, 'wal-push with an unusable libcurl: exit 1');
	like($r->{stderr}, qr/libcurl\.so\.4 has no curl_global_init/, '... and says why');
}

done_testing();
