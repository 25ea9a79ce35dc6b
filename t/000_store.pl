
# 000_store.pl — the storage interface (lib/store.h) on the backend under
# test, through t/tools/store-tool, which the other tests' repository
# accessors use on S3: objects come back byte-exact (empty, every byte value,
# larger than a WAL segment), put replaces, put-new refuses an existing name
# and leaves the object alone, list by prefix with sizes, head, rm (also of an
# absent name), "not found" told apart from other failures, bad names refused,
# and two repositories side by side (one's prefix a prefix of the other's)
# never see each other's objects. On the local backend the accessors and the
# files agree.
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

note 'backend: ' . backend();
my $env = new_env(name => 'store', init => 0);
# (a local repository is a directory that must exist; an S3 one is a prefix)
make_path($env->{repo}) if backend_is_local();
my $st = sub { store_tool($env, @_) };

my $r = $st->('list');
is($r->{rc}, 0, 'list of an empty repository: exit 0') or diag show($r);
is($r->{stdout}, '', '... and nothing listed');
$r = $st->('get', 'nothing');
is($r->{rc}, 1, 'get of an absent object: exit 1 (not found)') or diag show($r);
like($r->{stderr}, qr/not-found/, '... saying not found');
is($st->('head', 'nothing')->{rc}, 1, 'head of an absent object: exit 1');

my $bytes = join('', map { chr } 0 .. 255) x 64;
$r = $st->('put', 'a/b/obj', { stdin => $bytes });
is($r->{rc}, 0, 'put: exit 0') or diag show($r);
$r = $st->('get', 'a/b/obj');
is($r->{rc}, 0, 'get: exit 0') or diag show($r);
ok($r->{stdout} eq $bytes, 'get: every byte value comes back as written');
like($st->('head', 'a/b/obj')->{stdout}, qr/^16384 \d+$/, 'head: size 16384 and a time');

$r = $st->('put', 'a/empty', { stdin => '' });
is($r->{rc}, 0, 'put of an empty object: exit 0') or diag show($r);
$r = $st->('get', 'a/empty');
ok($r->{rc} == 0 && $r->{stdout} eq '', 'an empty object comes back empty') or diag show($r);
like($st->('head', 'a/empty')->{stdout}, qr/^0 /, 'head: size 0');

# larger than a WAL segment (and than usual multipart thresholds' smallest)
my $big = '';
{
	open my $rnd, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
	my $want = 17 * 1024 * 1024 + 123;
	while (length($big) < $want)
	{
		my $n = read($rnd, $big, $want - length($big), length($big));
		die "/dev/urandom: $!" unless $n;
	}
	close $rnd;
}
$r = $st->('put', 'big/one', { stdin => $big });
is($r->{rc}, 0, 'put of 17 MiB: exit 0') or diag show($r);
$r = $st->('get', 'big/one');
ok($r->{rc} == 0 && $r->{stdout} eq $big, '17 MiB come back byte-exact') or diag "exit $r->{rc}: $r->{stderr}";

# put replaces; put-new does not
$r = $st->('put', 'a/b/obj', { stdin => 'second' });
is($r->{rc}, 0, 'put over an existing object: exit 0') or diag show($r);
is($st->('get', 'a/b/obj')->{stdout}, 'second', 'put replaced it');
$r = $st->('put-new', 'a/b/obj', { stdin => 'third' });
is($r->{rc}, 3, 'put-new over an existing object: exit 3 (exists)') or diag show($r);
is($st->('get', 'a/b/obj')->{stdout}, 'second', 'put-new left it alone');
$r = $st->('put-new', 'a/b/obj2', { stdin => 'new' });
is($r->{rc}, 0, 'put-new of a new name: exit 0') or diag show($r);

# list
$r = $st->('list');
is($r->{stdout}, "a/b/obj 6\na/b/obj2 3\na/empty 0\nbig/one " . length($big) . "\n", 'list: every object with its size, sorted');
is($st->('list', 'a/b/')->{stdout}, "a/b/obj 6\na/b/obj2 3\n", 'list with a prefix');
is($st->('list', 'a/b/obj2')->{stdout}, "a/b/obj2 3\n", 'a prefix that is a whole name');
is($st->('list', 'a/e')->{stdout}, "a/empty 0\n", 'a prefix ending inside a name');
is($st->('list', 'zzz/')->{stdout}, '', 'a prefix nothing has');

# rm
is($st->('rm', 'a/b/obj2')->{rc}, 0, 'rm: exit 0');
is($st->('get', 'a/b/obj2')->{rc}, 1, 'removed: not found');
is($st->('rm', 'a/b/obj2')->{rc}, 0, 'rm of an absent object: exit 0');
is($st->('rm', 'big/one')->{rc}, 0, 'rm of the large object');

