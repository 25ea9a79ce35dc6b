# What someone who can write to the repository, or a broken mount, must not
# achieve: an object claiming "no encryption" accepted by an encrypted
# repository; a missing wal/ directory read as the end of the archive. And
# an object found already archived is made durable before wal-push says 0;
# a ';' inside key_command is part of the command.
use strict;
use warnings;

use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $node = PostgreSQL::Test::Cluster->new('forge');
$node->init(allows_streaming => 1);
my $enc = new_env(name => 'enc', pgdata => $node->data_dir);
my $plain = new_env(name => 'plain', pgdata => $node->data_dir, cipher => 'none');
my $tmp = PostgreSQL::Test::Utils::tempdir('forge');
my ($seg) = grep { /^[0-9A-F]{24}$/ } list_dir($node->data_dir . '/pg_wal');
my $segpath = $node->data_dir . "/pg_wal/$seg";
my $obj = wal_object_name($seg);

# 1. a forged unencrypted object in place of a real one
my $r = run_pgark('wal-push', '--config', $enc->{conf}, $segpath);
is($r->{rc}, 0, 'pushed into the encrypted repository') or diag $r->{stderr};
$r = run_pgark('wal-push', '--config', $plain->{conf}, $segpath);
is($r->{rc}, 0, 'pushed into an unencrypted repository') or diag $r->{stderr};
copy("$plain->{repo}/$obj", "$enc->{repo}/$obj") or die "copy: $!";
$r = run_pgark('wal-fetch', '--config', $enc->{conf}, $seg, "$tmp/out");
is($r->{rc}, 200, 'an unencrypted object in an encrypted repository: wal-fetch exits 200');
like($r->{stderr}, qr/NOT encrypted.*forged/, '... calling it replaced or forged') or diag $r->{stderr};
ok(!-e "$tmp/out", '... and delivers nothing');
$r = run_pgark('wal-push', '--config', $enc->{conf}, $segpath);
is($r->{rc}, 1, 'wal-push of the same segment over the forged object: exit 1 (never "identical")');

# 2. the wal/ directory missing: not the end of the archive
rename("$enc->{repo}/wal", "$enc->{repo}/wal.away") or die $!;
$r = run_pgark('wal-fetch', '--config', $enc->{conf}, $seg, "$tmp/out");
is($r->{rc}, 200, 'wal/ missing: wal-fetch exits 200, not 1 (which would end recovery early)');
like($r->{stderr}, qr/wal is missing/, '... saying the directory is missing') or diag $r->{stderr};
rename("$enc->{repo}/wal.away", "$enc->{repo}/wal") or die $!;
ok(-d "$plain->{repo}/wal/history", 'repo-init creates wal/history/');

# 3. "already archived, identical" makes the archived copy durable first
SKIP:
{
	skip 'strace not available', 2 unless run_cmd('strace', '-V')->{rc} == 0;
	my $p3 = new_env(name => 'p3', pgdata => $node->data_dir);
	$r = run_pgark('wal-push', '--config', $p3->{conf}, $segpath);
	is($r->{rc}, 0, 'first push');
	my $trace = "$tmp/trace";
	my $asan = join(':', grep { defined && $_ ne '' } $ENV{ASAN_OPTIONS}, 'detect_leaks=0');
	$r = run_cmd({ env => { ASAN_OPTIONS => $asan } }, 'strace', '-f', '-y', '-qq', '-e', 'trace=fsync', '-o', $trace,
		pgark_bin('wal-push'), '--config', $p3->{conf}, $segpath);
	my $t = slurp_bytes($trace);
	my $final = "$p3->{repo}/$obj";
	(my $dir = $final) =~ s{/[^/]+$}{};
	ok($r->{rc} == 0 && $t =~ /fsync\(\d+<\Q$final\E>\)\s+= 0/ && $t =~ /fsync\(\d+<\Q$dir\E>\)\s+= 0/,
		'a second push (identical) fsyncs the archived object and its directory before exit 0')
	  or diag $t;
}

# 4. a ';' inside key_command belongs to the command
{
	my $hex = unpack('H*', slurp_bytes($enc->{key}));
	my $kc = "true ; printf %s $hex";
	my $conf = env_variant($enc, "$tmp/kc.conf", { crypto => { key_file => undef, key_command => $kc } });
	$r = run_pgark('wal-fetch', '--config', $conf, '00000009.history', "$tmp/h");
	is($r->{rc}, 1, "key_command with ' ; ' works (a missing file is just not found)") or diag $r->{stderr};
}

done_testing();
