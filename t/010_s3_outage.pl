
# 010_s3_outage.pl — the S3 server dies (kill -9) while a cluster archives
# under pgbench, and comes back on the same port with the same data: every
# archive_command failure in between exits 1 (PostgreSQL keeps the file and
# retries), the archiver catches up by itself once the server is back, and
# every segment it archived fetches back byte-exact.
# The test starts its own server (t/s3/start-s3-server, data in the test's
# temporary directory), never the pass's shared one. Under s3 and s3-tls.
use strict;
use warnings;

use Cwd ();
use Digest::MD5 ();
use File::Basename qw(basename dirname);
use File::Find ();
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

my $backend = $ENV{PGARK_TEST_BACKEND} // 'local';
plan skip_all => "S3 outage: only for PGARK_TEST_BACKEND=s3 or s3-tls (this is '$backend')"
  unless $backend eq 's3' || $backend eq 's3-tls';
my $tls = $backend eq 's3-tls';

my $top = $ENV{PGARK_TOP} // dirname(dirname(Cwd::abs_path(__FILE__)));
my $launcher = "$top/t/s3/start-s3-server";
plan skip_all => "no $launcher" unless -x $launcher;

my $tmp = PostgreSQL::Test::Utils::tempdir('s3outage');
my $data_dir = "$tmp/s3-data";
my $bucket = 'pgark-outage';
my %server;

# Start the server (again: same data, same port), fill %server from the
# launcher's key=value lines.
sub start_server
{
	my (%o) = @_;
	my $n = ($server{starts} // 0) + 1;
	my @cmd = ('bash', $launcher, '--data-dir', $data_dir, '--state-dir', "$tmp/s3-state$n",
		($tls ? ('--tls', defined $server{ca_cert} ? ('--tls-cert', "$tmp/s3-state1/cert.pem",
		'--tls-key', "$tmp/s3-state1/key.pem") : ()) : ()),
		(defined $o{port} ? ('--port', $o{port}) : ()));
	my $r = run_cmd({ timeout => 240 }, @cmd);
	die "start-s3-server failed (exit $r->{rc}): $r->{stderr}" if $r->{rc} != 0;
	for my $line (split /\n/, $r->{stdout})
	{
		next unless $line =~ /^([a-z_]+)=(.*)$/;
		my ($k, $v) = ($1, $2);
		$v =~ s/\\(.)/$1/g;    # printf %q of plain values: only backslashes
		$v = $1 if $v =~ /^'(.*)'$/;
		$server{$k} = $v;
	}
	$server{starts} = $n;
	return;
}

END
{
	kill 'KILL', $server{pid} if $server{pid};
}

start_server();
my $port = $server{port};
note "own S3 server: $server{endpoint} (pid $server{pid}, data $data_dir)";

# the bucket (the launcher makes none)
{
	my $r = run_cmd('curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--aws-sigv4', "aws:amz:$server{region}:s3",
		'--user', "$server{access_key}:$server{secret_key}",
		'-H', 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
		($tls ? ('--cacert', $server{ca_cert}) : ()), '-X', 'PUT', "$server{endpoint}/$bucket");
	is($r->{stdout}, '200', "bucket $bucket created") or diag show($r);
}

my ($node, $env) = archiving_cluster(
	'outage',
	conf => q{
wal_keep_size = '4GB'
max_wal_size = '4GB'
checkpoint_timeout = '1h'
shared_buffers = '32MB'
},
	env => {
		extra => {
			repo => {
				endpoint        => $server{endpoint},
				bucket          => $bucket,
				region          => $server{region},
				access_key      => $server{access_key},
				secret_key      => $server{secret_key},
				retries         => 1,
				connect_timeout => 2,
				timeout         => 10,
				($tls ? (ca_file => $server{ca_cert}) : ()),
			}
		}
	});
$node->start;
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', 'postgres' ], 'pgbench -i -s 3');

sub archiver
{
	my ($archived, $failed, $last_archived, $last_failed) = split /\|/, $node->safe_psql('postgres',
		q{SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '')
		    FROM pg_stat_archiver});
	return { archived => $archived, failed => $failed, last_archived => $last_archived, last_failed => $last_failed };
}

my $first = switch_wal($node);
ok(wait_for_archive($node, $first), "archiving works before the outage ($first)");
is(archiver()->{failed}, 0, 'no archive failure before the outage');

my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-h', $node->host, '-p', $node->port, '-c', '4', '-j', '2', '-T', '25', 'postgres' ],
	'>', \$bench_out, '2>', \$bench_err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