# ranges: exact bytes; a range past the object's end is damage, never a short read
my $thousand = join('', map { chr(65 + $_ % 26) } 0 .. 999);
is($st->('put', 'r/obj', { stdin => $thousand })->{rc}, 0, 'put of a 1000-byte object');
is($st->('get', 'r/obj', 10, 20)->{stdout}, substr($thousand, 10, 20), 'a range inside the object');
is($st->('get', 'r/obj', 990, 10)->{stdout}, substr($thousand, 990, 10), 'a range ending at its end');
for my $past ([ 995, 10 ], [ 2000, 10 ])
{
	$r = $st->('get', 'r/obj', @$past);
	is($r->{rc}, 4, "range $past->[0]+$past->[1] past the end: refused (exit 4)") or diag show($r);
	like($r->{stderr}, qr/ERROR \(corrupt\)/, '... as damage (corrupt)');
	is($r->{stdout}, '', '... nothing delivered');
}

# several names at once (DeleteObjects on S3), absent ones included
$st->('put', "m/$_", { stdin => "m$_" }) for 1 .. 5;
$r = $st->('rm', 'm/1', 'm/2', 'm/3', 'm/absent');
is($r->{rc}, 0, 'rm of several names at once: exit 0') or diag show($r);
is($st->('list', 'm/')->{stdout}, "m/4 2\nm/5 2\n", '... those are gone, the others stay');
is($st->('rm', 'm/4', 'm/5', 'r/obj')->{rc}, 0, '... and the rest');

# more objects than one listing page (1000 on S3) and one delete batch (1000)
$r = $st->('fill', 'many', 1234);
is($r->{rc}, 0, 'fill: 1234 objects') or diag show($r);
my @many = split /\n/, $st->('list', 'many/')->{stdout};
is(scalar(@many), 1234, 'a listing across pages finds all 1234');
is($many[0] . ' ' . $many[-1], 'many/000000 11 many/001233 11', '... first and last, with sizes');
$r = $st->('rm-prefix', 'many/');
is($r->{rc}, 0, 'removing all 1234 at once (two delete batches)') or diag show($r);
is($st->('list', 'many/')->{stdout}, '', '... none is left');

# names the store refuses, before any I/O
for my $bad ('../x', '/abs', 'a//b', '.hidden', 'a/./b', 'a/')
{
	$r = $st->('put', $bad, { stdin => 'x' });
	is($r->{rc}, 4, "put '$bad': refused (exit 4)") or diag show($r);
}
is($st->('list')->{stdout}, "a/b/obj 6\na/empty 0\n", 'nothing was written under a bad name');

# the test helpers agree with store-tool
is_deeply([ repo_list_objects($env, '') ], [ 'a/b/obj', 'a/empty' ], 'repo_list_objects');
is_deeply([ repo_list_all($env, 'a/') ], [ 'a/b/obj', 'a/empty' ], 'repo_list_all');
ok(repo_object_exists($env, 'a/b/obj') && !repo_object_exists($env, 'a/b/none'), 'repo_object_exists');
repo_write_object($env, 'w/x', "written\n");
is($st->('get', 'w/x')->{stdout}, "written\n", 'repo_write_object');
is(repo_read_object($env, 'a/b/obj'), 'second', 'repo_read_object');
is_deeply(repo_snapshot($env), { 'a/b/obj' => 'second', 'a/empty' => '', 'w/x' => "written\n" }, 'repo_snapshot');
repo_remove_object($env, 'w/x');
ok(!repo_object_exists($env, 'w/x'), 'repo_remove_object');
if (backend_is_local())
{
	is(slurp_bytes(repo_object_path($env, 'a/b/obj')), 'second', 'local: the object is the file');
	is(repo_where($env), $env->{repo}, 'local: the repository is named by its directory');
}
else
{
	ok(!eval { repo_object_path($env, 'a/b/obj'); 1 }, 'S3: repo_object_path refuses (no files)');
	like(repo_where($env), qr{^s3://[^/]+/\S+$}, 'S3: the repository is named s3://bucket/prefix');
}

# a second repository whose name (and so prefix) extends the first one's
my $env2 = new_env(name => 'store2', repo => "$env->{repo}2", init => 0);
make_path($env2->{repo}) if backend_is_local();
isnt($env2->{conf}, undef, 'a second repository beside the first');
is(store_tool($env2, 'list')->{stdout}, '', 'it sees none of the first one\'s objects');
is(store_tool($env2, 'put', 'a/b/obj', { stdin => 'other' })->{rc}, 0, 'an object of the same name in it');
is($st->('get', 'a/b/obj')->{stdout}, 'second', 'the first repository\'s object is unchanged');
is($st->('list')->{stdout}, "a/b/obj 6\na/empty 0\n", 'the first repository lists only its own objects');
is(store_tool($env2, 'list')->{stdout}, "a/b/obj 5\n", 'and the second only its own');

done_testing();
