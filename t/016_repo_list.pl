
# 016_repo_list.pl — repo-list over a real cluster's repository: two
# backups oldest first with the fields of the README's JSON schema, the
# archived WAL of timeline 1, then a gap (a segment removed) named exactly,
# a timeline 2 that branched off (its .history and first segment archived)
# followed by the restorable window, a backup whose stop segment is missing
# ("wal-missing"), a damaged manifest ("unreadable"), and no window when no
# backup is usable. The table says the same as the JSON.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary', conf => q{
wal_keep_size = '1GB'
});
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');

sub list_json
{
	my $r = run_pgark('repo-list', '--config', $conf, '--json');
	is($r->{rc}, 0, 'repo-list --json exit 0') or diag $r->{stderr};
	my $j = eval { JSON::PP::decode_json($r->{stdout}) };
	ok(ref $j eq 'HASH', 'repo-list --json prints one JSON object') or diag $r->{stdout};
	return $j // {};
}

sub list_table
{
	my $r = run_pgark('repo-list', '--config', $conf);
	is($r->{rc}, 0, 'repo-list exit 0') or diag $r->{stderr};
	return $r->{stdout};
}

sub iso
{
	my @g = gmtime($_[0]);
	return sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[ 3, 2, 1, 0 ]);
}

# --- an empty repository
{
	my $j = list_json();
	is_deeply($j->{backups}, [], 'no backups yet');
	is_deeply($j->{window}, { earliest => undef, latest => undef }, 'no window without a backup');
}

# --- two backups with WAL between them
my $b1 = base_push($conf, '--fast', '--label', 'first');
is($b1->{rc}, 0, 'first base-push') or diag $b1->{stderr};
sleep 2;    # what follows is stored later than the first backup's WAL (the stores count seconds)
switch_wal($node) for 1 .. 3;
my $b2 = base_push($conf, '--fast', '--label', 'second');
is($b2->{rc}, 0, 'second base-push') or diag $b2->{stderr};
my $last = switch_wal($node);
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");

my $j = list_json();
is(scalar @{ $j->{backups} }, 2, 'two backups listed');
is_deeply([ map { $_->{id} } @{ $j->{backups} } ], [ $b1->{json}{backup_id}, $b2->{json}{backup_id} ], 'oldest first, by id');
my ($l1, $l2) = @{ $j->{backups} };
for my $f (qw(id start_time stop_time start_lsn stop_lsn timeline bytes_read bytes_stored pinned status))
{
	ok(exists $l1->{$f}, "a backup has \"$f\"");
}
is($l1->{start_lsn}, $b1->{json}{start_lsn}, 'start LSN as base-push reported it');
is($l1->{stop_lsn},  $b1->{json}{stop_lsn},  'stop LSN as base-push reported it');
is($l1->{start_time}, $b1->{json}{start_time}, 'start time (ISO 8601 UTC) as base-push reported it');
is($l1->{stop_time},  $b1->{json}{stop_time},  'stop time as base-push reported it');
is($l1->{timeline}, 1, 'timeline 1');
is($l1->{bytes_read}, $b1->{json}{bytes_total}, 'bytes_read: the size of the files it covers');
is($l1->{bytes_stored}, $b1->{json}{bytes_stored}, 'bytes_stored as base-push reported it');
ok(JSON::PP::is_bool($l1->{pinned}) && !$l1->{pinned}, 'pinned is a JSON boolean, false');
is($l1->{label}, 'first', 'the label');
is_deeply([ map { $_->{status} } @{ $j->{backups} } ], [qw(ok ok)], 'both usable');
is(scalar @{ $j->{wal} }, 1, 'WAL of one timeline');
my $w = $j->{wal}[0];
is($w->{timeline}, 1, '... timeline 1');
cmp_ok($w->{first}, 'le', $l1->{start_wal}, "it starts at or before the first backup's start segment");
is($w->{last}, $last, "it ends at the last switched segment, $last");
is_deeply($w->{gaps}, [], 'no gaps');
is($j->{window}{earliest}, $l1->{stop_time}, "the window opens at the first backup's stop");
cmp_ok($j->{window}{latest}, 'ge', $l2->{stop_time}, 'and closes no earlier than the second backup\'s stop');

