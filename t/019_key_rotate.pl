
# 019_key_rotate.pl — key-rotate on a real cluster's repository: --new-key
# re-wraps every data key (the data objects untouched, byte for byte); then
# everything verifies and fetches with the new key alone, the old key still
# works until --retire, and is refused after it; --new-data-key seals new
# objects with a new data key while older ones keep theirs; a second
# rotation resumes (nothing left to do); refusals: the same key, an unsafe
# key file, retiring the configured key or a key still in use.
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my ($node, $env) = backup_cluster('primary');
my $conf = $env->{conf};
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
my $b = base_push($conf, '--fast');
is($b->{rc}, 0, 'base-push') or diag $b->{stderr};
my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "archived up to $last");

my $dir = PostgreSQL::Test::Utils::tempdir('keys');
my $newkey = "$dir/new.key";
is(run_pgark('key-gen', $newkey)->{rc}, 0, 'key-gen of the new master key');
my $newconf = env_variant($env, "$env->{dir}/new.conf", { crypto => { key_file => $newkey } });

sub key_objects { return sort grep { m{^keys/[0-9a-f]{32}$} } repo_list_objects($env, 'keys/'); }
sub fpr_of { my ($obj) = @_; return unpack('H*', substr(repo_read_object($env, $obj), 40, 16)); }
sub verify_rc { my ($cf) = @_; my $r = run_pgark('repo-verify', '--config', $cf, '--wal'); return $r; }

my @keys = key_objects();
ok(@keys >= 1, scalar(@keys) . ' data key(s)');
my $oldfpr = fpr_of($keys[0]);
my %before = map { $_ => sha256_hex(repo_read_object($env, $_)) } grep { !m{^keys/} } repo_list_objects($env, '');

# --- before: the new key opens nothing
my $r = verify_rc($newconf);
is($r->{rc}, 1, 'before the rotation the new key opens nothing');
like($r->{stderr}, qr/wrong master key/, '... "wrong master key"');

# --- rotate
$r = run_pgark('key-rotate', '--config', $conf, '--new-key', $newkey);
is($r->{rc}, 0, 'key-rotate --new-key: exit 0') or diag $r->{stderr};
my ($newfpr) = $r->{stderr} =~ /under the master key ([0-9a-f]{32})/;
ok(defined $newfpr, "it names the new key's fingerprint ($newfpr)") or diag $r->{stderr};
is_deeply([ map { fpr_of($_) } key_objects() ], [ ($newfpr) x @keys ], 'every data key now wrapped by the new key');
ok(repo_object_exists($env, "$_.kek-$oldfpr"), "a copy of $_ wrapped by the old key") for key_objects();
my %after = map { $_ => sha256_hex(repo_read_object($env, $_)) } grep { !m{^keys/} } keys %before;
is_deeply(\%after, \%before, 'no data object was rewritten (byte for byte)');
unlike($r->{stderr} . $r->{stdout}, qr/[0-9a-f]{64}/, 'no key material printed');
my @audit = grep { $_->{action} eq 'key-rotate' } read_audit($env);
like($audit[-1]{detail}, qr/from master key $oldfpr to $newfpr/, 'audited with both fingerprints');

# --- the new key alone restores everything
$r = verify_rc($newconf);
is($r->{rc}, 0, 'with the new key: every chunk and every WAL segment verifies') or diag $r->{stdout} . $r->{stderr};
{
	my $f = run_pgark('wal-fetch', '--config', $newconf, $last, "$dir/$last");
	is($f->{rc}, 0, "with the new key: wal-fetch $last") or diag $f->{stderr};
}
$r = verify_rc($conf);
is($r->{rc}, 0, 'the old key still works (not retired)') or diag $r->{stderr};

# --- again: resumes, nothing to do
$r = run_pgark('key-rotate', '--config', $conf, '--new-key', $newkey);
is($r->{rc}, 0, 'a second run (as after an interruption): exit 0') or diag $r->{stderr};
like($r->{stderr}, qr/re-wrapped 0 data keys .*\(\d+ already were\)/, '... nothing left to do');

