# repo-init reads the cluster's identity from a running server ([postgres]
# conninfo) or from its data directory, and both agree with pg_controldata;
# a cluster with a non-default WAL segment size (1 MiB) is recorded as such
# and archives and fetches back byte-exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $node = PostgreSQL::Test::Cluster->new('small_segs');
$node->init(extra => [ '--wal-segsize=1' ], allows_streaming => 1);
$node->start;

my $sysid = system_identifier_of($node->data_dir);
my $conninfo = $node->connstr('postgres');

# from the server
my $envS = new_env(name => 'from_server', init => 0,
	extra => { postgres => { conninfo => $conninfo } });
my $r = run_pgark('repo-init', '--config', $envS->{conf});
is($r->{rc}, 0, 'repo-init from the server (conninfo)') or diag $r->{stderr};
like($r->{stderr}, qr/read from the server/, 'it says where the identity came from');
my $meta = repo_read_object($envS, 'pgark.repo');
like($meta, qr/^system_identifier = $sysid$/m, 'system identifier from the server equals pg_control\'s');
like($meta, qr/^pg_version = 15$/m, 'PostgreSQL major version recorded');
like($meta, qr/^wal_segment_size = 1048576$/m, '1 MiB segment size recorded');
like($meta, qr/^format = 1$/m, 'format version recorded');
like($meta, qr/^cipher = aes-256-gcm$/m, 'cipher recorded');
like($meta, qr/^data_key = [0-9a-f]{32}$/m, 'first data key named');
my ($dek) = $meta =~ /^data_key = ([0-9a-f]{32})$/m;
ok(repo_object_exists($envS, "keys/$dek"), 'the data key object exists');

# from the data directory: the same identity
my $envD = new_env(name => 'from_pgdata', pgdata => $node->data_dir);
my $metaD = repo_read_object($envD, 'pgark.repo');
for my $k (qw(system_identifier pg_version wal_segment_size))
{
	my ($a) = $meta =~ /^$k = (\S+)$/m;
	my ($b) = $metaD =~ /^$k = (\S+)$/m;
	is($b, $a, "$k: the data directory agrees with the server");
}

# pg_controldata agrees too
my ($out) = run_cmd('pg_controldata', $node->data_dir)->{stdout};
like($out, qr/Database system identifier:\s+$sysid/, 'pg_controldata shows the same system identifier');
like($out, qr/Bytes per WAL segment:\s+1048576/, 'pg_controldata shows 1 MiB segments');

# a server that cannot be reached: a clear error, nothing created
my $envX = new_env(name => 'unreachable', init => 0,
	extra => { postgres => { conninfo => 'host=/nonexistent port=1 dbname=postgres connect_timeout=2' } });
$r = run_pgark('repo-init', '--config', $envX->{conf});
is($r->{rc}, 1, 'repo-init with an unreachable server fails');
like($r->{stderr}, qr/could not connect to PostgreSQL \(\[postgres\] conninfo\)/, '... saying so');
is_deeply([ repo_list_all($envX, '') ], [], '... and creates no repository (nothing written)');

# archive the 1 MiB-segment cluster into the server-initialised repository
# (through wal-push, or pgark_archive.so in the pass local+library)
$node->append_conf('postgresql.conf', "archive_mode = on\n" . archive_settings_for($envS->{conf}) . "\nwal_keep_size = 256MB\n");
$node->restart;
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 30000) g');
my $last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")
  or die 'archiving timed out';
is($node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), '0', 'no archive failures with 1 MiB segments');

my $n = 0;
my $dest = PostgreSQL::Test::Utils::tempdir('fetched');
for my $seg (grep { /^[0-9A-F]{24}$/ && $_ le $last } list_dir($node->data_dir . '/pg_wal'))
{
	next unless repo_object_exists($envS, wal_object_name($seg));
	$r = run_pgark('wal-fetch', '--config', $envS->{conf}, $seg, "$dest/$seg");
	is($r->{rc}, 0, "$seg fetched") or diag $r->{stderr};
	is(-s "$dest/$seg", 1048576, "$seg is 1 MiB");
	ok(slurp_bytes("$dest/$seg") eq slurp_bytes($node->data_dir . "/pg_wal/$seg"), "$seg byte-exact");
	$n++;
}
ok($n >= 3, "$n segments of 1 MiB compared");

# a 16 MiB-segment repository refuses this cluster's 1 MiB segments
my $other = PostgreSQL::Test::Cluster->new('default_segs');
$other->init;
my $env16 = new_env(name => 'sixteen', pgdata => $other->data_dir);
my ($someseg) = grep { /^[0-9A-F]{24}$/ } list_dir($node->data_dir . '/pg_wal');
$r = run_pgark('wal-push', '--config', $env16->{conf}, $node->data_dir . "/pg_wal/$someseg");
is($r->{rc}, 1, 'a segment of another size is refused');
like($r->{stderr}, qr/not the segment size 16777216/, '... naming the sizes');

$node->stop;
done_testing();