# --- pins: repo-pin / repo-unpin
{
	my $r = run_pgark('repo-pin', '--config', $conf, '--reason', "audit\n2026", $l1->{id});
	is($r->{rc}, 0, 'repo-pin: exit 0') or diag $r->{stderr};
	my $pin = repo_read_object($env, "base/$l1->{id}/pin");
	like($pin, qr/^PGARKOBJ/, 'the pin is an object of the repository (encrypted like the rest)');
	unlike($pin, qr/audit/, '... its reason not in the clear');
	$j = list_json();
	is_deeply([ map { $_->{pinned} ? 1 : 0 } @{ $j->{backups} } ], [ 1, 0 ], 'repo-list: the first backup pinned, the second not');
	like(list_table(), qr/\Q$l1->{id}\E .* ok, pinned/, '... and in the table');
	is(run_pgark('repo-pin', '--config', $conf, $l1->{id})->{rc}, 0, 'pinning it again: exit 0');
	$r = run_pgark('repo-unpin', '--config', $conf, $l1->{id});
	is($r->{rc}, 0, 'repo-unpin: exit 0') or diag $r->{stderr};
	is(list_json()->{backups}[0]{pinned}, JSON::PP::false, '... pinned false again');
	is(run_pgark('repo-unpin', '--config', $conf, $l1->{id})->{rc}, 0, 'unpinning it again: exit 0');
	$r = run_pgark('repo-pin', '--config', $conf, '20000101T000000Z-dead');
	is($r->{rc}, 1, 'pinning a backup that does not exist: exit 1');
	like($r->{stderr}, qr/no backup 20000101T000000Z-dead in the repository/, '... saying so');
	is(run_pgark('repo-pin', '--config', $conf, '../x')->{rc}, 2, 'a path for an id: usage error');
	ok(!repo_object_exists($env, 'base/20000101T000000Z-dead/pin'), 'nothing stored for it');
	my @audit = grep { $_->{action} =~ /^(un)?pin$/ } read_audit($env);
	is_deeply([ map { $_->{action} } @audit ], [qw(pin pin unpin unpin)], 'pins and unpins audited');
	is($audit[0]{detail}, 'audit 2026', '... with the reason, on one line');
}

# --- a segment between the two backups goes missing: a gap, named exactly
my $gap = sprintf('%s%08X', substr($l1->{stop_wal}, 0, 16), hex(substr($l1->{stop_wal}, 16)) + 1);
ok($gap lt $l2->{start_wal}, "$gap lies between the first backup's stop and the second's start");
repo_remove_object($env, wal_object_name($gap));
$j = list_json();
is_deeply($j->{wal}[0]{gaps}, [ { first => $gap, last => $gap } ], "the gap is $gap");
is_deeply([ map { $_->{status} } @{ $j->{backups} } ], [qw(ok ok)], 'both backups still usable (each has its own WAL)');
is($j->{window}{earliest}, $l2->{stop_time},
	'the window now opens at the second backup: between the gap and it, no point is restorable');
like(list_table(), qr/! missing \Q$gap\E to \Q$gap\E/, 'the table names the gap');

my $t_tl2;