sleep 3;
switch_wal($node);

# ---------------------------------------------------------------- the outage
kill 'KILL', $server{pid};
note "killed the S3 server (pid $server{pid}) at " . localtime;
my $deadline = time + 60;
my $st = archiver();
while ($st->{failed} == 0 && time < $deadline)
{
	switch_wal($node);
	sleep 1;
	$st = archiver();
}
cmp_ok($st->{failed}, '>', 0, "archive failures while the server is down ($st->{failed}, last $st->{last_failed})");
# more failures, more segments waiting
my @during;
for (1 .. 5)
{
	sleep 1;
	push @during, switch_wal($node);
}
my $down = archiver();
note "segments completed during the outage: @during";
cmp_ok($down->{failed}, '>=', $st->{failed}, "still failing ($down->{failed} failures)");

# The test server writes an object's content in place, then its metadata: a
# kill in between leaves a half object S3 would never show (its PUT got no
# answer). Remove such leftovers, as S3's atomic PUT would have.
{
	my @half;
	File::Find::find(
		{
			no_chdir => 1,
			wanted   => sub {
				return unless /^(.*)\._S3rver_object$/;
				my $base = $1;
				my $md5f = "$base._S3rver_object.md5";
				my $ok = -f "$base._S3rver_metadata.json" && -f $md5f;
				if ($ok)
				{
					open my $fh, '<:raw', $_ or die "$_: $!";
					my $md5 = Digest::MD5->new->addfile($fh)->hexdigest;
					close $fh;
					$ok = $md5 eq (slurp_bytes($md5f) =~ s/\s+//gr);
				}
				push @half, $base unless $ok;
			}
		},
		$data_dir);
	for my $b (@half)
	{
		note "removing a half-written object of the killed server: $b";
		unlink "$b._S3rver_object", "$b._S3rver_object.md5", "$b._S3rver_metadata.json";
	}
}

start_server(port => $port);
is($server{port}, $port, "the server is back on port $port, same data");
note 'restarted the S3 server at ' . localtime;

$bench->finish;
is($bench->result(0), 0, 'pgbench ran through the outage') or diag $bench_err;
like($bench_out, qr/number of transactions actually processed: [1-9]\d*/, 'pgbench committed transactions');

my $last = switch_wal($node);
ok(wait_for_archive($node, $last), "the archiver caught up to $last after the outage")
  or diag explain archiver();
my $after = archiver();
cmp_ok($after->{archived}, '>', 5, "$after->{archived} files archived in all");
ok($after->{last_archived} ge $last, "last_archived_wal $after->{last_archived} reached $last");

# every failure was an exit 1: PostgreSQL keeps the file and retries
my $log = slurp_file($node->logfile);
my @codes = $log =~ /archive command failed with exit code (\d+)/g;
cmp_ok(scalar(@codes), '>', 0, scalar(@codes) . ' archive_command failures in the server log');
is_deeply([ grep { $_ != 1 } @codes ], [], 'every archive_command failure exited 1');
unlike($log, qr/terminated by signal|archiver process .* exited/, 'the archiver never died');

# ---------------------------------------------------------------- byte-exact
my $copies = "$env->{dir}/pg_wal_copy";
my @saved = save_archived_wal($node, $copies);
my @segments = grep { /^[0-9A-F]{24}$/ } @saved;
cmp_ok(scalar(@segments), '>', 5, scalar(@segments) . ' archived segments saved from pg_wal');
my $fetched = "$env->{dir}/fetched";
make_path($fetched);
my (@failed, @differ);
for my $name (@saved)
{
	my $r = run_pgark('wal-fetch', '--config', $env->{conf}, $name, "$fetched/$name");
	if ($r->{rc} != 0)
	{
		push @failed, "$name: exit $r->{rc}: $r->{stderr}";
		next;
	}
	push @differ, $name unless slurp_bytes("$fetched/$name") eq slurp_bytes("$copies/$name");
}
is_deeply(\@failed, [], 'every archived file fetches back (' . scalar(@saved) . ')');
is_deeply(\@differ, [], 'every fetched file is byte-identical to PostgreSQL\'s copy');
# the segments written during the outage were among them
my %saved = map { $_ => 1 } @saved;
is_deeply([ grep { !$saved{$_} } $down->{last_failed}, @during ], [],
	"the segments that failed or were completed during the outage are among them");

$node->stop;
kill 'TERM', $server{pid};
done_testing();
