
# 023_repo_expire_timelines.pl — repo-expire after a restore to an older
# point archives a second timeline into the same repository, whose segment
# numbers are lower than the first timeline's newest backup: the new
# timeline's WAL (before it has a backup, and after its first backup) is
# never taken for old, its newest backup still rolls forward to the end, and
# repo-verify still checks its WAL whole. (Found in review: the first
# version compared segment numbers across timelines and removed the live
# timeline's WAL, and repo-verify did not notice.)
use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary', conf => "wal_keep_size = '1GB'\n");
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t (id int)');
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1,100)');
my $b1 = base_push($conf, '--fast');
is($b1->{rc}, 0, 'b1 on timeline 1') or diag show($b1);
sleep 1;
for (1 .. 20) { $node->safe_psql('postgres', 'INSERT INTO t VALUES (0)'); switch_wal($node); }
my $b2 = base_push($conf, '--fast');
is($b2->{rc}, 0, 'b2 on timeline 1, at higher segment numbers') or diag show($b2);
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived $last");
$node->stop('fast');
sleep 1;

# restore b1 to its end, promote, archive into the same repository
my $n2 = restored_node('rewound');
my $p = pitr_prepare($conf, $n2->data_dir, '--backup', $b1->{json}{backup_id}, '--target', 'immediate',
	'--target-action', 'promote');
is($p->{rc}, 0, 'pitr-prepare b1') or diag show($p);
setup_restored($n2, archive => 1);
$n2->start;
ok(wait_for_recovery_end($n2), 'promoted: timeline 2');
for (1 .. 3) { $n2->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1,10)'); $last = switch_wal($n2); }
ok(wait_for_archive($n2, $last), "archived $last (timeline 2)");

sub tl2_segments
{
	return sort grep { m{/00000002[0-9A-F]{16}$} } repo_list_objects($env, 'wal/');
}

# timeline 2 has no backup yet: nothing of it may go
{
	my $pol = env_variant($env, "$env->{dir}/last1.conf", { retention => { keep_last => 1 } });
	my $r = run_pgark('repo-expire', '--config', $pol, '--dry-run', '--json');
	is($r->{rc}, 0, 'dry run before timeline 2 has a backup') or diag show($r);
	my $j = eval { JSON::PP::decode_json($r->{stdout}) } // {};
	my @tl2 = grep { $_->{kind} eq 'wal' && $_->{name} =~ m{/00000002} } @{ $j->{items} // [] };
	is(scalar @tl2, 0, '... would remove none of timeline 2\'s WAL') or diag join("\n", map { $_->{name} } @tl2);
}

my $conf2 = env_variant($env, "$env->{dir}/n2.conf",
	{ postgres => { pgdata => $n2->data_dir, conninfo => $n2->connstr('postgres') } });
sleep 1;
my $b3 = base_push($conf2, '--fast');
is($b3->{rc}, 0, 'b3 on timeline 2') or diag show($b3);
for (1 .. 5) { $n2->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1,200)'); $last = switch_wal($n2); }
ok(wait_for_archive($n2, $last), "archived $last (timeline 2)");
my $want = $n2->safe_psql('postgres', 'SELECT count(*) FROM t');
$n2->stop('fast');
my @before = tl2_segments();
my $listing = JSON::PP::decode_json(run_pgark('repo-list', '--config', $conf, '--json')->{stdout});
my ($b3l) = grep { $_->{id} eq $b3->{json}{backup_id} } @{ $listing->{backups} };
my $b3_start = $b3l->{start_wal} // 'unknown';
is(substr($b3_start, 0, 8), '00000002', "b3 starts on timeline 2 ($b3_start)");
my @after_b3 = grep { $_ ge "wal/0000000200000000/$b3_start" } @before;

my $pol = env_variant($env, "$env->{dir}/last2.conf", { retention => { keep_last => 2 } });
my $r = run_pgark('repo-expire', '--config', $pol, '--json');
is($r->{rc}, 0, 'expire keep_last 2: b2 and b3 kept') or diag show($r);
my %after = map { $_ => 1 } tl2_segments();
is_deeply([ grep { !$after{$_} } @after_b3 ], [], 'no timeline 2 segment from b3 on was removed');
my $v = run_pgark('repo-verify', '--config', $pol, '--all');
is($v->{rc}, 0, 'repo-verify --all passes') or diag show($v);

# remove one timeline 2 segment after b3 by hand: verify must see it
{
	my ($gone) = grep { $_ gt "wal/0000000200000000/$b3_start" } sort keys %after;
	my $bytes = repo_read_object($env, $gone);
	repo_remove_object($env, $gone);
	my $v2 = run_pgark('repo-verify', '--config', $pol, '--backup', $b3->{json}{backup_id});
	is($v2->{rc}, 1, 'a segment missing after the newest backup: repo-verify finds it');
	like($v2->{stdout} . $v2->{stderr}, qr/WAL gap/, '... as a gap');
	repo_write_object($env, $gone, $bytes);
}

# the newest backup (b3) to the end of the archive
my $n3 = restored_node('latest');
$p = pitr_prepare($conf, $n3->data_dir);
is($p->{rc}, 0, 'pitr-prepare latest') or diag show($p);
setup_restored($n3);
$n3->start(fail_ok => 1);
ok(wait_for_recovery_end($n3), 'recovered');
is(query_once($n3, 'SELECT count(*) FROM t'), $want, "the newest backup rolled forward: $want rows");
$n3->stop('fast', fail_ok => 1);
done_testing();