# --- timeline 2 branches off inside the last segment: its .history and its
# first segment (a copy of the last one, as PostgreSQL makes it) archived
{
	my $dir = PostgreSQL::Test::Utils::tempdir('tl2');
	my $switch_seg = hex(substr($last, 16));
	my $switch = sprintf('%X/%X', hex(substr($last, 8, 8)), $switch_seg * 16 * 1024 * 1024 + 4096);
	write_bytes("$dir/00000002.history", "1\t$switch\tno recovery target specified\n");
	my $seg2 = '00000002' . substr($last, 8);
	# stored two seconds after everything else (the stores' mtimes are in
	# seconds): the window's end shows whether it was reached
	sleep 2;
	$t_tl2 = time;
	copy($node->data_dir . "/pg_wal/$last", "$dir/$seg2") or die "copy $last: $!";
	for my $f ('00000002.history', $seg2)
	{
		my $r = run_pgark('wal-push', '--config', $conf, "$dir/$f");
		is($r->{rc}, 0, "wal-push $f") or diag $r->{stderr};
	}
	$j = list_json();
	is(scalar @{ $j->{wal} }, 2, 'WAL of two timelines');
	my $w2 = $j->{wal}[1];
	is($w2->{timeline}, 2, '... the second is timeline 2');
	is($w2->{parent}, 1, '... branched from timeline 1');
	is($w2->{switch_lsn}, $switch, "... at $switch");
	is_deeply([ $w2->{first}, $w2->{last}, $w2->{segments} ], [ $seg2, $seg2, 1 ], "... holding $seg2");
	like(list_table(), qr/timeline 2 \(from timeline 1 at \Q$switch\E\): \Q$seg2\E to \Q$seg2\E/, 'the table too');
	cmp_ok($j->{window}{latest}, 'ge', iso($t_tl2), 'the window follows the switch to timeline 2 (its end: when that segment was stored)');

	# as after a failover: timeline 1 has the switch segment only as .partial
	my $obj = wal_object_name($last);
	my $bytes = repo_read_object($env, $obj);
	repo_remove_object($env, $obj);
	$j = list_json();
	is($j->{wal}[0]{last}, sprintf('%s%08X', substr($last, 0, 16), hex(substr($last, 16)) - 1),
		"timeline 1 now ends before $last");
	cmp_ok($j->{window}{latest}, 'ge', iso($t_tl2),
		'the window still follows timeline 2, which starts with the switch segment');
	repo_write_object($env, $obj, $bytes);
}

# --- the second backup's stop segment goes missing
repo_remove_object($env, wal_object_name($l2->{stop_wal}));
$j = list_json();
is($j->{backups}[1]{status}, 'wal-missing', 'a backup without its stop segment is "wal-missing"');
like($j->{backups}[1]{problem}, qr/\Q$l2->{start_wal}\E to \Q$l2->{stop_wal}\E is not all archived/, '... saying which WAL');
is($j->{backups}[0]{status}, 'ok', 'the first is still usable');
is($j->{window}{earliest}, $l1->{stop_time}, 'the window opens at the first backup');
cmp_ok($j->{window}{latest}, 'lt', iso($t_tl2), 'and ends at the gap after it: timeline 2 is out of reach');
my $table = list_table();
like($table, qr/\Q$l2->{id}\E .* wal-missing/, 'the table shows the status');
like($table, qr/restorable window: \Q$l1->{stop_time}\E to /, 'and the window');

# --- the first backup's manifest damaged: nothing is usable
{
	my $m = "base/$l1->{id}/manifest";
	my $bytes = repo_read_object($env, $m);
	substr($bytes, 50, 1) ^= "\x01";    # in the salt: every frame fails
	repo_remove_object($env, $m);
	repo_write_object($env, $m, $bytes);
}
$j = list_json();
is($j->{backups}[0]{status}, 'unreadable', 'a damaged manifest is "unreadable"');
like($j->{backups}[0]{problem}, qr/manifest cannot be read/, '... saying so');
is_deeply($j->{window}, { earliest => undef, latest => undef }, 'no usable backup: no window (nulls)');
like(list_table(), qr/restorable window: none/, 'the table says so');

# --- a configuration that names no repository
{
	my $bad = env_variant($env, "$env->{dir}/norepo.conf", { repo => repo_config("$env->{dir}/nowhere") });
	my $r = run_pgark('repo-list', '--config', $bad, '--json');
	is($r->{rc}, 1, 'repo-list of a repository that does not exist: exit 1');
	is($r->{stdout}, '', '... and prints no JSON');
}

done_testing();
