
# 004_full_disk.pl — the repository (and wal-fetch's DEST) on a full
# filesystem: a small tmpfs mounted in a user+mount namespace (unshare -Urm,
# no privileges needed). wal-push exits 1 with "No space left on device" and
# leaves neither an object nor a temp file; once space is back it stores the
# segment. wal-fetch into a full filesystem exits 200 and leaves nothing.
# On S3 the repository is not on the tmpfs: only DEST's part runs there.
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

# a local repository lives on the tmpfs; an S3 one does not fill it
my $local = backend_is_local();

my $dir = PostgreSQL::Test::Utils::tempdir('fulldisk');
my $mnt = "$dir/mnt";
make_path($mnt);
{
	my ($o, $e) = ('', '');
	my $ok = eval {
		IPC::Run::run([ 'unshare', '-Urm', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1" && echo mounted', 'sh', $mnt ],
			'>', \$o, '2>', \$e, IPC::Run::timeout(30));
	};
	chomp $e;
	plan skip_all => "cannot mount a tmpfs in a user namespace here (unshare -Urm): " . ($e || $@ || 'failed')
	  unless $ok && $o =~ /mounted/;
}

# A cluster only for its identity and a real segment header.
my $node = PostgreSQL::Test::Cluster->new('fulldisk');
$node->init;
my $name = '000000010000000000000001';
my $real = slurp_bytes($node->data_dir . "/pg_wal/$name");
is(length($real), 16 * 1024 * 1024, 'a real segment from initdb');

# The same segment with random bytes after its first page: lz4 cannot shrink
# it, so about 16 MiB must be stored.
my $segdir = "$dir/segs";
make_path($segdir);
open my $rnd, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
my $need = length($real) - 8192;
my $random = '';
while (length($random) < $need)
{
	my $n = read($rnd, $random, $need - length($random), length($random));
	die "/dev/urandom: $!" unless $n;
}
close $rnd;
my $seg = "$segdir/$name";
write_bytes($seg, substr($real, 0, 8192) . $random);

my $out = "$dir/out";
make_path($out);
my $env = new_env(dir => "$dir/env", name => 'fulldisk', pgdata => $node->data_dir,
	repo => $local ? "$mnt/repo" : "$dir/repo", init => 0);

# One script, one namespace: the tmpfs exists only while it runs.
my $script = <<'EOS';
set -u
mount -t tmpfs -o size=24m tmpfs "$MNT" || { echo "MOUNT failed"; exit 0; }
echo "MOUNT ok"
mkdir "$MNT/restore"
"$BIN/repo-init" --config "$CONF" --pgdata "$PGDATA" 2>"$OUT/init.err"; echo "INIT $?"
if [ "$LOCAL" = 1 ]; then
  # leave about 4 MiB: the write fails in the middle of the object
  dd if=/dev/zero of="$MNT/filler" bs=1M count=20 2>/dev/null; echo "FILL $?"
  "$BIN/wal-push" --config "$CONF" "$SEG" 2>"$OUT/push1.err"; echo "PUSH1 $?"
  find "$MNT/repo" -mindepth 1 -printf 'LIST1 %y %P\n'
  "$BIN/wal-fetch" --config "$CONF" "$NAME" "$OUT/fetch1" 2>"$OUT/fetch1.err"; echo "FETCH1 $?"
  rm -f "$MNT/filler"
fi
"$BIN/wal-push" --config "$CONF" "$SEG" 2>"$OUT/push2.err"; echo "PUSH2 $?"
[ "$LOCAL" = 1 ] && find "$MNT/repo" -mindepth 1 -printf 'LIST2 %y %P\n'
"$BIN/wal-fetch" --config "$CONF" "$NAME" "$OUT/fetch2" 2>"$OUT/fetch2.err"; echo "FETCH2 $?"
# now DEST is on the full filesystem
dd if=/dev/zero of="$MNT/filler" bs=1M count=64 2>/dev/null; echo "FILL2 $?"
"$BIN/wal-fetch" --config "$CONF" "$NAME" "$MNT/restore/$NAME" 2>"$OUT/fetch3.err"; echo "FETCH3 $?"
find "$MNT/restore" -mindepth 1 -printf 'LIST3 %y %P\n'
echo "DONE"
EOS

my ($o, $e) = ('', '');
{
	local %ENV = (
		%ENV,
		MNT    => $mnt,
		BIN    => $ENV{PGARK_BIN} // (PgarkTest::pgark_bin('wal-push') =~ s{/wal-push$}{}r),
		CONF   => $env->{conf},
		PGDATA => $node->data_dir,
		SEG    => $seg,
		NAME   => $name,
		LOCAL  => $local ? 1 : 0,
		OUT    => $out);
	delete $ENV{$_} for grep { /^PGARK_(?!BIN$|TOP$|TEST_)/ } keys %ENV;
	IPC::Run::run([ 'unshare', '-Urm', 'sh', '-c', $script ], '>', \$o, '2>', \$e,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}
note $o;
diag "stderr: $e" if $e ne '';
my %st = $o =~ /^(MOUNT|INIT|FILL|PUSH1|FETCH1|PUSH2|FETCH2|FILL2|FETCH3) (\S+)$/mg;
my %list;
push @{ $list{$1} }, $2 while $o =~ /^(LIST\d) (.*)$/mg;
my $err = sub { my $f = "$out/$_[0]"; -e $f ? slurp_bytes($f) : '' };
my $obj = wal_object_name($name);

is($st{MOUNT}, 'ok', 'a 24 MiB tmpfs in the namespace');
is($st{INIT},  0,    'repo-init on it') or diag $err->('init.err');
ok(defined $o && $o =~ /^DONE$/m, 'the script ran to its end');

SKIP:
{
	skip 'local backend only: the repository is not on the full filesystem', 6 unless $local;
	is($st{PUSH1}, 1, 'full filesystem: wal-push exits 1');
	like($err->('push1.err'), qr/No space left on device/, 'full filesystem: wal-push says No space left on device');
	my @l1 = @{ $list{LIST1} // [] };
	ok(!(grep { m{\Q$obj\E$} } @l1), 'full filesystem: no object for the segment');
	is_deeply([ grep { m{(^|/)\.[^/]*$} } @l1 ], [], 'full filesystem: no temp file left in the repository');
	is($st{FETCH1}, 1, 'full filesystem: the segment is "not found" afterwards');
	my @audit = read_audit($env);
	is((grep { $_->{program} eq 'wal-push' } @audit)[0]{result}, 'no-space', 'audit result "no-space"');
}

is($st{PUSH2}, 0, 'space back: wal-push exits 0') or diag $err->('push2.err');
if ($local)
{
	my @l2 = @{ $list{LIST2} // [] };
	ok((grep { $_ eq "f $obj" } @l2), 'space back: the object is stored');
	is_deeply([ grep { m{(^|/)\.[^/]*$} } @l2 ], [], 'space back: no temp file in the repository');
}
else
{
	is_deeply([ repo_list_all($env, 'wal/') ], [$obj], 'the object is stored, and nothing else under wal/');
}
is($st{FETCH2}, 0, 'space back: wal-fetch exits 0') or diag $err->('fetch2.err');
ok(-e "$out/fetch2" && slurp_bytes("$out/fetch2") eq slurp_bytes($seg), 'space back: fetched byte-exact');

is($st{FETCH3}, 200, 'DEST on a full filesystem: wal-fetch exits 200');
like($err->('fetch3.err'), qr/No space left on device/, 'DEST on a full filesystem: says No space left on device');
is_deeply($list{LIST3} // [], [], 'DEST on a full filesystem: no DEST, no temp file');

done_testing();
