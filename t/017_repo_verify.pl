
# 017_repo_verify.pl — repo-verify over a real cluster's repository: a sound
# backup and its WAL verify (exit 0, chunks and segments counted); a byte
# flipped in a pack, a missing pack, a missing WAL segment and (with --wal) a
# damaged one are each found and named — backup, file, pack or segment —
# with exit 1; --backup with an unknown id is refused.
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary');
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g;
});

sub verify
{
	my (@args) = @_;
	my $r = run_pgark('repo-verify', '--config', $conf, '--json', @args);
	$r->{json} = eval { JSON::PP::decode_json($r->{stdout}) };
	return $r;
}

sub all_problems
{
	my ($j) = @_;
	return map { (@{ $_->{problems} }, @{ $_->{wal}{problems} }) } @{ $j->{backups} // [] };
}

my $b1 = base_push($conf, '--fast');
is($b1->{rc}, 0, 'base-push') or diag $b1->{stderr};
my $id = $b1->{json}{backup_id};
my $last = switch_wal($node);
$last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");

# --- sound
my $r = verify('--wal');
is($r->{rc}, 0, 'a sound repository verifies: exit 0') or diag "$r->{stdout}\n$r->{stderr}";
is($r->{json}{status}, 'ok', '... status ok');
my $b = $r->{json}{backups}[0];
is($b->{id}, $id, '... the newest backup by default');
cmp_ok($b->{chunks}, '>', 1000, "... $b->{chunks} chunks checked");
is($b->{bytes}, $b1->{json}{bytes_total}, '... every byte the backup covers');
like($b->{wal}{from}, qr/^[0-9A-F]{24}$/, '... WAL from its start segment');
is($b->{wal}{to}, $last, "... to the newest archived segment, $last");
ok($b->{wal}{decrypted}, '... each segment decrypted (--wal)');
{
	my $t = run_pgark('repo-verify', '--config', $conf);
	is($t->{rc}, 0, 'the table form: exit 0');
	like($t->{stdout}, qr/data: ok .* chunks/, '... data ok');
	like($t->{stdout}, qr/WAL \S+ to \Q$last\E: ok/, '... WAL ok');
}

# --- a byte flipped inside a pack: found, named
my @packs = sort grep { m{^packs/../[0-9a-f]+$} } repo_list_objects($env, 'packs/');
ok(@packs >= 1, scalar(@packs) . ' pack(s) in the repository');
my $pack = $packs[0];
my $orig = repo_read_object($env, $pack);
{
	my $bad = $orig;
	substr($bad, int(length($bad) / 2), 1) ^= "\x40";
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $bad);
}
$r = verify();
is($r->{rc}, 1, 'a flipped byte in a pack: exit 1');
is($r->{json}{status}, 'damaged', '... status damaged');
my @p = all_problems($r->{json});
ok((grep { /\Q$pack\E \(damaged\)/ && /file \S+/ } @p), "... naming the pack $pack and the file") or diag explain \@p;

# --- the pack missing
repo_remove_object($env, $pack);
$r = verify();
is($r->{rc}, 1, 'a missing pack: exit 1');
@p = all_problems($r->{json});
ok((grep { /\Q$pack\E \(missing\)/ } @p), "... naming the missing pack $pack") or diag explain \@p;
repo_write_object($env, $pack, $orig);
is(verify()->{rc}, 0, 'the pack back: exit 0 again');

# --- a WAL segment after the backup missing: a gap, named
my $gap = sprintf('%s%08X', substr($last, 0, 16), hex(substr($last, 16)) - 1);
my $gap_bytes = repo_read_object($env, wal_object_name($gap));
repo_remove_object($env, wal_object_name($gap));
$r = verify();
is($r->{rc}, 1, 'a WAL segment missing between the backup and the newest: exit 1');
@p = all_problems($r->{json});
ok((grep { /WAL gap: \Q$gap\E to \Q$gap\E is not in the repository/ } @p), "... naming $gap") or diag explain \@p;
is($r->{json}{backups}[0]{status}, 'ok', '... the backup\'s data itself is fine');
like(run_pgark('repo-verify', '--config', $conf)->{stdout}, qr/NOT RESTORABLE/, '... and the table says the WAL is not restorable');
repo_write_object($env, wal_object_name($gap), $gap_bytes);

# --- a WAL segment damaged: found with --wal only
{
	my $bad = $gap_bytes;
	substr($bad, length($bad) - 100, 1) ^= "\x01";
	repo_remove_object($env, wal_object_name($gap));
	repo_write_object($env, wal_object_name($gap), $bad);
}
is(verify()->{rc}, 0, 'a damaged WAL segment that is present: exit 0 without --wal (presence only)');
$r = verify('--wal');
is($r->{rc}, 1, '... exit 1 with --wal');
@p = all_problems($r->{json});
ok((grep { /WAL segment \Q$gap\E/ } @p), "... naming $gap") or diag explain \@p;
repo_remove_object($env, wal_object_name($gap));
repo_write_object($env, wal_object_name($gap), $gap_bytes);

