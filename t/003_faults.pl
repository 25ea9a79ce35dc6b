
# 003_faults.pl — every fault of issue #2 items 4-6, by name: each ends in the
# exit code PostgreSQL's contract asks for, a clear message, and nothing
# written or left half-written.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run;
use MIME::Base64 qw(encode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgarkTest;

my $SEG = 16 * 1024 * 1024;

# A cluster archiving into repository A; its completed segments are copied
# out and pushed by hand into repository B (same system, own key), so that
# nothing done by hand can disturb the archiver.
my ($node, $envA) = archiving_cluster('faults');
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE f(i int); INSERT INTO f SELECT generate_series(1, 10000)');
my $s1 = switch_wal($node);
$node->safe_psql('postgres', 'INSERT INTO f SELECT generate_series(1, 10000)');
my $s2 = switch_wal($node);
ok(wait_for_archive($node, $s2), "archived $s1 and $s2");
my $segs = "$envA->{dir}/segs";
save_archived_wal($node, $segs);
ok(-s "$segs/$s1" == $SEG && -s "$segs/$s2" == $SEG, 'copies of two complete segments');

my $envB = new_env(name => 'manual', pgdata => $node->data_dir);
my $sysid = system_identifier_of($node->data_dir);
my $dest_dir = "$envB->{dir}/dest";
make_path($dest_dir);

sub push_b { return run_pgark('wal-push', '--config', $envB->{conf}, @_); }
sub fetch_b { return run_pgark('wal-fetch', '--config', $envB->{conf}, @_); }

sub nothing_left_in_dest
{
	my ($what) = @_;
	is_deeply([ list_dir($dest_dir) ], [], "$what: nothing at DEST, no temp file beside it");
}

# ---------------------------------------------------------------- (a)
note '(a) bad names are refused before any I/O';
{
	my $noconf = "$envB->{dir}/does-not-exist/pgark.conf";
	for my $name ('../etc/passwd', '00000001000000000000000G', 'RECOVERYXLOG',
		lc('00000001000000000000000A'), '000000010000000000000001.partial.x',
		'00000000000000000000000A', '00000001000000000000000A.history', 'x' x 300)
	{
		my $shown = length($name) > 40 ? 'a 300-character name' : $name;
		my $r = run_pgark('wal-push', '--config', $noconf, $name);
		is($r->{rc}, 1, "bad name: wal-push $shown exits 1");
		like($r->{stderr}, qr/is not a WAL file name/, "bad name: wal-push $shown says why");
		unlike($r->{stderr}, qr/configuration/, "bad name: wal-push $shown refused before reading the configuration");
		$r = run_pgark('wal-fetch', '--config', $noconf, $name, "$dest_dir/x");
		is($r->{rc}, 200, "bad name: wal-fetch $shown exits 200");
		like($r->{stderr}, qr/is not a WAL file name/, "bad name: wal-fetch $shown says why");
		unlike($r->{stderr}, qr/configuration/, "bad name: wal-fetch $shown refused before reading the configuration");
	}
	nothing_left_in_dest('bad names');
	# and the configuration is read right after: the order is what was tested
	my $r = run_pgark('wal-push', '--config', $noconf, "$segs/$s1");
	is($r->{rc}, 1, 'a good name with a missing configuration: exit 1');
	like($r->{stderr}, qr/could not open configuration file/, 'a good name goes on to the configuration');
}

# ---------------------------------------------------------------- (b)
note '(b) a segment of another cluster is refused';
{
	my $other = PostgreSQL::Test::Cluster->new('other');
	$other->init;
	my $other_sysid = system_identifier_of($other->data_dir);
	isnt($other_sysid, $sysid, 'a second initdb has another system identifier');
	my $dir = "$envB->{dir}/other";
	make_path($dir);
	my ($seg) = grep { /^[0-9A-F]{24}$/ } list_dir($other->data_dir . '/pg_wal');
	copy($other->data_dir . "/pg_wal/$seg", "$dir/$seg") or die;
	my $before = repo_snapshot($envB);
	my $r = push_b("$dir/$seg");
	is($r->{rc}, 1, 'foreign segment: wal-push exits 1');
	like($r->{stderr}, qr/belongs to database system $other_sysid, but this repository holds system $sysid/,
		'foreign segment: the message names both system identifiers');
	is_deeply(repo_snapshot($envB), $before, 'foreign segment: repository unchanged');
	my @audit = read_audit($envB);
	is($audit[-1]{result}, 'mismatch', 'foreign segment: audit result "mismatch"');
}

# ---------------------------------------------------------------- (c)
note '(c) a truncated segment is refused';
{
	my $dir = "$envB->{dir}/truncated";
	make_path($dir);
	write_bytes("$dir/$s1", substr(slurp_bytes("$segs/$s1"), 0, 8 * 1024 * 1024));
	my $before = repo_snapshot($envB);
	my $r = push_b("$dir/$s1");
	is($r->{rc}, 1, 'truncated segment: wal-push exits 1');
	like($r->{stderr}, qr/is 8388608 bytes, not the segment size 16777216/, 'truncated segment: says so');
	is_deeply(repo_snapshot($envB), $before, 'truncated segment: repository unchanged');
	ok(!repo_object_exists($envB, wal_object_name($s1)), 'truncated segment: no object');

	# a segment whose header says another position than its name
	write_bytes("$dir/$s2", slurp_bytes("$segs/$s1"));
	$r = push_b("$dir/$s2");
	is($r->{rc}, 1, 'misnamed segment: wal-push exits 1');
	like($r->{stderr}, qr/starts at [0-9A-F]+\/[0-9A-F]+, not at [0-9A-F]+\/[0-9A-F]+ as its name says/,
		'misnamed segment: says so');
	is_deeply(repo_snapshot($envB), $before, 'misnamed segment: repository unchanged');
}

# ---------------------------------------------------------------- (d)
note '(d) the same name twice: identical is fine, different is refused';
my $obj1 = wal_object_name($s1);
{
	my $r = push_b("$segs/$s1");
	is($r->{rc}, 0, 'first push: exit 0') or diag $r->{stderr};
	ok(repo_object_exists($envB, $obj1), "first push: $obj1 stored");
	my $stored = repo_read_object($envB, $obj1);
	$r = push_b("$segs/$s1");
	is($r->{rc}, 0, 'identical content again: exit 0');
	like($r->{stderr}, qr/already archived with identical content/, 'identical content again: says so');
	is(repo_read_object($envB, $obj1), $stored, 'identical content again: object untouched');

	# the archiver's own repository: the same file a second time
	$r = run_pgark('wal-push', '--config', $envA->{conf}, "$segs/$s1");
	is($r->{rc}, 0, 'identical content again into the archiver\'s repository: exit 0');

	my $dir = "$envB->{dir}/modified";
	make_path($dir);
	my $mod = slurp_bytes("$segs/$s1");
	substr($mod, 8192 * 10 + 100, 4) = 'EVIL';
	write_bytes("$dir/$s1", $mod);
	my $before = repo_snapshot($envB);
	$r = push_b("$dir/$s1");
	is($r->{rc}, 1, 'different content under an archived name: exit 1');
	like($r->{stderr}, qr/\Q$obj1\E is already archived with DIFFERENT content; refusing to overwrite it/,
		'different content: says so loudly');
	like($r->{stderr}, qr/Find out which cluster wrote/, 'different content: tells what to do');
	is(repo_read_object($envB, $obj1), $stored, 'different content: the archived object is byte-identical to before');
	is_deeply(repo_snapshot($envB), $before, 'different content: repository unchanged');
	my @audit = read_audit($envB);
	is($audit[-1]{result}, 'conflict', 'different content: audit result "conflict"');
	is($audit[-1]{object}, $obj1, 'different content: audit names the object');
	my @results = map { $_->{result} } grep { $_->{object} eq $obj1 } @audit;
	is_deeply([ @results[ -3 .. -1 ] ], [ 'ok', 'exists', 'conflict' ], 'audit: ok, exists, conflict for that object');
}

note '(d) a .history file is never overwritten either';
{
	my $dir = "$envB->{dir}/history";
	make_path("$dir/a", "$dir/b");
	write_bytes("$dir/a/00000002.history", "1\t0/3000000\tno recovery target specified\n");
	write_bytes("$dir/b/00000002.history", "1\t0/5000000\tno recovery target specified\n");
	my $r = push_b("$dir/a/00000002.history");
	is($r->{rc}, 0, '.history: stored') or diag $r->{stderr};
	my $stored = repo_read_object($envB, 'wal/history/00000002.history');
	is(push_b("$dir/a/00000002.history")->{rc}, 0, '.history: identical again: exit 0');
	$r = push_b("$dir/b/00000002.history");
	is($r->{rc}, 1, '.history with other content: exit 1');
	like($r->{stderr}, qr/wal\/history\/00000002\.history is already archived with DIFFERENT content/, '.history with other content: says so');
	is(repo_read_object($envB, 'wal/history/00000002.history'), $stored, '.history: the archived one is untouched');
	$r = fetch_b('00000002.history', "$dest_dir/00000002.history");
	is($r->{rc}, 0, '.history: fetches');
	is(slurp_bytes("$dest_dir/00000002.history"), slurp_bytes("$dir/a/00000002.history"), '.history: the first content, byte-exact');
	unlink "$dest_dir/00000002.history";
}

# ---------------------------------------------------------------- (e)
note '(e) a missing file is "not found", DEST untouched';
{
	my $r = fetch_b('0000000100000000000000FF', "$dest_dir/0000000100000000000000FF");
	is($r->{rc}, 1, 'missing segment: wal-fetch exits 1');
	unlike($r->{stderr}, qr/ERROR/, 'missing segment: not an error (the normal end of the archive)');
	nothing_left_in_dest('missing segment');
	$r = fetch_b('0000000A.history', "$dest_dir/0000000A.history");
	is($r->{rc}, 1, 'missing history file: wal-fetch exits 1');
	nothing_left_in_dest('missing history file');
	write_bytes("$dest_dir/existing", 'precious');
	$r = fetch_b('0000000100000000000000FE', "$dest_dir/existing");
	is($r->{rc}, 1, 'missing segment over an existing DEST: exit 1');
	is(slurp_bytes("$dest_dir/existing"), 'precious', 'missing segment: an existing DEST is untouched');
	unlink "$dest_dir/existing";
}

note '(e) an existing DEST is replaced whole (PostgreSQL normally removes it first)';
{
	write_bytes("$dest_dir/RECOVERYXLOG", 'stale');
	my $r = fetch_b($s1, "$dest_dir/RECOVERYXLOG");
	is($r->{rc}, 0, 'over an existing DEST: exit 0') or diag $r->{stderr};
	ok(slurp_bytes("$dest_dir/RECOVERYXLOG") eq slurp_bytes("$segs/$s1"), 'over an existing DEST: byte-exact');
	unlink "$dest_dir/RECOVERYXLOG";
	nothing_left_in_dest('over an existing DEST');
}

# ---------------------------------------------------------------- (f)
note '(f) a damaged object is a hard failure (200), also under standby.signal';
{
	# PostgreSQL runs restore_command in the data directory: standby.signal
	# is looked for there
	my $fake_pgdata = "$envB->{dir}/standby-pgdata";
	make_path($fake_pgdata);
	write_bytes("$fake_pgdata/standby.signal", '');

	my $good = repo_read_object($envB, $obj1);
	my $r = fetch_b($s1, "$dest_dir/$s1");
	is($r->{rc}, 0, 'sanity: the intact object fetches');
	ok(slurp_bytes("$dest_dir/$s1") eq slurp_bytes("$segs/$s1"), 'sanity: byte-exact');
	unlink "$dest_dir/$s1";

	my $flip = sub {
		my ($b, $at) = @_;
		substr($b, $at, 1) = chr(ord(substr($b, $at, 1)) ^ 0x01);
		return $b;
	};
	my %damage = (
		'a flipped byte in the middle' =>
		  [ $flip->($good, int(length($good) / 2)), qr/is damaged: frame failed authentication/ ],
		'a flipped byte in the header salt' =>
		  [ $flip->($good, 50), qr/is damaged: frame failed authentication: .* \(frame 0\)/ ],
		'a flipped byte in the header length' =>
		  [ $flip->($good, 21), qr/is damaged: header says \d+ bytes, not the segment size 16777216/ ],
		'a flipped byte in the magic' => [ $flip->($good, 0), qr/is damaged: not a pgark object/ ],
		'the last 100 bytes cut off' =>
		  [ substr($good, 0, length($good) - 100), qr/is damaged: object truncated/ ],
		'cut inside the header' => [ substr($good, 0, 40), qr/is damaged: object truncated/ ],
		'an empty object'       => [ '', qr/is damaged: object truncated/ ],
		'bytes appended'        => [ $good . "\0", qr/is damaged: bytes after the trailer/ ],
	);
	for my $what (sort keys %damage)
	{
		my ($bytes, $re) = @{ $damage{$what} };
		repo_write_object($envB, $obj1, $bytes);
		$r = fetch_b($s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "$what: wal-fetch exits 200");
		like($r->{stderr}, $re, "$what: says what is wrong");
		like($r->{stderr}, qr/\Q$obj1\E/, "$what: names the object");
		nothing_left_in_dest($what);
		$r = run_pgark({ cwd => $fake_pgdata }, 'wal-fetch', '--config', $envB->{conf}, $s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "$what under standby.signal: still 200 (damage is not transient)");
		nothing_left_in_dest("$what under standby.signal");
	}
	# wal-fetch decodes each 1 MiB while a second thread writes the one
	# before: frame 1 damaged while the write of chunk 0 fails (a file size
	# limit of 512 KiB, SIGXFSZ ignored) fails both steps at once. The
	# reader's verdict is the one reported (the object is damaged: 200 also
	# under standby.signal), and nothing is left at DEST.
	my $plen0 = unpack('N', substr($good, 80, 4));
	my $frame1 = 80 + 8 + $plen0 + 16;
	# wal-fetch of $s1 with the configuration $_[0] under that limit
	my $limited = sub {
		return run_cmd('sh', '-c', 'trap "" XFSZ; ulimit -f 1024; exec "$0" "$@"', pgark_bin('wal-fetch'),
			'--config', $_[0], $s1, "$dest_dir/$s1");
	};
	# the limit alone: the intact object (the loop above left it damaged,
	# and the decoding goes on to the end whatever the writes meet)
	repo_write_object($envB, $obj1, $good);
	$r = $limited->($envB->{conf});
	is($r->{rc}, 200, 'DEST past a 512 KiB file size limit: wal-fetch exits 200');
	like($r->{stderr}, qr/could not write/, '... saying it could not write DEST') or diag show($r);
	nothing_left_in_dest('a failed write of DEST');
	repo_write_object($envB, $obj1, $flip->($good, $frame1 + 8 + 10));
	$r = $limited->($envB->{conf});
	is($r->{rc}, 200, 'frame 1 damaged while the write of chunk 0 fails: wal-fetch exits 200');
	like($r->{stderr}, qr/is damaged: frame failed authentication.*\(frame 1\)/,
		'... and reports the damage (the reader\'s error wins)') or diag show($r);
	nothing_left_in_dest('frame 1 damaged while the write of chunk 0 fails');
	# the damage far behind the failed write (its last 100 bytes cut off):
	# the decoding goes on to the end whatever the writes meet, so the
	# damage is what is reported, whichever thread was faster; the same with
	# one thread ([backup] workers = 1: the pipeline on one chunk)
	my $one = env_variant($envB, "$envB->{dir}/one-thread.conf", { backup => { workers => 1 } });
	for my $t ([ 'two threads', $envB->{conf} ], [ 'one thread', $one ])
	{
		my ($how, $cf) = @$t;
		repo_write_object($envB, $obj1, substr($good, 0, length($good) - 100));
		$r = $limited->($cf);
		is($r->{rc}, 200, "$how, truncated object while a write fails: wal-fetch exits 200");
		like($r->{stderr}, qr/is damaged: object truncated/, '... and reports the damage, not the write')
		  or diag show($r);
		nothing_left_in_dest("$how, a truncated object while a write fails");
	}
	# damage only the whole object shows (another segment's sound object
	# under this name: its WAL header says so) while a write failed: the
	# damage is reported, never the write (a standby would retry that)
	my $other = repo_object_exists($envB, wal_object_name($s2)) ? undef : push_b("$segs/$s2");
	ok(!defined $other || $other->{rc} == 0, "$s2 stored in the second repository") or diag show($other);
	repo_write_object($envB, $obj1, repo_read_object($envB, wal_object_name($s2)));
	$r = $limited->($envB->{conf});
	is($r->{rc}, 200, "$s2\'s object under $s1\'s name while the write of chunk 0 fails: wal-fetch exits 200");
	like($r->{stderr}, qr/starts at [0-9A-F]+\/[0-9A-F]+, not at/, '... and reports the misnamed WAL, not the write')
	  or diag show($r);
	nothing_left_in_dest('a misnamed object while the write of chunk 0 fails');
	# the limit alone with one thread
	repo_write_object($envB, $obj1, $good);
	$r = $limited->($one);
	is($r->{rc}, 200, 'one thread, DEST past a 512 KiB file size limit: wal-fetch exits 200');
	like($r->{stderr}, qr/could not write/, '... saying it could not write DEST') or diag show($r);
	nothing_left_in_dest('one thread, a failed write of DEST');
	# and without the limit: one thread fetches the segment byte-exact
	$r = run_pgark('wal-fetch', '--config', $one, $s1, "$dest_dir/$s1");
	is($r->{rc}, 0, 'one thread, the intact object: wal-fetch exits 0') or diag show($r);
	ok(slurp_bytes("$dest_dir/$s1") eq slurp_bytes("$segs/$s1"), '... byte-exact');
	unlink "$dest_dir/$s1";
	# Either of wal-fetch's two threads decodes the next frame, whichever
	# is free first: damage in each frame in turn, and in the trailer, is
	# reported as that frame's (the thread that met it is not the one that
	# reports it), and nothing is left at DEST.
	my @frames;
	for (my $at = 80; $at < length($good);)
	{
		push @frames, $at;
		$at += 8 + unpack('N', substr($good, $at, 4)) + 16;
	}
	for my $k (0 .. $#frames)
	{
		repo_write_object($envB, $obj1, $flip->($good, $frames[$k] + 8 + 3));
		$r = fetch_b($s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "frame $k of $#frames damaged: wal-fetch exits 200");
		like($r->{stderr}, qr/is damaged: frame failed authentication.*\(frame $k\)/,
			"frame $k of $#frames damaged: reported as frame $k") or diag show($r);
		nothing_left_in_dest("frame $k of $#frames damaged");
	}
	repo_write_object($envB, $obj1, $good);
	my @audit = grep { $_->{program} eq 'wal-fetch' && $_->{result} ne 'ok' } read_audit($envB);
	is(scalar(@audit), 2 * scalar(keys %damage) + 6 + scalar(@frames), 'every failed fetch is in the audit log');
	$r = fetch_b($s1, "$dest_dir/$s1");
	is($r->{rc}, 0, 'repaired object fetches again');
	unlink "$dest_dir/$s1";
}

# ---------------------------------------------------------------- (f2)
note '(f2) OpenSSL failing (its configuration activates a provider that does not exist)';
{
	my $cnf = "$envB->{dir}/bad-openssl.cnf";
	write_bytes($cnf, "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
		  . "[provider_sect]\nnosuch = nosuch_sect\n[nosuch_sect]\nactivate = 1\n");
	my $r = run_pgark({ env => { OPENSSL_CONF => $cnf } }, 'wal-fetch', '--config', $envB->{conf}, $s1,
		"$dest_dir/$s1");
	is($r->{rc}, 200, 'OpenSSL failing: wal-fetch exits 200');
	nothing_left_in_dest('OpenSSL failing');
	SKIP:
	{
		skip 'OpenSSL error strings are loaded where libcurl may use OpenSSL', 1 unless backend_is_local();
		# a local repository: OpenSSL's error strings are not loaded (0.2
		# ms), the error is told by its code and the command that spells it
		like($r->{stderr}, qr/OpenSSL .* failed: error:[0-9A-F]{8}:.*"openssl errstr [0-9A-F]{8}" says what it means/,
			'OpenSSL failing: its error code, and how to read it') or diag show($r);
	}
	$r = fetch_b($s1, "$dest_dir/$s1");
	is($r->{rc}, 0, 'OpenSSL configured again: wal-fetch exits 0');
	unlink "$dest_dir/$s1";
}

# ---------------------------------------------------------------- (g)
note '(g) the wrong master key';
{
	my $key2 = "$envB->{dir}/other.key";
	is(run_pgark('key-gen', $key2)->{rc}, 0, 'a second key');
	my $conf = env_variant($envB, "$envB->{dir}/wrongkey.conf", { crypto => { key_file => $key2 } });
	my $r = run_pgark('wal-fetch', '--config', $conf, $s1, "$dest_dir/$s1");
	is($r->{rc}, 200, 'wrong key: wal-fetch exits 200');
	like($r->{stderr}, qr/wrong master key: this data key is wrapped by the master key with fingerprint [0-9a-f]+, the configured one has fingerprint [0-9a-f]+/,
		'wrong key: wal-fetch says so, with fingerprints');
	nothing_left_in_dest('wrong key');
	my $before = repo_snapshot($envB);
	$r = run_pgark('wal-push', '--config', $conf, "$segs/$s2");
	is($r->{rc}, 1, 'wrong key: wal-push exits 1');
	like($r->{stderr}, qr/wrong master key/, 'wrong key: wal-push says so');
	is_deeply(repo_snapshot($envB), $before, 'wrong key: repository unchanged');
	$r = run_pgark('wal-push', '--config', $conf, "$segs/$s1");
	is($r->{rc}, 1, 'wrong key, already archived name: wal-push exits 1 (cannot compare)');
	like($r->{stderr}, qr/cannot be read back to compare.*wrong master key/, 'wrong key, already archived: says so');
}

# ---------------------------------------------------------------- (h)
note '(h) a key file group or others can read is refused, and the key is never shown';
{
	my $raw = slurp_bytes($envB->{key});
	my @forms = ($raw, unpack('H*', $raw), uc(unpack('H*', $raw)), encode_base64($raw, ''));
	for my $mode (0644, 0640, 0604)
	{
		my $m = sprintf('%04o', $mode);
		chmod $mode, $envB->{key} or die;
		my $before = repo_snapshot($envB);
		my $r = push_b("$segs/$s2");
		is($r->{rc}, 1, "key mode $m: wal-push exits 1");
		like($r->{stderr}, qr/key file \Q$envB->{key}\E has mode $m: group or others can access it; refusing to use it/,
			"key mode $m: wal-push says why");
		is_deeply(repo_snapshot($envB), $before, "key mode $m: repository unchanged");
		my $all = $r->{stdout} . $r->{stderr};
		$r = fetch_b($s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "key mode $m: wal-fetch exits 200");
		like($r->{stderr}, qr/group or others can access it/, "key mode $m: wal-fetch says why");
		nothing_left_in_dest("key mode $m");
		$all .= $r->{stdout} . $r->{stderr};
		ok(!(grep { index($all, $_) >= 0 } @forms), "key mode $m: the key appears nowhere in the output");
	}
	chmod 0600, $envB->{key} or die;
	# nor in any message of a working run, nor in the audit log
	my $r = push_b('-v', "$segs/$s2");
	is($r->{rc}, 0, 'key mode 0600: wal-push works again') or diag $r->{stderr};
	my $all = $r->{stdout} . $r->{stderr} . slurp_bytes($envB->{audit}) . $envB->{init_stderr};
	ok(!(grep { index($all, $_) >= 0 } @forms), 'the key appears in no output of a verbose run nor the audit log');
	my $kg = run_pgark('key-gen', "$envB->{dir}/third.key");
	my $k3 = slurp_bytes("$envB->{dir}/third.key");
	my $kgout = $kg->{stdout} . $kg->{stderr};
	ok(!(grep { index($kgout, $_) >= 0 } ($k3, unpack('H*', $k3), uc(unpack('H*', $k3)))),
		'key-gen does not print the key it made');
}

# ---------------------------------------------------------------- (i)
note '(i) an uninitialised repository';
{
	my $empty = "$envB->{dir}/empty-repo";
	make_path($empty);
	my $missing = "$envB->{dir}/missing-repo";
	for my $case ([ 'empty directory', $empty ], [ 'missing directory', $missing ])
	{
		my ($what, $path) = @$case;
		# (on S3 both are a prefix with no object)
		my $conf = env_variant($envB, "$envB->{dir}/uninit.conf", { repo => repo_config($path) });
		my $r = run_pgark('wal-push', '--config', $conf, "$segs/$s1");
		is($r->{rc}, 1, "$what: wal-push exits 1");
		like($r->{stderr}, qr/repo-init/, "$what: wal-push says to run repo-init");
		$r = run_pgark('wal-fetch', '--config', $conf, $s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "$what: wal-fetch exits 200");
		like($r->{stderr}, qr/repo-init/, "$what: wal-fetch says to run repo-init");
		nothing_left_in_dest($what);
		is_deeply([ repo_list_all({ conf => $conf, repo => $path }, '') ], [], "$what: nothing written into it")
		  unless backend_is_local();
	}
	if (backend_is_local())
	{
		is_deeply([ list_dir($empty) ], [], 'the empty directory stays empty');
		ok(!-e $missing, 'the missing directory is not created');
	}
}

# ---------------------------------------------------------------- (j)
note '(j) a malformed configuration names file, line and key';
{
	my $bad = "$envB->{dir}/bad.conf";
	my @lines = (
		'# a configuration with a mistake',        # 1
		'[repo]',                                   # 2
		'type = local',                             # 3
		"path = $envB->{repo}",                     # 4
		'',                                         # 5
		'[crypto]',                                 # 6
		"key_file = $envB->{key}",                  # 7
		'colour = blue',                            # 8
	);
	my %cases = (
		'unknown key' => [ 8, 'colour = blue', qr/\Q$bad\E:8: \[crypto\] colour: unknown setting/ ],
		'unknown section' => [ 8, "[extra]\nthing = 1", qr/\Q$bad\E:9: unknown section \[extra\] \(key "thing"\)/ ],
		'syntax error' => [ 8, 'this is not a setting', qr/\Q$bad\E:8: syntax error/ ],
		'relative key path' => [ 7, 'key_file = master.key', qr/\Q$bad\E:7: \[crypto\] key_file: "master.key" is not an absolute path/ ],
		'set twice' => [ 8, 'key_file = /x', qr/\Q$bad\E:8: \[crypto\] key_file: set more than once/ ],
	);
	for my $what (sort keys %cases)
	{
		my ($lineno, $text, $re) = @{ $cases{$what} };
		my @l = @lines;
		$l[ $lineno - 1 ] = $text;
		write_bytes($bad, join("\n", @l) . "\n");
		my $r = run_pgark('wal-push', '--config', $bad, "$segs/$s1");
		is($r->{rc}, 1, "config $what: wal-push exits 1");
		like($r->{stderr}, $re, "config $what: wal-push names file, line and key");
		$r = run_pgark('wal-fetch', '--config', $bad, $s1, "$dest_dir/$s1");
		is($r->{rc}, 200, "config $what: wal-fetch exits 200");
		like($r->{stderr}, $re, "config $what: wal-fetch names file, line and key");
		nothing_left_in_dest("config $what");
		$r = run_pgark('repo-init', '--config', $bad);
		is($r->{rc}, 1, "config $what: repo-init exits 1");
		like($r->{stderr}, $re, "config $what: repo-init names file, line and key");
	}
	my $r = run_pgark({ env => { PGARK_LOG_LEVEL => 'loud' } }, 'wal-push', '--config', $envB->{conf}, "$segs/$s1");
	is($r->{rc}, 1, 'a bad environment setting: exit 1');
	like($r->{stderr}, qr/environment PGARK_LOG_LEVEL: "loud" is not a log level/, 'a bad environment setting names the variable');
}

# ---------------------------------------------------------------- (k)
note '(k) key-gen: mode 0600, never overwrites';
{
	my $key = "$envB->{dir}/keys/new.key";
	my $old_umask = umask(0);
	my $r = run_pgark('key-gen', $key);
	umask($old_umask);
	is($r->{rc}, 0, 'key-gen with umask 0: exit 0') or diag $r->{stderr};
	is(sprintf('%04o', (stat $key)[2] & 07777), '0600', 'key-gen: the key file has mode 0600 even with umask 0');
	is(-s $key, 32, 'key-gen: 32 bytes');
	like($r->{stderr}, qr/created master key \Q$key\E \(mode 0600, fingerprint [0-9a-f]+\)/, 'key-gen: says what it made');
	my $bytes = slurp_bytes($key);
	$r = run_pgark('key-gen', $key);
	is($r->{rc}, 1, 'key-gen over an existing file: exit 1');
	like($r->{stderr}, qr/\Q$key\E already exists; refusing to overwrite a key/, 'key-gen over an existing file: says so');
	is(slurp_bytes($key), $bytes, 'key-gen over an existing file: the key is unchanged');
	symlink($key, "$envB->{dir}/keys/link.key") or die;
	$r = run_pgark('key-gen', "$envB->{dir}/keys/link.key");
	is($r->{rc}, 1, 'key-gen over a symbolic link: exit 1');
	is(slurp_bytes($key), $bytes, 'key-gen over a symbolic link: the key it points to is unchanged');
}

# ---------------------------------------------------------------- (l)
note '(l) repo-init refuses an initialised repository';
{
	my $before = repo_snapshot($envB);
	my $r = run_pgark('repo-init', '--config', $envB->{conf}, '--pgdata', $node->data_dir);
	is($r->{rc}, 1, 'repo-init again: exit 1');
	like($r->{stderr}, qr/\Q$envB->{where}\E is already a pgark repository \(pgark\.repo exists\)/, 'repo-init again: says so');
	is_deeply(repo_snapshot($envB), $before, 'repo-init again: repository unchanged (no new data key)');
}

# ---------------------------------------------------------------- (o)
note '(o) relative %p is taken from the working directory (where PostgreSQL runs the command), not [postgres] pgdata';
{
	# a restore next to production with production's configuration file
	my $here = "$envB->{dir}/cwd-pgdata";
	my $elsewhere = "$envB->{dir}/other-pgdata";
	make_path("$here/pg_wal", "$elsewhere/pg_wal");
	my $conf = env_variant($envB, "$envB->{dir}/pgdata-elsewhere.conf", { postgres => { pgdata => $elsewhere } });
	my $r = run_pgark({ cwd => $here }, 'wal-fetch', '--config', $conf, $s1, 'pg_wal/RECOVERYXLOG');
	is($r->{rc}, 0, 'wal-fetch with a relative DEST: exit 0') or diag $r->{stderr};
	ok(-f "$here/pg_wal/RECOVERYXLOG" && slurp_bytes("$here/pg_wal/RECOVERYXLOG") eq slurp_bytes("$segs/$s1"),
		'relative DEST: written in the working directory\'s pg_wal');
	is_deeply([ list_dir("$elsewhere/pg_wal") ], [], 'relative DEST: nothing written into [postgres] pgdata');
	copy("$segs/$s2", "$here/pg_wal/$s2") or die;
	my $envR = new_env(name => 'relative', pgdata => $node->data_dir);
	my $confR = env_variant($envR, "$envR->{dir}/pgdata-elsewhere.conf", { postgres => { pgdata => $elsewhere } });
	$r = run_pgark({ cwd => $here }, 'wal-push', '--config', $confR, "pg_wal/$s2");
	is($r->{rc}, 0, 'wal-push with a relative %p: exit 0') or diag $r->{stderr};
	$r = run_pgark('wal-fetch', '--config', $confR, $s2, "$dest_dir/$s2");
	ok($r->{rc} == 0 && slurp_bytes("$dest_dir/$s2") eq slurp_bytes("$segs/$s2"), 'relative %p: the working directory\'s file was stored');
	unlink "$dest_dir/$s2";
}

# ---------------------------------------------------------------- (n)
note '(n) wal-push killed (SIGKILL) while storing: nothing half-written is ever taken for an object';
{
	my $envK = new_env(name => 'killed', pgdata => $node->data_dir);
	my $objk = wal_object_name($s2);
	my @outcomes;
	for my $delay_ms (5, 20, 60)
	{
		my $h = IPC::Run::start([ pgark_bin('wal-push'), '--config', $envK->{conf}, "$segs/$s2" ],
			'>', \my $o, '2>', \my $e);
		usleep($delay_ms * 1000);
		$h->signal('KILL');
		$h->finish;
		if (repo_object_exists($envK, $objk))
		{
			push @outcomes, 'stored';
			last;
		}
		push @outcomes, 'killed';
	}
	note "kill outcomes: @outcomes";
	my $r = run_pgark('wal-fetch', '--config', $envK->{conf}, $s2, "$dest_dir/$s2");
	ok($r->{rc} == 1 || ($r->{rc} == 0 && slurp_bytes("$dest_dir/$s2") eq slurp_bytes("$segs/$s2")),
		'after SIGKILL: the object is absent or whole, never partial');
	unlink "$dest_dir/$s2";
	$r = run_pgark('wal-push', '--config', $envK->{conf}, "$segs/$s2");
	is($r->{rc}, 0, 'after SIGKILL: PostgreSQL\'s retry stores it') or diag $r->{stderr};
	$r = run_pgark('wal-fetch', '--config', $envK->{conf}, $s2, "$dest_dir/$s2");
	is($r->{rc}, 0, 'after SIGKILL and retry: fetches');
	ok(slurp_bytes("$dest_dir/$s2") eq slurp_bytes("$segs/$s2"), 'after SIGKILL and retry: byte-exact');
	unlink "$dest_dir/$s2";
	is_deeply([ repo_list_objects($envK, 'wal/') ], [$objk], 'after SIGKILL: temp files are never listed as objects');
	# locally the object is written as an unnamed O_TMPFILE, on S3 it exists
	# only once its upload completed: a killed push leaves nothing behind
	is_deeply([ repo_list_all($envK, 'wal/') ], [$objk], 'after SIGKILL: no temp file (nor any other object) left in the repository');

	# wal-fetch killed while writing DEST: nothing named is left beside DEST
	my @fouts;
	for my $delay_ms (5, 20, 40, 80)
	{
		my $h = IPC::Run::start([ pgark_bin('wal-fetch'), '--config', $envK->{conf}, $s2, "$dest_dir/$s2" ],
			'>', \my $o, '2>', \my $e);
		usleep($delay_ms * 1000);
		$h->signal('KILL');
		$h->finish;
		my @left = list_dir($dest_dir);
		if (@left == 1 && $left[0] eq $s2 && slurp_bytes("$dest_dir/$s2") eq slurp_bytes("$segs/$s2"))
		{
			push @fouts, 'delivered';
			unlink "$dest_dir/$s2";
			next;
		}
		push @fouts, @left ? "left: @left" : 'nothing';
	}
	note "wal-fetch kill outcomes: @fouts";
	is_deeply([ grep { /^left/ } @fouts ], [], 'wal-fetch killed mid-way: DEST is whole or absent, no temp file beside it');
}

# ---------------------------------------------------------------- (m)
note '(m) a failing archive_command loses no WAL';
{
	chmod 0644, $envA->{key} or die;
	my ($failed0) = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
	$node->safe_psql('postgres', 'INSERT INTO f SELECT generate_series(1, 1000)');
	my $s3 = switch_wal($node);
	ok($node->poll_query_until('postgres', "SELECT failed_count > $failed0 AND last_failed_wal = '$s3' FROM pg_stat_archiver"),
		"archive_command failed for $s3 (pg_stat_archiver.failed_count rose)");
	my $wal = $node->data_dir . '/pg_wal';
	ok(-f "$wal/$s3", "$s3 stays in pg_wal");
	ok(-f "$wal/archive_status/$s3.ready", "$s3 stays .ready");
	ok(!repo_object_exists($envA, wal_object_name($s3)), "$s3 is not in the repository");
	my $log = slurp_file($node->logfile);
	if (archiver_is_library())
	{
		like($log, qr/WARNING:\s+pgark_archive: key file \Q$envA->{key}\E has mode 0644: group or others can access it/,
			'the server log has pgark_archive\'s reason');
		like($log, qr/\Q"$s3" stays in pg_wal\E/, 'pgark_archive said the segment stays and will be retried');
	}
	else
	{
		like($log, qr/wal-push: ERROR: key file \Q$envA->{key}\E has mode 0644: group or others can access it/,
			'the server log has wal-push\'s reason');
		like($log, qr/archive command failed with exit code 1/, 'PostgreSQL saw exit code 1 and will retry');
	}
	my $copy = slurp_bytes("$wal/$s3");

	chmod 0600, $envA->{key} or die;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');    # wakes the archiver up
	ok(wait_for_archive($node, $s3), "once fixed, $s3 is archived");
	ok(-f "$wal/archive_status/$s3.done", "$s3 is .done");
	my $r = run_pgark('wal-fetch', '--config', $envA->{conf}, $s3, "$dest_dir/$s3");
	is($r->{rc}, 0, "$s3 fetches");
	ok(slurp_bytes("$dest_dir/$s3") eq $copy, "$s3 fetched back byte-exact");
	unlink "$dest_dir/$s3";
}

$node->stop;
done_testing();
