# pitr-prepare writes only below the data directory (and the tablespace
# directories): a symlink planted in an existing data directory, where the
# backup has a directory or a file, is refused under --delta and nothing is
# written through it; progress is shown when asked for.
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;
use PostgreSQL::Test::Utils qw(append_to_file);

my ($primary, $env) = backup_cluster('primary');
$primary->start;
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
my $r = base_push($env->{conf}, '--fast');
is($r->{rc}, 0, 'base-push') or diag $r->{stderr};

my $tmp = PostgreSQL::Test::Utils::tempdir('confine');
my $outside = "$tmp/outside";
make_path($outside);
write_bytes("$outside/keep", "untouched\n");

sub outside_listing { return join(',', sort { $a cmp $b } list_dir($outside)); }

# a fresh restore to get a realistic stale copy
my $pgdata = "$tmp/pgdata";
$r = pitr_prepare($env->{conf}, $pgdata);
is($r->{rc}, 0, 'a first restore') or diag $r->{stderr};

# 1. a directory of the backup replaced by a symlink leading outside
rename("$pgdata/base", "$pgdata/base.real") or die $!;
symlink($outside, "$pgdata/base") or die $!;
$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
is($r->{rc}, 1, '--delta over a data directory whose base/ is a symlink: refused');
like($r->{stderr}, qr/symlink/, '... naming the symlink as the reason') or diag $r->{stderr};
is(outside_listing(), 'keep', '... and nothing was written outside') or diag outside_listing();
is(slurp_bytes("$outside/keep"), "untouched\n", '... nor changed there');
unlink("$pgdata/base");
rename("$pgdata/base.real", "$pgdata/base") or die $!;

# 2. a file of the backup replaced by a symlink to a file outside
unlink("$pgdata/PG_VERSION") or die $!;
symlink("$outside/keep", "$pgdata/PG_VERSION") or die $!;
$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
is($r->{rc}, 1, '--delta over a data directory whose PG_VERSION is a symlink: refused');
like($r->{stderr}, qr/symlink/, '... naming the symlink') or diag $r->{stderr};
is(slurp_bytes("$outside/keep"), "untouched\n", '... and the file it pointed to is untouched');
unlink("$pgdata/PG_VERSION");

# 3. with the symlinks gone, --delta repairs the copy
$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
is($r->{rc}, 0, '--delta after removing the symlinks') or diag $r->{stderr};
ok(-f "$pgdata/PG_VERSION" && !-l "$pgdata/PG_VERSION", 'PG_VERSION restored as a file');
is(slurp_bytes("$pgdata/PG_VERSION"), "15\n", '... with its content');

# 3b. a symlinked pg_wal: --delta must not empty what it points to
{
	my $walout = "$tmp/someone-elses-wal";
	make_path($walout);
	write_bytes("$walout/000000010000000000000042", "live WAL\n");
	PostgreSQL::Test::Utils::system_or_bail('rm', '-rf', "$pgdata/pg_wal");
	symlink($walout, "$pgdata/pg_wal") or die $!;
	$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
	is($r->{rc}, 1, '--delta with pg_wal a symlink: refused');
	like($r->{stderr}, qr/pg_wal is a symlink/, '... saying why') or diag $r->{stderr};
	is(slurp_bytes("$walout/000000010000000000000042"), "live WAL\n", '... and what it points to is untouched');
	unlink("$pgdata/pg_wal");
	mkdir("$pgdata/pg_wal", 0700);
}

# 3c. stale recovery settings in postgresql.conf never take effect
append_to_file("$pgdata/postgresql.conf",
	"recovery_target = 'immediate'\nrecovery_target_timeline = '1'\nrecovery_target_action = 'shutdown'\n");
$r = pitr_prepare($env->{conf}, $pgdata, '--delta', '--backup', 'latest', '--target-lsn', 'FF/0', '--target-action', 'promote');
is($r->{rc}, 0, '--delta with stale recovery settings in postgresql.conf') or diag $r->{stderr};
for my $check ([ 'recovery_target', '' ], [ 'recovery_target_lsn', 'FF/0' ],
	[ 'recovery_target_timeline', 'latest' ], [ 'recovery_target_action', 'promote' ])
{
	my ($guc, $want) = @$check;
	my $res = run_cmd('postgres', '-D', $pgdata, '-C', $guc);
	chomp(my $got = $res->{stdout});
	is($got, $want, "postgres -C $guc: '$want' (what pitr-prepare set wins over postgresql.conf)")
	  or diag $res->{stderr};
}

