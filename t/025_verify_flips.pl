
# 025_verify_flips.pl — repo-verify against single-bit flips at random
# places of a pack (a fixed seed, or PGARK_TEST_SEED): every flip is
# reported as damage (exit 1, naming the pack), never as a verification
# that could not be completed, never a crash or a sanitizer report. (A flip
# in a chunk's data-key id once made verify give up, and its message then
# read freed memory.)  And a manifest whose data-key id is flipped: the
# backup is unreadable (it cannot be restored), which repo-list shows,
# repo-verify reports as damage and repo-expire keeps; none of them gives up.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('flips');
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) v FROM generate_series(1, 20000) g');
my $b = base_push($env->{conf}, '--fast');
is($b->{rc}, 0, 'base-push') or diag show($b);
$node->stop;

my @packs = sort grep { m{^packs/../[0-9a-f]{32}$} } repo_list_objects($env, 'packs/');
my $pack = $packs[0];
my $orig = repo_read_object($env, $pack);
my $seed = $ENV{PGARK_TEST_SEED} // 20261127;
srand($seed);
note "seed $seed, pack $pack of " . length($orig) . ' bytes';
my $flips = $ENV{PGARK_TEST_FLIPS} // 40;
my @wrong;
for my $i (1 .. $flips)
{
	my $x = $orig;
	# half anywhere, half in the first 200 bytes (a chunk object's header)
	my $pos = $i % 2 ? int(rand(length $x)) : int(rand(200));
	my $bit = int(rand(8));
	substr($x, $pos, 1) = chr(ord(substr($x, $pos, 1)) ^ (1 << $bit));
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $x);
	my $r = run_pgark('repo-verify', '--config', $env->{conf});
	my $out = $r->{stdout} . $r->{stderr};
	push @wrong, "byte $pos bit $bit: exit $r->{rc}: " . substr($r->{stderr}, 0, 800)
	  if $r->{rc} != 1 || $out !~ /\Q$pack\E/ || $out =~ /could not be completed|Sanitizer|runtime error/;
}
repo_remove_object($env, $pack);
repo_write_object($env, $pack, $orig);
is(scalar @wrong, 0, "$flips flips, each reported as damage naming the pack") or diag join("\n", @wrong[ 0 .. ($#wrong < 4 ? $#wrong : 4) ]);
is(run_pgark('repo-verify', '--config', $env->{conf})->{rc}, 0, 'the pack restored: sound again');

# a second backup, so the newest usable one is not the damaged one
$node->start;
my $b2 = base_push($env->{conf}, '--fast');
is($b2->{rc}, 0, 'second base-push') or diag show($b2);
$node->stop;
my $mf = "base/$b->{json}{backup_id}/manifest";
my $mtext = repo_read_object($env, $mf);
my $bad = $mtext;
substr($bad, 30, 1) = chr(ord(substr($bad, 30, 1)) ^ 0x10);    # inside dek_id (bytes 24-39)
repo_remove_object($env, $mf);
repo_write_object($env, $mf, $bad);
my $l = run_pgark('repo-list', '--config', $env->{conf}, '--json');
is($l->{rc}, 0, 'repo-list: a manifest naming an unknown data key does not stop the listing') or diag show($l);
like($l->{stdout}, qr/"id":\s*"\Q$b->{json}{backup_id}\E"[^}]*"status":\s*"unreadable"/s, 'repo-list: that backup is unreadable')
  or diag $l->{stdout};
my $v = run_pgark('repo-verify', '--config', $env->{conf}, '--all');
is($v->{rc}, 1, 'repo-verify --all: damage') or diag show($v);
like($v->{stdout} . $v->{stderr}, qr/\Q$b->{json}{backup_id}\E/, "repo-verify names the backup") or diag show($v);
unlike($v->{stderr}, qr/could not be completed|Sanitizer|runtime error/, 'repo-verify went on');
my $xc = env_variant($env, "$env->{dir}/expire.conf", { retention => { keep_last => 1 } });
my $x = run_pgark('repo-expire', '--config', $xc, '--dry-run', '--json');
is($x->{rc}, 0, 'repo-expire --dry-run runs') or diag show($x);
like($x->{stdout}, qr/\Q$b->{json}{backup_id}\E/, 'repo-expire keeps the unreadable backup (and says so)') or diag $x->{stdout};
repo_remove_object($env, $mf);
repo_write_object($env, $mf, $mtext);
done_testing();