# --- a timeline that branched off before the backup ended (a restore of an
# older point, promoted, archiving into the same repository) is another
# history: the backup's WAL goes on on its own timeline, and a gap there is
# still found
{
	my $dir = PostgreSQL::Test::Utils::tempdir('abandoned');
	my $first = $r->{json}{backups}[0]{wal}{from};
	my $seg1 = substr($first, 0, 16) . sprintf('%08X', hex(substr($first, 16)) - 1);
	my $f = run_pgark('wal-fetch', '--config', $conf, $seg1, "$dir/$seg1");
	is($f->{rc}, 0, "fetched $seg1, the segment before the backup's start") or diag $f->{stderr};
	my $seg2 = '00000002' . substr($seg1, 8);
	rename("$dir/$seg1", "$dir/$seg2") or die "rename: $!";
	write_bytes("$dir/00000002.history",
		sprintf("1\t%X/%X\tno recovery target specified\n", hex(substr($seg1, 8, 8)), hex(substr($seg1, 16)) * 16 * 1024 * 1024 + 8192));
	for my $n ('00000002.history', $seg2)
	{
		my $p = run_pgark('wal-push', '--config', $conf, "$dir/$n");
		is($p->{rc}, 0, "wal-push $n (timeline 2, branched before the backup)") or diag $p->{stderr};
	}
	is(verify()->{rc}, 0, 'with that timeline archived, the backup still verifies');
	repo_remove_object($env, wal_object_name($gap));
	$r = verify();
	is($r->{rc}, 1, "a gap on the backup's own timeline is still found");
	@p = all_problems($r->{json});
	ok((grep { /WAL gap: \Q$gap\E to \Q$gap\E/ } @p), "... naming $gap, not checking timeline 2 instead") or diag explain \@p;
	repo_write_object($env, wal_object_name($gap), $gap_bytes);
}

# --- selection
$r = verify('--backup', $id, '--wal');
is($r->{rc}, 0, '--backup ID: exit 0') or diag $r->{stderr};
$r = verify('--all');
is(scalar @{ $r->{json}{backups} }, 1, '--all: every backup (one here)');
$r = run_pgark('repo-verify', '--config', $conf, '--backup', '20000101T000000Z-0000');
is($r->{rc}, 1, 'an unknown backup: exit 1');
like($r->{stderr}, qr/no backup 20000101T000000Z-0000 in the repository/, '... saying so');
$r = run_pgark('repo-verify', '--config', $conf, '--all', '--backup', $id);
is($r->{rc}, 2, '--all with --backup: usage error (exit 2)');

# --- a backup taken after another: its files are new chunks between chunks
# of the first backup's packs, read together in one run; damage in a pack of
# either backup is still found and named
$node->safe_psql('postgres', q{UPDATE t SET v = 'changed' WHERE g % 499 = 0; CHECKPOINT;});
my $b2 = base_push($conf, '--fast');
is($b2->{rc}, 0, 'a second base-push') or diag $b2->{stderr};
my $id2 = $b2->{json}{backup_id};
my %old = map { $_ => 1 } @packs;
my @new = grep { !$old{$_} } sort grep { m{^packs/../[0-9a-f]+$} } repo_list_objects($env, 'packs/');
ok(@new >= 1 && $b2->{json}{chunks_reused} > 0, 'it stored ' . scalar(@new) . ' new pack(s) and reused chunks of the first');
$r = verify('--backup', $id2);
is($r->{rc}, 0, 'the second backup verifies') or diag "$r->{stdout}\n$r->{stderr}";
is($r->{json}{backups}[0]{bytes}, $b2->{json}{bytes_total}, '... every byte it covers');
{
	my $orig2 = repo_read_object($env, $new[0]);
	my $bad = $orig2;
	substr($bad, int(length($bad) / 2), 1) ^= "\x40";
	repo_remove_object($env, $new[0]);
	repo_write_object($env, $new[0], $bad);
	$r = verify('--backup', $id2);
	is($r->{rc}, 1, 'a flipped byte in its new pack: exit 1');
	@p = all_problems($r->{json});
	ok((grep { /\Q$new[0]\E \(damaged\)/ } @p), "... naming $new[0]") or diag explain \@p;
	repo_remove_object($env, $new[0]);
	repo_write_object($env, $new[0], $orig2);
}
repo_remove_object($env, $pack);
$r = verify('--backup', $id2);
is($r->{rc}, 1, "the first backup's pack missing: the second fails too (exit 1)");
@p = all_problems($r->{json});
ok((grep { /\Q$pack\E \(missing\)/ } @p), "... naming $pack") or diag explain \@p;
repo_write_object($env, $pack, $orig);
is(verify('--backup', $id2)->{rc}, 0, 'both back: exit 0');

done_testing();
