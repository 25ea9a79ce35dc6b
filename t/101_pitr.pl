
# 101_pitr.pl — point-in-time restore with base-push and pitr-prepare is
# exact: a cluster archiving through wal-push, base backup #1, commits around
# a recorded target time, a named restore point, a recorded LSN and a
# committed xid, base backup #2 after all the targets, more commits. For each
# target the restored data is exactly what was committed before it (a hash of
# whole tables); time and LSN targets choose backup #1 by themselves.
# Restoring to the end uses backup #2 and gives the final state. A restored
# node promoted to timeline 2 archives into the same repository; restoring
# backup #1 with --target-timeline latest follows 00000002.history there.
use strict;
use warnings;

use Cwd ();
use Fcntl qw(:mode);
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

# Two tables: t gets inserts and deletes per batch, u gets updates.
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, batch int NOT NULL, v text);
	CREATE TABLE u (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 0, md5(g::text) FROM generate_series(1, 5000) g;
	INSERT INTO u SELECT g, 'u' || g FROM generate_series(1, 20000) g;
});

# What a base backup leaves out (PostgreSQL's exclusions): an unlogged
# table's main fork (its init fork stays), temporary files, replication
# slots, pg_internal.init, postmaster.opts.
$primary->safe_psql('postgres', q{
	CREATE UNLOGGED TABLE ul AS SELECT g FROM generate_series(1, 1000) g;
	SELECT pg_create_physical_replication_slot('pgark_slot');
});
my $ul_path = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('ul')});
mkdir $primary->data_dir . '/base/pgsql_tmp';
write_bytes($primary->data_dir . '/base/pgsql_tmp/pgsql_tmp4242.0', 'x' x 8192);
ok(-f $primary->data_dir . '/global/pg_internal.init', 'the primary has a global/pg_internal.init');

# One transaction per batch, so that a target falls between two batches.
sub batch
{
	my ($node, $k, $extra) = @_;
	return $node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO t SELECT g, $k, md5(g::text || '-$k') FROM generate_series($k * 10000 + 1, $k * 10000 + 1000) g;
		UPDATE u SET v = v || '/$k' WHERE id % 10 = $k % 10;
		DELETE FROM t WHERE id % 97 = $k;
		@{[ $extra // '' ]}
		COMMIT;
	});
}

sub state
{
	my ($node) = @_;
	return 't ' . table_hash($node, 't') . '; u ' . table_hash($node, 'u');
}

my @backup_keys = qw(backup_id start_lsn stop_lsn timeline start_time stop_time files files_reused
  bytes_read bytes_stored bytes_reused chunks_new chunks_reused bad_checksums duration_ms);

