
# 102_delta_tablespace.pl — a tablespace outside the data directory is backed
# up and restored (to a new place with --tablespace-map, since the primary
# still uses the original), with its table's data right; pitr-prepare --delta
# over a stale restored copy (started, diverged, stopped) gives the same files
# and data as a fresh restore while fetching only a small part of the total.
# A --tablespace-map directory that is not empty, and the original location
# in use by the primary, are refused.
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($primary, $env) = backup_cluster(
	'primary', conf => q{
shared_buffers = '16MB'
autovacuum = off
});
my $conf = $env->{conf};
$primary->start;

my $tmp = PostgreSQL::Test::Utils::tempdir('ts');
my $tsdir = "$tmp/primary_ts";
make_path($tsdir);
$primary->safe_psql('postgres', qq{CREATE TABLESPACE ts LOCATION '$tsdir'});
my $ts_oid = $primary->safe_psql('postgres', q{SELECT oid FROM pg_tablespace WHERE spcname = 'ts'});
$primary->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench -i -s 2');
$primary->safe_psql('postgres', q{
	CREATE TABLE tst (id int PRIMARY KEY USING INDEX TABLESPACE ts, v text) TABLESPACE ts;
	INSERT INTO tst SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
	CHECKPOINT;
});

my @tables = qw(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history tst);

sub state
{
	my ($node, @more) = @_;
	return join('; ', map { "$_ " . table_hash($node, $_) } @tables, @more);
}


sub start_restored
{
	my ($node, $what) = @_;
	setup_restored($node);
	$node->start(fail_ok => 1);
	ok(wait_for_recovery_end($node), "$what: recovery finished") or diag "server log:\n" . tail_of($node->logfile);
	return;
}

# --- backup #1, then a restore with the tablespace moved
my $r = base_push($conf, '--fast', '--label', 'delta-1');
is($r->{rc}, 0, 'backup #1: exit 0') or diag show($r);
my $b1 = $r->{json} // {};
my $expect1 = state($primary);
my $seg = switch_wal($primary);
ok(wait_for_archive($primary, $seg), "archived up to $seg");