# 3d. a --delta that fails half-way leaves a directory PostgreSQL refuses to start
{
	# make one chunk differ, and the pack it must come from unreadable
	my ($rel) = grep { -s "$pgdata/$_" > 16384 } map { "base/1/$_" } list_dir("$pgdata/base/1");
	my $bytes = slurp_bytes("$pgdata/$rel");
	substr($bytes, 100, 1) ^= "\x01";
	write_bytes("$pgdata/$rel", $bytes);
	my @packs = grep { !/\.idx$/ } repo_list_objects($env, 'packs/');
	my %saved = map { $_ => repo_read_object($env, $_) } @packs;
	repo_write_object($env, $_, substr($saved{$_}, 0, 100)) for @packs;
	$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
	isnt($r->{rc}, 0, '--delta with a damaged pack fails') or diag $r->{stderr};
	like($r->{stderr}, qr/(damaged|authentication|does not match|shorter than)/, '... saying the repository is damaged')
	  or diag $r->{stderr};
	ok(!-e "$pgdata/global/pg_control", '... and the half-restored directory has no pg_control');
	my $start = run_cmd('pg_ctl', '-D', $pgdata, '-l', "$tmp/halfway.log", '-w', '-t', '20', 'start');
	isnt($start->{rc}, 0, '... so PostgreSQL refuses to start on it');
	repo_write_object($env, $_, $saved{$_}) for @packs;
	$r = pitr_prepare($env->{conf}, $pgdata, '--delta');
	is($r->{rc}, 0, 'with the packs repaired, --delta completes') or diag $r->{stderr};
	ok(-e "$pgdata/global/pg_control", '... and pg_control is back');
}

# 4. --progress=on draws progress with bytes, total, rate
my $pg2 = "$tmp/pgdata2";
$r = run_pgark('pitr-prepare', '--config', $env->{conf}, '--pgdata', $pg2, '--progress=on');
is($r->{rc}, 0, 'pitr-prepare --progress=on') or diag $r->{stderr};
like($r->{stderr}, qr{pitr-prepare: [\d.]+ \S+ / [\d.]+ \S+ \(\d+%\), [\d.]+ \S+/s}, 'progress: done / total (percent), rate')
  or diag $r->{stderr};
$r = run_pgark('base-push', '--config', $env->{conf}, '--progress=on');
is($r->{rc}, 0, 'base-push --progress=on') or diag $r->{stderr};
like($r->{stderr}, qr{base-push: [\d.]+ \S+ / [\d.]+ \S+ \(100%\)}, 'base-push progress reaches 100%') or diag $r->{stderr};
$r = run_pgark('base-push', '--config', $env->{conf}, '--progress=off');
unlike($r->{stderr}, qr{\(\d+%\)}, '--progress=off: none');

# 5. a damaged manifest never blocks the backups and restores that follow
my @ids = backups_in_repo($env);
ok(@ids >= 2, scalar(@ids) . ' backups in the repository');
my $newest = "base/$ids[-1]/manifest";
my $bytes = repo_read_object($env, $newest);
substr($bytes, int(length($bytes) / 2), 1) ^= "\x01";
repo_write_object($env, $newest, $bytes);
$r = base_push($env->{conf});
is($r->{rc}, 0, 'base-push after the newest manifest was damaged: exit 0') or diag $r->{stderr};
like($r->{stderr}, qr/WARNING: .*\Q$ids[-1]\E.*(cannot be read|damaged)/, '... warning that it could not use it')
  or diag $r->{stderr};
my $pg3 = "$tmp/pgdata3";
$r = pitr_prepare($env->{conf}, $pg3);
is($r->{rc}, 0, 'pitr-prepare (no target) still restores') or diag $r->{stderr};
isnt($r->{json}{backup_id}, $ids[-1], '... not from the damaged backup');
$r = pitr_prepare($env->{conf}, "$tmp/pgdata4", '--backup', $ids[-1]);
is($r->{rc}, 1, 'naming the damaged backup explicitly: refused');
like($r->{stderr}, qr/(damaged|authentication|corrupt)/i, '... as damaged') or diag $r->{stderr};

$primary->stop;
done_testing();
