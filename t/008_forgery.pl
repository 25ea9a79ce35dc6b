# What someone who can write to the repository, or a broken mount, must not
# achieve: an object claiming "no encryption" accepted by an encrypted
# repository; a missing wal/ directory read as the end of the archive. And
# an object found already archived is made durable before wal-push says 0;
# a ';' inside key_command is part of the command.
use strict;
use warnings;

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
repo_write_object($enc, $obj, repo_read_object($plain, $obj));
$r = run_pgark('wal-fetch', '--config', $enc->{conf}, $seg, "$tmp/out");
is($r->{rc}, 200, 'an unencrypted object in an encrypted repository: wal-fetch exits 200');
like($r->{stderr}, qr/NOT encrypted.*forged/, '... calling it replaced or forged') or diag $r->{stderr};
ok(!-e "$tmp/out", '... and delivers nothing');
$r = run_pgark('wal-push', '--config', $enc->{conf}, $segpath);
is($r->{rc}, 1, 'wal-push of the same segment over the forged object: exit 1 (never "identical")');

# 2. the wal/ directory missing: not the end of the archive
SKIP:
{
	skip 'local backend only: S3 has no directories, so a missing wal/ cannot be told from one without objects', 3
	  unless backend_is_local();
	rename("$enc->{repo}/wal", "$enc->{repo}/wal.away") or die $!;
	$r = run_pgark('wal-fetch', '--config', $enc->{conf}, $seg, "$tmp/out");
	is($r->{rc}, 200, 'wal/ missing: wal-fetch exits 200, not 1 (which would end recovery early)');
	like($r->{stderr}, qr/wal is missing/, '... saying the directory is missing') or diag $r->{stderr};
	rename("$enc->{repo}/wal.away", "$enc->{repo}/wal") or die $!;
	ok(-d "$plain->{repo}/wal/history", 'repo-init creates wal/history/');
}

# 3. "already archived, identical" makes the archived copy durable first
SKIP:
{
	skip 'local backend only: fsync of the archived file (an S3 object is durable once its PUT returns)', 2
	  unless backend_is_local();
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

# 5. a cluster with group access (pg_wal 0750): fetched files are 0640
{
	my $gdir = "$tmp/group_wal";
	mkdir($gdir, 0750) or die $!;
	chmod(0750, $gdir);
	$r = run_pgark('wal-fetch', '--config', $plain->{conf}, $seg, "$gdir/x");
	is($r->{rc}, 0, 'fetch into a 0750 directory') or diag $r->{stderr};
	is(sprintf('%04o', (stat("$gdir/x"))[2] & 07777), '0640', '... gives a 0640 file, as PostgreSQL would');
	$r = run_pgark('wal-fetch', '--config', $plain->{conf}, $seg, "$tmp/y");
	is(sprintf('%04o', (stat("$tmp/y"))[2] & 07777), '0600', 'and into a 0700 one, 0600');
}

# 6. without /proc (a chroot or container): push and fetch still work
SKIP:
{
	my $probe = run_cmd('unshare', '-Urm', 'sh', '-c', 'mount -t tmpfs none /proc && ! test -e /proc/self/fd');
	skip 'cannot hide /proc in a user namespace here', 4 unless $probe->{rc} == 0;
	my ($w, $f) = (pgark_bin('wal-push'), pgark_bin('wal-fetch'));
	# sanitizer builds (make check SANITIZE=1) need /proc themselves
	$probe = run_cmd('unshare', '-Urm', 'sh', '-c', "mount -t tmpfs none /proc && '$w' --version");
	skip 'these binaries cannot start without /proc (a sanitizer build)', 4 unless $probe->{rc} == 0;
	my $p6 = new_env(name => 'noproc', pgdata => $node->data_dir);
	$r = run_cmd('unshare', '-Urm', 'sh', '-c',
		"mount -t tmpfs none /proc && '$w' --config '$p6->{conf}' '$segpath' && '$f' --config '$p6->{conf}' $seg '$tmp/noproc'");
	is($r->{rc}, 0, 'wal-push and wal-fetch with /proc hidden') or diag $r->{stderr};
	ok(slurp_bytes("$tmp/noproc") eq slurp_bytes($segpath), '... byte-exact');
	is_deeply([ repo_list_all($p6, 'wal/') ], [$obj], '... no temp file (nor any other object) left in the repository');
	is_deeply([ grep { /\.tmp$/ } list_dir($tmp) ], [], '... nor beside DEST');
}

# 7. key_command_timeout is a setting; out of range is a config error
{
	my $conf = env_variant($enc, "$tmp/kt.conf", { crypto => { key_command_timeout => 0 } });
	$r = run_pgark('wal-fetch', '--config', $conf, '00000009.history', "$tmp/h");
	is($r->{rc}, 200, 'key_command_timeout = 0: refused (wal-fetch 200)');
	like($r->{stderr}, qr/key_command_timeout: "0" is not a number of seconds from 1 to 3600/, '... naming the setting')
	  or diag $r->{stderr};
}

done_testing();