my $stale = restored_node('stale');
my $ts_stale = "$tmp/stale_ts";    # does not exist yet
$r = pitr_prepare($conf, $stale->data_dir, '--tablespace-map', "$ts_oid=$ts_stale");
is($r->{rc}, 0, 'restore #1 with --tablespace-map: exit 0') or diag show($r);
is($r->{json}{backup_id}, $b1->{backup_id}, 'restore #1 used backup #1');
my $link = $stale->data_dir . "/pg_tblspc/$ts_oid";
# pg_tblspc/<oid> may be left to PostgreSQL, which makes it from tablespace_map
ok(!-e $link || (-l $link && (readlink($link) // '') eq $ts_stale),
	"pg_tblspc/$ts_oid is absent (tablespace_map makes it) or points to the --tablespace-map directory");
ok((grep { /^PG_15_/ } list_dir($ts_stale)), 'the tablespace files are in the new directory');
my $map = -e $stale->data_dir . '/tablespace_map' ? slurp_file($stale->data_dir . '/tablespace_map') : '';
like($map, qr/^$ts_oid \Q$ts_stale\E$/m, 'tablespace_map names the new directory') or diag "tablespace_map: $map";
is(join(' ', list_dir($tsdir)), join(' ', grep { /^PG_15_/ } list_dir($tsdir)), 'the primary\'s tablespace directory is untouched');

start_restored($stale, 'restore #1');
is(readlink($link) // '', $ts_stale, "once started, pg_tblspc/$ts_oid points to the --tablespace-map directory");
is(eval { state($stale) } // "error: $@", $expect1, 'restore #1: every table, the tablespace\'s too, is right');
is(eval { $stale->safe_psql('postgres', q{SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'}) } // '',
	$ts_stale, 'the restored cluster sees its tablespace in the new directory');

# The stale copy diverges, then stops.
$stale->safe_psql('postgres', q{
	INSERT INTO tst SELECT g, 'diverged' FROM generate_series(100001, 101000) g;
	UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 0;
	CHECKPOINT;
});
$stale->stop;

# --- light OLTP and a new table on the primary, backup #2
$primary->command_ok([ 'pgbench', '-n', '-t', '200', '-c', '2', 'postgres' ], 'pgbench -n -t 200 -c 2');
$primary->safe_psql('postgres', q{
	INSERT INTO tst SELECT g, 'after backup 1' FROM generate_series(20001, 20100) g;
	CREATE TABLE small (id int, v text);
	INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 500) g;
});
$r = base_push($conf, '--fast', '--label', 'delta-2');
is($r->{rc}, 0, 'backup #2: exit 0') or diag show($r);
my $b2 = $r->{json} // {};
my $expect2 = state($primary, 'small');
$seg = switch_wal($primary);
ok(wait_for_archive($primary, $seg), "archived up to $seg");

# a fresh restore of backup #2 (the reference) and a delta one over the stale copy
my $fresh = restored_node('fresh');
my $ts_fresh = "$tmp/fresh_ts";
$r = pitr_prepare($conf, $fresh->data_dir, '--tablespace-map', "$ts_oid=$ts_fresh");
is($r->{rc}, 0, 'fresh restore of backup #2: exit 0') or diag show($r);
is($r->{json}{backup_id}, $b2->{backup_id}, 'fresh restore used backup #2');
my $fj = $r->{json} // {};

$r = pitr_prepare($conf, $stale->data_dir, '--delta', '--tablespace-map', "$ts_oid=$ts_stale");
is($r->{rc}, 0, 'pitr-prepare --delta over the stale copy: exit 0') or diag show($r);
is($r->{json}{backup_id}, $b2->{backup_id}, '--delta used backup #2');
my $dj = $r->{json} // {};
note sprintf('fresh: files=%s bytes_written=%s bytes_fetched=%s; delta: files=%s files_unchanged=%s bytes_written=%s bytes_fetched=%s',
	map { $_ // 'undef' } $fj->{files}, $fj->{bytes_written}, $fj->{bytes_fetched},
	$dj->{files}, $dj->{files_unchanged}, $dj->{bytes_written}, $dj->{bytes_fetched});
my $total = $fj->{bytes_written} // 0;
ok($total > 20 * 1024 * 1024, "the fresh restore wrote the whole cluster ($total bytes)");
ok(defined $dj->{bytes_fetched} && $dj->{bytes_fetched} < 0.25 * $total,
	sprintf('--delta fetched far less than the total (%s of %d bytes)', $dj->{bytes_fetched} // 'undef', $total));
ok(($dj->{files_unchanged} // 0) > 0, '--delta found unchanged files');
ok(-l $link && (readlink($link) // '') eq $ts_stale, '--delta kept the tablespace link to the mapped directory');

# Same files as the fresh restore, before either starts. Files PostgreSQL
# itself excludes from backups (and rebuilds) may be left over from the
# stale copy; nothing else may differ.
my $excluded = qr{^(postmaster\.opts$|(.*/)?pg_internal\.init$|pg_stat/|pg_stat_tmp/|pg_dynshmem/|pg_notify/|pg_serial/|pg_snapshots/|pg_subtrans/|pg_replslot/)};
compare_trees($fresh->data_dir, $stale->data_dir, 'data directory', qr{^(tablespace_map|pg_tblspc/\d+)$});
compare_trees($ts_fresh, $ts_stale, 'tablespace directory', qr/^$/);

sub compare_trees
{
	my ($a, $b, $what, $skip) = @_;
	my $sa = tree_snapshot($a);
	my $sb = tree_snapshot($b);
	my (@diff, @left);
	for my $p (sort keys %$sa)
	{
		next if $p =~ $skip;
		push @diff, "$p: fresh '$sa->{$p}', delta '" . ($sb->{$p} // 'missing') . "'"
		  if ($sb->{$p} // '') ne $sa->{$p};
	}
	for my $p (sort keys %$sb)
	{
		next if exists $sa->{$p} || $p =~ $skip;
		if ($p =~ $excluded) { push @left, $p }
		else { push @diff, "$p: only in the delta restore ($sb->{$p})" }
	}
	is(scalar(@diff), 0, "$what: --delta gives the same files as a fresh restore")
	  or diag join("\n", @diff[0 .. ($#diff < 30 ? $#diff : 30)]);
	note "$what: left over in excluded places: @left" if @left;
	return;
}

start_restored($fresh, 'fresh restore');
start_restored($stale, 'delta restore');
my $got_fresh = eval { state($fresh, 'small') } // "error: $@";
my $got_delta = eval { state($stale, 'small') } // "error: $@";
is($got_fresh, $expect2, 'fresh restore: the data is the primary\'s');
is($got_delta, $expect2, 'delta restore: the data is the primary\'s (the divergence is gone)');
is(eval { $stale->safe_psql('postgres', q{SELECT count(*) FROM tst WHERE v = 'diverged'}) } // '', '0',
	'no row of the stale copy survived');
$fresh->stop('fast', fail_ok => 1);
$stale->stop('fast', fail_ok => 1);

# --- refusals
# a --tablespace-map directory that is not empty
my $busy = "$tmp/busy_ts";
make_path($busy);
write_bytes("$busy/keep.me", "precious\n");
my $x = restored_node('x');
$r = pitr_prepare($conf, $x->data_dir, '--tablespace-map', "$ts_oid=$busy");
is($r->{rc}, 1, 'a non-empty --tablespace-map directory: exit 1') or diag show($r);
like($r->{stderr}, qr/\Q$busy\E/, 'the message names the directory') or diag $r->{stderr};
is(join(' ', list_dir($busy)), 'keep.me', 'the directory is untouched');
is(slurp_bytes("$busy/keep.me"), "precious\n", 'its file is untouched');

# no --tablespace-map: the original location is the primary's, in use
my $y = restored_node('y');
$r = pitr_prepare($conf, $y->data_dir);
is($r->{rc}, 1, 'restoring a tablespace into its original location, not empty (the primary uses it): exit 1')
  or diag show($r);
like($r->{stderr}, qr/\Q$tsdir\E/, 'the message names the tablespace location') or diag $r->{stderr};
is(eval { table_hash($primary, 'tst') } // "error: $@", $expect2 =~ /; tst (\d+ [0-9a-f]+)/ ? $1 : 'x',
	'the primary\'s tablespace table is intact');

# --delta over the stale copy, forgetting --tablespace-map: the manifest's
# location is the primary's live tablespace, and the copy's own link points
# elsewhere: refused, and the primary's files are untouched
$stale->stop('fast', fail_ok => 1);
my %before = map { $_ => -s $_ } grep { -f } glob("$tsdir/*/*/*");
$r = pitr_prepare($conf, $stale->data_dir, '--delta');
is($r->{rc}, 1, '--delta without --tablespace-map, the location being another cluster\'s: exit 1') or diag show($r);
like($r->{stderr}, qr/not where .*pg_tblspc\/$ts_oid points/, '... saying it may be another cluster\'s')
  or diag $r->{stderr};
my %after = map { $_ => -s $_ } grep { -f } glob("$tsdir/*/*/*");
is_deeply(\%after, \%before, '... and no file of the primary\'s tablespace changed size or appeared');
is(eval { table_hash($primary, 'tst') } // "error: $@", $expect2 =~ /; tst (\d+ [0-9a-f]+)/ ? $1 : 'x',
	'... and its table is intact');

done_testing();
