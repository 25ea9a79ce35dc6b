
# 002_restore.pl — a base backup (pg_basebackup) plus WAL fetched through
# wal-fetch replays to the end of the archive; the restored data is exactly
# what the primary committed. A damaged object in the middle of the archive
# stops recovery (FATAL, no promotion) instead of ending it early, and once
# repaired recovery resumes. After promotion the new timeline's .history file
# and WAL are archived into the same repository and come back byte-exact.
use strict;
use warnings;

use File::Basename qw(basename);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($primary, $env) = archiving_cluster('primary', conf => "shared_buffers = '16MB'");
$primary->start;

$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});
$primary->backup('b1');

# Changes after the backup: only WAL from the repository can bring them back.
$primary->safe_psql('postgres', q{
	INSERT INTO t SELECT g, md5(g::text) || repeat('x', 100) FROM generate_series(1001, 100000) g;
});
my $mid = switch_wal($primary);
$primary->safe_psql('postgres', q{
	UPDATE t SET v = 'updated ' || id WHERE id % 7 = 0;
	DELETE FROM t WHERE id % 11 = 0;
	INSERT INTO t VALUES (200001, 'the last row before the end of the archive');
});
my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM t};
my $expected = $primary->safe_psql('postgres', $checksum_sql);
my $last = switch_wal($primary);
ok(wait_for_archive($primary, $last), "primary archived up to $last");
is($primary->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), 0, 'no archive failure on the primary');
$primary->stop;
note "expected: $expected; archive ends with $last";

# The restored node: its own configuration (its own data directory), the same
# repository and key.
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'b1', has_restoring => 1, standby => 0);
my $rconf = env_variant(
	$env,
	"$env->{dir}/restored.conf",
	{
		postgres => { pgdata => $restored->data_dir },
		log      => { audit  => "$env->{dir}/restored-audit.jsonl" }
	});
my $renv = { %$env, conf => $rconf, pgdata => $restored->data_dir, audit => "$env->{dir}/restored-audit.jsonl" };
# (hot_standby off: no read-only connections while recovery runs)
$restored->append_conf('postgresql.conf', sprintf(qq{
hot_standby = off
restore_command = '%s'
%s
}, restore_command_for($rconf), archive_settings_for($rconf)));
ok(-e $restored->data_dir . '/recovery.signal', 'archive recovery (recovery.signal), not a standby');

# 1. A damaged object stops recovery: exit 200 makes PostgreSQL FATAL
# instead of taking "not found" for the end of the archive and promoting.
my $obj = wal_object_name($last);
my $good = repo_read_object($env, $obj);
my $bad = $good;
my $at = int(length($bad) / 2);
substr($bad, $at, 1) = chr(ord(substr($bad, $at, 1)) ^ 0x40);
repo_write_object($env, $obj, $bad);

# pg_ctl returns once archive recovery has started; the server must then die.
$restored->start(fail_ok => 1);
my $exited = wait_for_postmaster_exit($restored);
ok($exited, 'the server shuts down on a damaged object in the archive');
my $log = slurp_file($restored->logfile);
like($log, qr/wal-fetch: ERROR: archived object \Q$obj\E in .* is damaged: frame failed authentication/,
	'wal-fetch says which object is damaged and why');
like($log, qr/recovery must stop here rather than end early/, 'wal-fetch says recovery must stop');
like($log, qr/FATAL:\s+could not restore file "\Q$last\E" from archive: child process exited with exit code 200/,
	'PostgreSQL stopped recovery (FATAL) on exit code 200');
unlike($log, qr/selected new timeline ID|archive recovery complete|database system is ready/,
	'no promotion, no end of recovery');
ok(!-e $restored->data_dir . '/pg_wal/00000002.history', 'no new timeline was created');
like($log, qr/restored log file "\Q$mid\E" from archive/, 'WAL before the damaged object was replayed');
my @raudit = read_audit($renv);
ok((grep { $_->{object} eq $obj && $_->{result} eq 'corrupt' } @raudit), 'audit log records the corrupt fetch');
if (!$exited)
{
	# recovery ended early: what follows would only repeat the failure
	$restored->stop('immediate', fail_ok => 1);
	done_testing();
	exit 1;
}

# 2. Repaired, recovery resumes and runs to the end of the archive.
repo_write_object($env, $obj, $good);
$restored->start;
ok(wait_for_query($restored, 'SELECT NOT pg_is_in_recovery()'), 'recovery finished and the node promoted');
$log = slurp_file($restored->logfile);
like($log, qr/restored log file "\Q$last\E" from archive/, "the last segment switched by hand, $last, was replayed");
# (the primary's shutdown switched once more and archived that segment too)
my ($tl1_end) = reverse grep { /^00000001[0-9A-F]{16}$/ } map { s{.*/}{}r } repo_list_objects($env, 'wal/');
like($log, qr/restored log file "\Q$tl1_end\E" from archive/, "recovery replayed the whole archive, up to $tl1_end");
like($log, qr/selected new timeline ID: 2/, 'promoted to timeline 2');
is($restored->safe_psql('postgres', $checksum_sql), $expected, 'restored data is exactly what the primary committed');
is($restored->safe_psql('postgres', q{SELECT v FROM t WHERE id = 200001}),
	'the last row before the end of the archive', 'the last committed row is there');

# 3. The new timeline is archived into the same repository: 00000002.history
# (what PITR follows across promotions) and timeline 2 segments.
my $tl2 = switch_wal($restored);
like($tl2, qr/^00000002/, "a timeline 2 segment was completed: $tl2");
ok(wait_for_archive($restored, $tl2), 'the restored node archived its new timeline');
is($restored->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), 0, 'no archive failure on the restored node');
ok(repo_object_exists($env, 'wal/history/00000002.history'), 'wal/history/00000002.history is in the repository');

my $rwal = $restored->data_dir . '/pg_wal';
my $copies = "$env->{dir}/restored-wal";
my @saved = save_archived_wal($restored, $copies);
my @mine = grep { /^00000002/ || /\.partial$/ } @saved;
note "archived by the restored node: @mine";
ok((grep { $_ eq '00000002.history' } @mine), 'the .history file was archived by the restored node');
ok((grep { $_ eq $tl2 } @mine), "$tl2 was archived by the restored node");
my $fetched = "$env->{dir}/fetched";
make_path($fetched);
for my $name (@mine)
{
	my $r = run_pgark('wal-fetch', '--config', $rconf, $name, "$fetched/$name");
	is($r->{rc}, 0, "wal-fetch $name: exit 0") or diag $r->{stderr};
	ok(slurp_bytes("$fetched/$name") eq slurp_bytes("$copies/$name"), "$name fetched back byte-exact");
}
like(slurp_bytes("$fetched/00000002.history"), qr/^1\t0\/[0-9A-F]+\tno recovery target specified/,
	'the history file says timeline 1 ended at the end of the archive');

# 4. Timeline 1 files the primary archived are still there, untouched.
my $r = run_pgark('wal-fetch', '--config', $rconf, $last, "$fetched/$last");
is($r->{rc}, 0, "timeline 1 segment $last still fetches") or diag $r->{stderr};

$restored->stop;
done_testing();
