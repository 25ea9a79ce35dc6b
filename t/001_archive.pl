
# 001_archive.pl — a real PostgreSQL 15 cluster archives through wal-push
# under pgbench load with no archiver failure; every archived file comes back
# byte-exact through wal-fetch; what the repository holds is not plaintext;
# the audit log has one JSON line per push.
use strict;
use warnings;

use File::Basename qw(basename);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

# Keep every segment in pg_wal (no recycling) so that each archived one can be
# compared with PostgreSQL's own copy.
my ($node, $env) = archiving_cluster(
	'primary', conf => q{
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
shared_buffers = '32MB'
});
like(
	$env->{init_stderr},
	qr/initialised repository \Q$env->{where}\E for database system \d+ \(PostgreSQL 15, WAL segments of 16 MiB/,
	'repo-init read the cluster from its data directory');
$node->start;
my $sysid = system_identifier_of($node->data_dir);
my $sysid_le = pack('Q<', $sysid);

# A base backup makes the server archive a .backup file as well.
$node->backup('b1');

# Something recognisable that must reach WAL but never the repository in clear.
my $canary = 'PGARK-PLAINTEXT-CANARY';
$node->safe_psql('postgres',
	"CREATE TABLE canary(t text); INSERT INTO canary SELECT '$canary-' || g FROM generate_series(1, 500) g");

$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', 'postgres' ], 'pgbench -i -s 5');

my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		'pgbench', '-h', $node->host, '-p', $node->port, '-c', '4', '-j', '2', '-T', '15',
		'postgres'
	],
	'>', \$bench_out, '2>', \$bench_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
my @switched;
for (1 .. 4)
{
	sleep 3;
	push @switched, switch_wal($node);
}
$bench->finish;
is($bench->result(0), 0, 'pgbench -T 15 ran') or diag $bench_err;
like($bench_out, qr/number of transactions actually processed: [1-9]\d*/, 'pgbench committed transactions');

push @switched, switch_wal($node);
my $last = $switched[-1];
note "switched out: @switched";
ok(wait_for_archive($node, $last), "the archiver caught up to $last");

my ($archived, $failed, $last_failed) = split /\|/,
  $node->safe_psql('postgres', 'SELECT archived_count, failed_count, coalesce(last_failed_wal, \'\') FROM pg_stat_archiver');
is($failed, 0, 'pg_stat_archiver: no archive_command failure');
is($last_failed, '', 'pg_stat_archiver: no last_failed_wal');
cmp_ok($archived, '>', 5, "pg_stat_archiver: $archived files archived");

# PostgreSQL's copies of what it archived, taken now (no checkpoint runs, but
# a name is never reused, so a late copy could only be missing, never wrong).
my $copies = "$env->{dir}/pg_wal_copy";
my @saved = save_archived_wal($node, $copies);
my %saved = map { $_ => 1 } @saved;
ok((grep { /\.backup$/ } @saved), 'a .backup file was archived');

my @objects = repo_list_objects($env, 'wal/');
my %object_of = map { basename($_) => $_ } @objects;
my @missing = grep { !$object_of{$_} } @saved;
is_deeply(\@missing, [], 'every file marked .done by the archiver is in the repository');
ok($object_of{$_}, "switched segment $_ is in the repository") for @switched;
is(scalar(grep { $_ ne wal_object_name(basename($_)) } @objects), 0,
	'objects are named wal/<timeline+log>/<name>');

# Fetch every object back and compare with PostgreSQL's copy.
my $fetched = "$env->{dir}/fetched";
make_path($fetched);
my (@fetch_failed, @differ, $compared);
$compared = 0;
for my $obj (@objects)
{
	my $name = basename($obj);
	my $r = run_pgark('wal-fetch', '--config', $env->{conf}, $name, "$fetched/$name");
	if ($r->{rc} != 0)
	{
		push @fetch_failed, "$name: exit $r->{rc}: $r->{stderr}";
		next;
	}
	next unless $saved{$name};
	my $a = slurp_bytes("$fetched/$name");
	my $b = slurp_bytes("$copies/$name");
	push @differ, $name unless $a eq $b;
	$compared++;
}
is_deeply(\@fetch_failed, [], 'wal-fetch delivered every archived file (exit 0)');
is_deeply(\@differ, [], 'every fetched file is byte-identical to PostgreSQL\'s copy');
cmp_ok($compared, '>', 5, "$compared archived files compared byte for byte");
is_deeply([ temp_files_in($fetched) ], [], 'wal-fetch left no temp file beside DEST');