sub check_backup
{
	my ($r, $what) = @_;
	is($r->{rc}, 0, "$what: base-push exit 0") or diag "$r->{cmd}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
	my $j = $r->{json};
	ok(defined $j, "$what: --json prints one JSON object") or diag "stdout: $r->{stdout}";
	$j //= {};
	my @missing = grep { !exists $j->{$_} } @backup_keys;
	is("@missing", '', "$what: --json has every field");
	like($j->{backup_id} // '', qr/^\d{8}T\d{6}Z-[0-9a-z]+$/, "$what: backup id YYYYMMDDTHHMMSSZ-xxxx");
	like($j->{$_} // '', qr{^[0-9A-F]+/[0-9A-F]+$}, "$what: $_ is an LSN") for qw(start_lsn stop_lsn);
	like($j->{$_} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "$what: $_ is ISO 8601 UTC")
	  for qw(start_time stop_time);
	ok(repo_object_exists($env, "base/$j->{backup_id}/manifest"), "$what: base/<id>/manifest in the repository")
	  if defined $j->{backup_id};
	note "$what: " . join(', ', map { "$_=" . ($j->{$_} // 'undef') } @backup_keys);
	return $j;
}

sub lsn_num
{
	my ($l) = @_;
	my ($hi, $lo) = split m{/}, $l // '0/0';
	return hex($hi) * 2**32 + hex($lo);
}

# --- base backup #1
my $b1 = check_backup(base_push($conf, '--fast', '--label', 'pitr-1'), 'backup #1');
my @packs = repo_list_objects($env, 'packs/');
ok(@packs > 0, 'chunks are stored in pack objects (packs/)');
my @oddpacks = grep { !m{^packs/([0-9a-f]{2})/\1[0-9a-f]{30}(\.idx)?$} } @packs;
is(scalar(@oddpacks), 0, 'pack objects are named packs/<2 hex>/<32 hex>[.idx] (FORMAT.md)') or diag "@oddpacks";

my %expect;
$expect{immediate} = state($primary);
batch($primary, 1);
$expect{time} = state($primary);
sleep 1;
my $target_time = utc_now_text($primary);
sleep 1;

batch($primary, 2);
$expect{name} = state($primary);
$primary->safe_psql('postgres', q{SELECT pg_create_restore_point('pgark_rp')});

batch($primary, 3);
$expect{lsn} = state($primary);
my $target_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');

my $target_xid = batch($primary, 4, 'SELECT txid_current();');
like($target_xid, qr/^\d+$/, "xid of batch 4: $target_xid");
$expect{xid} = state($primary);

batch($primary, 5);
switch_wal($primary);

# --- base backup #2, after every target
my $b2 = check_backup(base_push($conf, '--fast', '--label', 'pitr-2'), 'backup #2');
ok(($b2->{backup_id} // '') gt ($b1->{backup_id} // ''), 'backup ids sort by time');
ok(lsn_num($b2->{start_lsn}) > lsn_num($target_lsn), 'backup #2 starts after the target LSN');

batch($primary, 6);
$expect{end} = state($primary);
my $last = switch_wal($primary);
ok(wait_for_archive($primary, $last), "primary archived up to $last");
note "targets: time $target_time, lsn $target_lsn, xid $target_xid, name pgark_rp";
note "$_: $expect{$_}" for sort keys %expect;
isnt($expect{time}, $expect{end}, 'the targets are distinguishable from the end');

# --- restore to each target
my %cases = (
	time => { args => [ '--target-time', $target_time ], backup => $b1->{backup_id}, setting => qr/^recovery_target_time = '\Q$target_time\E'$/m },
	lsn  => { args => [ '--target-lsn', $target_lsn ], backup => $b1->{backup_id}, setting => qr/^recovery_target_lsn = '\Q$target_lsn\E'$/m },
	# xid: chosen by the transaction snapshot each backup records at its stop
	xid => { args => [ '--target-xid', $target_xid ], backup => $b1->{backup_id}, setting => qr/^recovery_target_xid = '$target_xid'$/m },
	# name: pitr-prepare finds the restore point's record in the archived WAL
	name => { args => [ '--target-name', 'pgark_rp' ], backup => $b1->{backup_id}, setting => qr/^recovery_target_name = 'pgark_rp'$/m },
	immediate => { args => [ '--target', 'immediate', '--backup', $b1->{backup_id} ], backup => $b1->{backup_id}, setting => qr/^recovery_target = 'immediate'$/m },
);

my $first = 1;
for my $case (qw(time lsn xid name immediate))
{
	my $c = $cases{$case};
	my $node = restored_node("r_$case");
	my $dir = $node->data_dir;
	my $r = pitr_prepare($conf, $dir, @{ $c->{args} }, '--target-action', 'promote');
	is($r->{rc}, 0, "$case: pitr-prepare exit 0") or diag "$r->{cmd}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
	is($r->{json}{backup_id}, $c->{backup}, "$case: restored from backup #1");
	if ($first)
	{
		$first = 0;
		my @missing = grep { !exists $r->{json}{$_} }
		  qw(backup_id pgdata files files_unchanged bytes_written bytes_fetched duration_ms);
		is("@missing", '', 'pitr-prepare --json has every field');
		note 'pitr-prepare: ' . join(', ', map { "$_=" . ($r->{json}{$_} // 'undef') } sort keys %{ $r->{json} // {} });
		check_layout($dir, $c, $target_time);
	}
	my $auto = -e "$dir/postgresql.auto.conf" ? slurp_file("$dir/postgresql.auto.conf") : '';
	like($auto, $c->{setting}, "$case: the target is in postgresql.auto.conf");
	like($auto, qr/^recovery_target_action = '?promote'?$/m, "$case: recovery_target_action = promote");

	setup_restored($node);
	$node->start(fail_ok => 1);
	ok(wait_for_recovery_end($node), "$case: recovery finished and the node promoted")
	  or diag "server log:\n" . tail_of($node->logfile);
	my $log = -e $node->logfile ? slurp_file($node->logfile) : '';
	like($log, qr/recovery stopping (before|after)|recovery stopping at restore point/, "$case: recovery stopped at the target");
	my $got = eval { state($node) } // "error: $@";
	is($got, $expect{$case}, "$case: the data is exactly what was committed before the target");
	is(eval { $node->safe_psql('postgres', 'SELECT count(*) FROM ul') } // "error: $@", '0', "$case: the unlogged table exists, empty")
	  if $case eq 'time';
	$node->stop('fast', fail_ok => 1);
}


# What pitr-prepare leaves before PostgreSQL starts: backup_label, an empty
# pg_wal/ with archive_status/, recovery.signal, the recovery settings,
# modes 0700/0600, nothing of the running primary.
sub check_layout
{
	my ($dir, $c, $t) = @_;
	ok(-f "$dir/backup_label", 'backup_label written');
	like(-f "$dir/backup_label" ? slurp_file("$dir/backup_label") : '', qr/^START WAL LOCATION: /m,
		'backup_label is pg_backup_stop\'s');
	ok(-f "$dir/recovery.signal", 'recovery.signal written');
	ok(!-e "$dir/standby.signal", 'no standby.signal without --standby');
	ok(!-e "$dir/postmaster.pid", 'no postmaster.pid');
	ok(-d "$dir/pg_wal/archive_status", 'pg_wal/archive_status exists');
	is(join(' ', list_dir("$dir/pg_wal")), 'archive_status', 'pg_wal holds only archive_status/');
	is(join(' ', list_dir("$dir/pg_wal/archive_status")), '', 'archive_status is empty');
	ok(-f "$dir/global/pg_control" && -f "$dir/PG_VERSION", 'pg_control and PG_VERSION restored');
	my $snap = tree_snapshot($dir);
	my @badmode = grep { $snap->{$_} =~ /^d / ? $snap->{$_} !~ /^d 0700/ : $snap->{$_} =~ /^f / ? $snap->{$_} !~ /^f 0600/ : 0 }
	  sort keys %$snap;
	is(scalar(@badmode), 0, 'directories 0700, files 0600')
	  or diag join("\n", map { "$_: $snap->{$_}" } @badmode[0 .. ($#badmode < 10 ? $#badmode : 10)]);
	my @internal = grep { m{(^|/)pg_internal\.init$} } keys %$snap;
	is("@internal", '', 'no pg_internal.init restored');
	ok(!-e "$dir/postmaster.opts", 'no postmaster.opts restored');
	ok(!-e "$dir/base/pgsql_tmp/pgsql_tmp4242.0", 'no temporary file restored');
	ok(-d "$dir/pg_replslot" && !list_dir("$dir/pg_replslot"), 'pg_replslot/ restored empty');
	ok(!-e "$dir/$ul_path" && -f "$dir/${ul_path}_init", 'unlogged table: main fork left out, init fork restored');
	my $st = (stat $dir)[2];
	is(sprintf('%04o', $st & 07777), '0700', 'the data directory itself is 0700');
	my $auto = -e "$dir/postgresql.auto.conf" ? slurp_file("$dir/postgresql.auto.conf") : '';
	my $wf = pgark_bin('wal-fetch');
	ok($auto =~ /^restore_command = '(\S+) --config (\S+) %f %p'$/m, 'restore_command = \'<wal-fetch> --config <config> %f %p\'')
	  or diag "postgresql.auto.conf:\n$auto";
	my ($prog, $cfg) = ($1 // '', $2 // '');
	ok($prog =~ m{^/} && -x $prog && (Cwd::realpath($prog) // '') eq (Cwd::realpath($wf) // ''),
		"restore_command runs this installation's wal-fetch ($prog)");
	ok($cfg =~ m{^/} && (Cwd::realpath($cfg) // '') eq (Cwd::realpath($conf) // ''),
		"restore_command uses the same configuration, absolute ($cfg)");
	# (no --target-timeline: PostgreSQL's default, latest, is pitr-prepare's too)
	note 'recovery_target_timeline not written without --target-timeline' unless $auto =~ /^recovery_target_timeline = /m;
}

# --- restore to the end: backup #2, the final state
$primary->stop;
my $end = restored_node('r_end');
my $r = pitr_prepare($conf, $end->data_dir);
is($r->{rc}, 0, 'end: pitr-prepare without a target, exit 0') or diag "$r->{cmd}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
is($r->{json}{backup_id}, $b2->{backup_id}, 'end: restored from the newest backup (#2)');
# this node archives into the same repository (the primary's archive_command)
setup_restored($end, archive => 1);
$end->start(fail_ok => 1);
ok(wait_for_recovery_end($end), 'end: recovery reached the end of the archive and the node promoted')
  or diag "server log:\n" . tail_of($end->logfile);
is(eval { state($end) } // "error: $@", $expect{end}, 'end: the data is the final state');
like(slurp_file($end->logfile), qr/selected new timeline ID: 2/, 'end: promoted to timeline 2');

# --- across a promotion: rows on timeline 2, archived into the same repository
batch($end, 7);
my $tl2seg = switch_wal($end);
like($tl2seg, qr/^00000002/, "a timeline 2 segment: $tl2seg");
ok(wait_for_archive($end, $tl2seg), 'the promoted node archived timeline 2');
ok(repo_object_exists($env, 'wal/history/00000002.history'), '00000002.history is in the repository');

# and a base backup of the promoted node, on timeline 2
my $endconf = env_variant($env, "$env->{dir}/r_end.conf",
	{ postgres => { pgdata => $end->data_dir, conninfo => $end->connstr('postgres') } });
$r = base_push($endconf, '--fast', '--label', 'timeline-2');
is($r->{rc}, 0, 'base-push of the promoted node: exit 0') or diag "stdout: $r->{stdout}\nstderr: $r->{stderr}";
is($r->{json}{timeline}, 2, 'its backup is on timeline 2');
batch($end, 8);
$expect{tl2} = state($end);
$tl2seg = switch_wal($end);
ok(wait_for_archive($end, $tl2seg), "the promoted node archived up to $tl2seg");
$end->stop;

my $tl = restored_node('r_tl2');
$r = pitr_prepare($conf, $tl->data_dir, '--backup', $b1->{backup_id}, '--target-timeline', 'latest');
is($r->{rc}, 0, 'timeline: pitr-prepare --backup #1 --target-timeline latest, exit 0')
  or diag "$r->{cmd}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
is($r->{json}{backup_id}, $b1->{backup_id}, 'timeline: restored from backup #1');
like(-e $tl->data_dir . '/postgresql.auto.conf' ? slurp_file($tl->data_dir . '/postgresql.auto.conf') : '',
	qr/^recovery_target_timeline = '?latest'?$/m, "timeline: recovery_target_timeline = 'latest'");
setup_restored($tl);
$tl->start(fail_ok => 1);
ok(wait_for_recovery_end($tl), 'timeline: recovery finished') or diag "server log:\n" . tail_of($tl->logfile);
my $tlog = slurp_file($tl->logfile);
like($tlog, qr/restored log file "00000002\.history" from archive/, 'timeline: recovery fetched 00000002.history');
like($tlog, qr/restored log file "00000002[0-9A-F]{16}" from archive/, 'timeline: recovery replayed timeline 2 segments');
is(eval { state($tl) } // "error: $@", $expect{tl2}, 'timeline: the rows committed on timeline 2 are there, exactly');
$tl->stop('fast', fail_ok => 1);

# --standby writes standby.signal instead of recovery.signal
my $sb = restored_node('r_standby');
$r = pitr_prepare($conf, $sb->data_dir, '--standby');
is($r->{rc}, 0, 'pitr-prepare --standby: exit 0') or diag "$r->{cmd}\nstdout: $r->{stdout}\nstderr: $r->{stderr}";
ok(-f $sb->data_dir . '/standby.signal', '--standby: standby.signal written');
ok(!-e $sb->data_dir . '/recovery.signal', '--standby: no recovery.signal');

done_testing();