# --- refusals
# a new data key wrapped by the key everything was rotated away from would
# be lost with it: refused with the old configuration
$r = run_pgark('key-rotate', '--config', $conf, '--new-data-key');
is($r->{rc}, 1, '--new-data-key with the old master key after a rotation: refused');
like($r->{stderr}, qr/not wrapped by the configured master key/, '... saying why');
my @now = key_objects();
is(scalar(@now), scalar(@keys), '... no data key made');
$r = run_pgark('key-rotate', '--config', $newconf, '--new-key', $newkey);
is($r->{rc}, 2, 'rotating to the configured key: refused (exit 2)');
like($r->{stderr}, qr/the new master key is the configured one/, '... saying so');
chmod 0644, $newkey or die;
$r = run_pgark('key-rotate', '--config', $conf, '--new-key', $newkey);
is($r->{rc}, 1, 'a world-readable new key file: exit 1');
chmod 0600, $newkey or die;
$r = run_pgark('key-rotate', '--config', $newconf, '--retire', $newfpr);
is($r->{rc}, 2, 'retiring the configured key: refused (exit 2)');
$r = run_pgark('key-rotate', '--config', $newconf, '--retire', 'nothex');
is($r->{rc}, 2, 'retiring something that is not a fingerprint: refused (exit 2)');
is(run_pgark('key-rotate', '--config', $conf)->{rc}, 2, 'no action: usage error');
is(run_pgark('key-rotate', '--config', $conf, '--new-data-key', '--retire', $oldfpr)->{rc}, 2, 'two actions: usage error');

# --- retire the old key: it opens nothing any more
$r = run_pgark('key-rotate', '--config', $newconf, '--retire', $oldfpr);
is($r->{rc}, 0, 'key-rotate --retire OLD: exit 0') or diag $r->{stderr};
ok(!repo_object_exists($env, "$_.kek-$oldfpr"), "the old-key copy of $_ is gone") for key_objects();
$r = verify_rc($conf);
is($r->{rc}, 1, 'the retired key is refused');
like($r->{stderr}, qr/wrong master key/, '... as the wrong master key');
is(verify_rc($newconf)->{rc}, 0, 'the new key still opens everything');

# --- a new data key for new objects
my $meta_before = repo_read_object($env, 'pgark.repo');
$r = run_pgark('key-rotate', '--config', $newconf, '--new-data-key');
is($r->{rc}, 0, 'key-rotate --new-data-key: exit 0') or diag $r->{stderr};
my ($dek) = $r->{stderr} =~ /sealed with data key ([0-9a-f]{32})/;
ok(defined $dek && repo_object_exists($env, "keys/$dek"), "the new data key keys/$dek is stored");
like(repo_read_object($env, 'pgark.repo'), qr/\Q$dek\E/, 'pgark.repo names it');
isnt(repo_read_object($env, 'pgark.repo'), $meta_before, '... in place of the old one');
# archive_command runs with $conf (the old key): switch it to the new one
$node->safe_psql('postgres', "ALTER SYSTEM SET archive_command = '" . archive_command_for($newconf) . "'; SELECT pg_reload_conf()")
  unless archiver_is_library();
$node->safe_psql('postgres', "ALTER SYSTEM SET pgark.config = '$newconf'; SELECT pg_reload_conf()") if archiver_is_library();
my $seg = switch_wal($node);
ok(wait_for_archive($node, $seg), "archived $seg after it");
is(unpack('H*', substr(repo_read_object($env, wal_object_name($seg)), 24, 16)), $dek, "$seg is sealed with the new data key");
is(unpack('H*', substr(repo_read_object($env, wal_object_name($last)), 24, 16)), substr($keys[0], 5),
	"$last keeps the data key it was sealed with") if @keys == 1;
is(verify_rc($newconf)->{rc}, 0, 'old and new objects verify with the new master key');
# a backup after it: its chunks are sealed with (and named by a key derived
# from) the new data key; the older backup's with the old one: both restore
$b = base_push($newconf, '--fast');
is($b->{rc}, 0, 'a base-push after the new data key') or diag $b->{stderr};
$r = run_pgark('repo-verify', '--config', $newconf, '--all', '--wal');
is($r->{rc}, 0, 'repo-verify --all: the backups of both data keys verify') or diag $r->{stdout} . $r->{stderr};
like($r->{stdout}, qr/backup .*\n.*data: ok.*\n.*\nbackup .*\n.*data: ok/, '... two backups, each ok');

done_testing();