# Not plaintext: no system identifier (it sits in every segment's first page
# header), no page header, no canary, and the stored bytes look random.
my $canary_in_wal = grep { index(slurp_bytes("$copies/$_"), $canary) >= 0 } @saved;
ok($canary_in_wal, 'sanity: the canary text is in the plaintext WAL');
is(substr(slurp_bytes("$copies/$switched[0]"), 24, 8), $sysid_le,
	'sanity: the system identifier is at offset 24 of a plaintext segment');
my (@leaks, @not_random, @bad_magic);
for my $obj (@objects)
{
	my $name  = basename($obj);
	my $bytes = repo_read_object($env, $obj);
	push @bad_magic, $name unless substr($bytes, 0, 8) eq 'PGARKOBJ';
	push @leaks, "$name: system identifier" if index($bytes, $sysid_le) >= 0;
	push @leaks, "$name: canary" if index($bytes, $canary) >= 0;
	push @leaks, "$name: backup label text" if index($bytes, 'START WAL LOCATION') >= 0;
	if ($saved{$name} && $name =~ /^[0-9A-F]{24}$/)
	{
		my $plain = slurp_bytes("$copies/$name");
		for my $page (1, 2, 100, 1000, 2047)
		{
			my $hdr = substr($plain, $page * 8192, 16);
			push @leaks, "$name: header of page $page" if index($bytes, $hdr) >= 0;
		}
		push @leaks, "$name: first 40 bytes" if index($bytes, substr($plain, 0, 40)) >= 0;
	}
	# chi-square of byte frequencies of up to 256 KiB after the header: about
	# 255 (sd 23) for random bytes; thousands for lz4'd WAL.
	my $n = length($bytes) - 80;
	$n = 262144 if $n > 262144;
	next if $n < 16384;
	my @count = (0) x 256;
	$count[$_]++ for unpack('C*', substr($bytes, 80, $n));
	my $e = $n / 256;
	my $chi2 = 0;
	$chi2 += ($_ - $e)**2 / $e for @count;
	push @not_random, sprintf('%s: chi2 %.0f', $name, $chi2) if $chi2 > 400;
}
is_deeply(\@bad_magic, [], 'every object is a pgark container');
is_deeply(\@leaks, [], 'no plaintext of any WAL file in the repository');
is_deeply(\@not_random, [], 'stored bytes are indistinguishable from random');

# The audit log: JSON, one line per push, each ok, one per object.
my @audit = read_audit($env);
my @push = grep { $_->{program} eq push_program() } @audit;
my @bad_rec = grep {
	my $r = $_;
	grep { !defined $r->{$_} } qw(time program action object bytes result duration_ms)
} @audit;
is_deeply(\@bad_rec, [], 'every audit record has time, program, action, object, bytes, result, duration_ms');
is_deeply([ grep { $_->{result} ne 'ok' || $_->{action} ne 'push' } @push ], [],
	'every ' . push_program() . ' audit record is a push with result ok');
is_deeply([ sort map { $_->{object} } @push ], [ sort @objects ], 'exactly one audit record per stored object');
like($_->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, 'audit time is ISO 8601') for $push[0];
my @seg_push = grep { $_->{object} =~ m{/[0-9A-F]{24}$} } @push;
is_deeply([ grep { $_->{bytes} != 16 * 1024 * 1024 } @seg_push ], [], 'audit bytes = 16 MiB for segments');
my @fetch = grep { $_->{program} eq 'wal-fetch' } @audit;
is(scalar(grep { $_->{result} eq 'ok' && $_->{action} eq 'fetch' } @fetch),
	scalar(@objects), 'one audit record per fetch, result ok');

$node->stop;
done_testing();
