
# 020_alerts.pl — [alert]: a loopback HTTP server (webhook) and a loopback
# SMTP listener, both in forked children of this test, receive the alerts.
# A failing wal-push sends exactly one webhook alert and one e-mail over
# several failing calls; after repeat_after a reminder; the first success
# "recovered"; a new failure (repository not writable) alerts anew. No secret
# of the configuration reaches a payload or a message. A webhook that never
# answers changes neither wal-push's exit status nor, beyond [alert] timeout,
# its duration. repo-verify finding damage alerts.
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $tmp = PostgreSQL::Test::Utils::tempdir('alerts');
my @children;

END { kill 'KILL', @children if @children; }

sub listener
{
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1, Proto => 'tcp')
	  or die "listen: $!";
	return $s;
}

sub append_file
{
	my ($file, $text) = @_;
	open my $fh, '>>', $file or die "$file: $!";
	print $fh $text;
	close $fh;
}

# webhook: each POST body is appended to $file as one line; 200
sub http_server
{
	my ($file) = @_;
	my $s = listener();
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		while (my $c = $s->accept)
		{
			my ($len, $line) = (0);
			while (defined($line = <$c>))
			{
				$len = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
				last if $line =~ /^\r?\n$/;
			}
			my $body = '';
			read($c, $body, $len) if $len;
			append_file($file, "$body\n");
			print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
			close $c;
		}
		POSIX::_exit(0);
	}
	push @children, $pid;
	return $s->sockport;
}

# SMTP: each message (DATA) is appended to $file, followed by "\n=END=\n"
sub smtp_server
{
	my ($file) = @_;
	my $s = listener();
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		while (my $c = $s->accept)
		{
			$c->autoflush(1);
			print $c "220 test ESMTP\r\n";
			my $env = '';
			while (defined(my $line = <$c>))
			{
				if ($line =~ /^(EHLO|HELO)/i) { print $c "250-test\r\n250 SIZE 1000000\r\n" }
				elsif ($line =~ /^(MAIL|RCPT)/i) { $env .= $line; print $c "250 ok\r\n" }
				elsif ($line =~ /^DATA/i)
				{
					print $c "354 go ahead\r\n";
					my $msg = '';
					while (defined(my $l = <$c>))
					{
						last if $l eq ".\r\n";
						$msg .= $l;
					}
					append_file($file, "$env$msg\n=END=\n");
					$env = '';
					print $c "250 queued\r\n";
				}
				elsif ($line =~ /^QUIT/i) { print $c "221 bye\r\n"; last }
				else { print $c "250 ok\r\n" }
			}
			close $c;
		}
		POSIX::_exit(0);
	}
	push @children, $pid;
	return $s->sockport;
}

# accepts, then never answers
sub black_hole
{
	my $s = listener();
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		my @keep;
		while (my $c = $s->accept) { push @keep, $c }
		POSIX::_exit(0);
	}
	push @children, $pid;
	return $s->sockport;
}

sub webhooks
{
	my ($file) = @_;
	return () unless -e $file;
	open my $fh, '<', $file or die;
	return map { JSON::PP::decode_json($_) } grep { /\S/ } <$fh>;
}

sub mails
{
	my ($file) = @_;
	return () unless -e $file;
	my $all = slurp_file($file);
	return grep { /\S/ } split /\n=END=\n/, $all;
}

my $hook_file = "$tmp/webhook.jsonl";
my $mail_file = "$tmp/mail.txt";
my $http_port = http_server($hook_file);
my $smtp_port = smtp_server($mail_file);
my $hole_port = black_hole();

my $secret = 'FAKE-SECRET-7f3a9c';
my $token = 'TOKEN-4b1e0d';

my ($node, $env) = backup_cluster('alerts');
$node->start;
my $state = "$tmp/state";
my $conf = env_variant($env, "$tmp/alert.conf", {
	alert => {
		webhook      => "http://pgark:$secret\@127.0.0.1:$http_port/hook/$token",
		email        => 'dba@example.org, oncall@example.org',
		smtp_url     => "smtp://127.0.0.1:$smtp_port",
		from         => 'pgark@db1.example.org',
		repeat_after => '2s',
		timeout      => 5,
		state_dir    => $state,
	},
});

sub push_wal
{
	my ($c, $path) = @_;
	my $t0 = time;
	my $r = run_pgark('wal-push', '--config', $c, $path);
	$r->{secs} = time - $t0;
	return $r;
}

# --- configuration checks
{
	my $bad = env_variant($env, "$tmp/bad.conf", { alert => { webhook => "ftp://u:$secret\@h/x" } });
	my $r = run_pgark('repo-list', '--config', $bad);
	is($r->{rc}, 1, 'a webhook that is not http(s): refused');
	like($r->{stderr}, qr/\[alert\] webhook: ftp:\/\/h is not an http/, '... naming the setting and host');
	unlike($r->{stderr}, qr/\Q$secret\E/, '... without the password');
	$bad = env_variant($env, "$tmp/bad2.conf", { alert => { webhook => "http://127.0.0.1:1/" } });
	$r = run_pgark('repo-list', '--config', $bad);
	like($r->{stderr}, qr/\[alert\] needs somewhere to remember/, 'no state_dir and no spool: refused, saying why');
}

# --- a failing wal-push: one alert over several failing calls
my $badname = "$tmp/NOT-A-WAL-FILE";
write_bytes($badname, 'x');
for my $i (1 .. 3)
{
	my $r = push_wal($conf, $badname);
	is($r->{rc}, 1, "failing wal-push $i: exit 1");
}
my @h = webhooks($hook_file);
my @m = mails($mail_file);
is(scalar @h, 1, 'three failing calls: one webhook alert');
is(scalar @m, 1, '... and one e-mail');
is($h[0]{status}, 'failing', '... status failing');
is($h[0]{program}, 'wal-push', '... program wal-push');
is($h[0]{repository}, $env->{where}, '... the repository');
is($h[0]{count}, 1, '... count 1');
like($h[0]{message}, qr/NOT-A-WAL-FILE/, '... the error message');
like($h[0]{since}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '... since, ISO 8601');
ok($h[0]{host} ne '', '... the host');
like($m[0], qr/^Subject: \[pgark\] FAILING wal-push on \S+: /m, 'e-mail subject');
like($m[0], qr/^Date: \w{3}, \d\d \w{3} \d{4} /m, '... a Date header');
like($m[0], qr/^Message-ID: <[^>]+\@[^>]+>\r$/m, '... a Message-ID');
like($m[0], qr/^From: pgark\@db1\.example\.org\r$/m, '... From');
like($m[0], qr/^To: dba\@example\.org, oncall\@example\.org\r$/m, '... To');
like($m[0], qr/^RCPT TO:<dba\@example\.org>/m, '... envelope: first recipient');
like($m[0], qr/^RCPT TO:<oncall\@example\.org>/m, '... and the second');

# --- still failing after repeat_after: one reminder
sleep 2.2;
push_wal($conf, $badname) for 1 .. 2;
@h = webhooks($hook_file);
@m = mails($mail_file);
is(scalar @h, 2, 'after repeat_after: one reminder');
is($h[1]{status}, 'reminder', '... status reminder');
is($h[1]{count}, 4, '... count 4 (failures since the first, this one included)');
is($h[1]{since}, $h[0]{since}, '... since the first failure');
is(scalar @m, 2, '... and one reminder e-mail');
like($m[1], qr/^Subject: \[pgark\] STILL FAILING wal-push/m, '... STILL FAILING');

# --- a success: recovered, once
my $hist = "$tmp/0000000A.history";
write_bytes($hist, "1\t0/3000000\tno recovery target specified\n");
my $r = push_wal($conf, $hist);
is($r->{rc}, 0, 'a successful wal-push: exit 0') or diag $r->{stderr};
$r = push_wal($conf, $hist);
is($r->{rc}, 0, '... and again (already archived)');
@h = webhooks($hook_file);
@m = mails($mail_file);
is(scalar @h, 3, 'the first success after failures: one notice');
is($h[2]{status}, 'recovered', '... status recovered');
is($h[2]{count}, 5, '... after 5 failures');
is(scalar @m, 3, '... and one e-mail');
like($m[2], qr/^Subject: \[pgark\] RECOVERED wal-push/m, '... RECOVERED');

# --- a new failure: the repository not writable
SKIP:
{
	skip 'file permissions: local repository only', 3 unless backend_is_local();
	my @dirs = ($env->{repo}, grep { -d } glob("$env->{repo}/wal $env->{repo}/wal/*"));
	chmod 0555, @dirs;
	$r = push_wal($conf, "$tmp/0000000B.history") if write_bytes("$tmp/0000000B.history", "1\t0/3000000\tx\n") || 1;
	chmod 0700, @dirs;
	is($r->{rc}, 1, 'repository not writable: wal-push exit 1');
	@h = webhooks($hook_file);
	is(scalar @h, 4, '... a new failing alert');
	is($h[3]{status} . '/' . $h[3]{count}, 'failing/1', '... a new episode, count 1');
	push_wal($conf, "$tmp/0000000B.history");
}

# --- no secret anywhere
{
	my $all = (-e $hook_file ? slurp_file($hook_file) : '') . (-e $mail_file ? slurp_file($mail_file) : '');
	unlike($all, qr/\Q$secret\E/, 'no password in any payload or e-mail');
	unlike($all, qr/\Q$token\E/, 'no webhook token in any payload or e-mail');
}

# --- a webhook that never answers: same exit status, bounded time
{
	my $dead = env_variant($env, "$tmp/dead.conf", {
		alert => {
			webhook   => "http://pgark:$secret\@127.0.0.1:$hole_port/hook/$token",
			timeout   => 2,
			state_dir => "$tmp/state-dead",
		},
	});
	$r = push_wal($dead, $badname);
	is($r->{rc}, 1, 'a webhook that never answers: wal-push still exits 1');
	cmp_ok($r->{secs}, '<', 4.5, sprintf('... within the timeout (%.1f s)', $r->{secs}));
	like($r->{stderr}, qr/WARNING.*alert webhook http:\/\/127\.0\.0\.1:$hole_port: /, '... a warning naming the host');
	unlike($r->{stderr}, qr/\Q$secret\E|\Q$token\E/, '... without password or token');
	$r = push_wal($dead, $badname);
	cmp_ok($r->{secs}, '<', 1.5, '... the next failing call sends nothing (rate-limited): fast');
	$r = push_wal($dead, $hist);
	is($r->{rc}, 0, '... a success still exits 0 though the recovery notice cannot be sent');

	my $refused = listener();
	my $port = $refused->sockport;
	close $refused;
	my $closed = env_variant($env, "$tmp/closed.conf", {
		alert => { webhook => "http://127.0.0.1:$port/", timeout => 2, state_dir => "$tmp/state-closed" } });
	$r = push_wal($closed, $badname);
	is($r->{rc}, 1, 'a closed webhook port: wal-push exit 1 all the same');
	like($r->{stderr}, qr/alert webhook http:\/\/127\.0\.0\.1:$port/, '... a warning');
}

# --- the success path: no network, no state written
{
	my $n = scalar webhooks($hook_file);
	$r = push_wal($conf, $hist);
	is($r->{rc}, 0, 'success without a failure on record');
	is(scalar webhooks($hook_file), $n, '... sends nothing');
}

# --- repo-verify finding damage
{
	my $b = base_push($env->{conf}, '--fast');
	is($b->{rc}, 0, 'base-push') or diag $b->{stderr};
	my @packs = sort grep { m{^packs/../[0-9a-f]+$} } repo_list_objects($env, 'packs/');
	my $pack = $packs[0];
	my $orig = repo_read_object($env, $pack);
	my $bad = $orig;
	substr($bad, length($bad) / 2, 1) = chr(ord(substr($bad, length($bad) / 2, 1)) ^ 0xff);
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $bad);
	my $n = scalar webhooks($hook_file);
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 1, 'repo-verify finds damage: exit 1');
	@h = webhooks($hook_file);
	is(scalar @h, $n + 1, '... one alert');
	is($h[-1]{program} . '/' . $h[-1]{status}, 'repo-verify/failing', '... repo-verify failing');
	like($h[-1]{message}, qr/damage found in 1 of 1 backup checked/, '... saying what');
	repo_remove_object($env, $pack);
	repo_write_object($env, $pack, $orig);
	$r = run_pgark('repo-verify', '--config', $conf);
	is($r->{rc}, 0, 'repaired: exit 0');
	@h = webhooks($hook_file);
	is($h[-1]{program} . '/' . $h[-1]{status}, 'repo-verify/recovered', '... recovered');
}

# --- repo-check at WARNING or worse; a base-push that fails
{
	my $n = scalar webhooks($hook_file);
	my $warn = env_variant($env, "$tmp/check-warn.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/hook", state_dir => $state, repeat_after => '1h' },
		check => { backup_warn => '1s', backup_crit => '1h' },
	});
	sleep 2;
	$r = run_pgark('repo-check', '--config', $warn);
	is($r->{rc}, 1, 'repo-check: the newest backup older than backup_warn: WARNING') or diag show($r);
	@h = webhooks($hook_file);
	is(scalar @h, $n + 1, '... one alert');
	is($h[-1]{program} . '/' . $h[-1]{status}, 'repo-check/failing', '... repo-check failing');
	like($h[-1]{message}, qr/WARNING: .*backup WARNING/, '... naming the check');
	$r = run_pgark('repo-check', '--config', $warn);
	is(scalar webhooks($hook_file), $n + 1, 'the same WARNING again: no new alert');
	my $crit = env_variant($env, "$tmp/check-crit.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/hook", state_dir => $state, repeat_after => '1h' },
		check => { backup_warn => '1s', backup_crit => '1s' },
	});
	$r = run_pgark('repo-check', '--config', $crit);
	is($r->{rc}, 2, 'the backup check turned CRITICAL') or diag show($r);
	@h = webhooks($hook_file);
	is(scalar @h, $n + 2, '... a new alert at once, not a reminder an hour later');
	like($h[-1]{message}, qr/CRITICAL: .*backup CRITICAL/, '... saying CRITICAL');
	$r = run_pgark('repo-check', '--config', $conf);
	is($r->{rc}, 0, 'repo-check with the default thresholds: OK') or diag show($r);
	@h = webhooks($hook_file);
	is($h[-1]{program} . '/' . $h[-1]{status}, 'repo-check/recovered', '... recovered');

	$n = scalar @h;
	my $bad = env_variant($env, "$tmp/bad-conninfo.conf", {
		alert    => { webhook => "http://127.0.0.1:$http_port/hook", state_dir => $state },
		postgres => { conninfo => 'host=/nonexistent port=1 dbname=postgres connect_timeout=2' },
	});
	$r = run_pgark('base-push', '--config', $bad, '--progress=off');
	is($r->{rc}, 1, 'base-push that cannot reach the server fails');
	@h = webhooks($hook_file);
	is(scalar @h, $n + 1, '... one alert');
	is($h[-1]{program} . '/' . $h[-1]{status}, 'base-push/failing', '... base-push failing');
}

# --- wal-fetch: a failure, then "not found" (the repository answers: the
# end of the archive, all a standby gets) ends it
{
	my $n = scalar webhooks($hook_file);
	my $fconf = env_variant($env, "$tmp/fetch.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/fetch", state_dir => $state, repeat_after => '1h' },
		crypto => { key_file => "$tmp/nokey" },
	});
	my $r = run_pgark('wal-fetch', '--config', $fconf, '000000010000000000000001', "$tmp/fetched");
	ok($r->{rc} > 125, 'wal-fetch without its key: a fatal failure') or diag show($r);
	@h = grep { $_->{program} eq 'wal-fetch' } webhooks($hook_file);
	is($h[-1]{status}, 'failing', '... alerted') if @h;
	$fconf = env_variant($env, "$tmp/fetch2.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/fetch", state_dir => $state, repeat_after => '1h' },
	});
	$r = run_pgark('wal-fetch', '--config', $fconf, '0000000100000000000000FE', "$tmp/fetched");
	is($r->{rc}, 1, 'wal-fetch of a segment not archived: 1');
	@h = grep { $_->{program} eq 'wal-fetch' } webhooks($hook_file);
	is($h[-1]{status}, 'recovered', '... the failure is over: recovered') if @h;
}

# --- a state directory that cannot be used: the failures are still one
# episode (the state goes to /tmp/pgark-alert-<uid>), and it recovers
{
	my $locked = "$tmp/locked";
	mkdir $locked;
	chmod 0500, $locked;
	my $sconf = env_variant($env, "$tmp/badstate.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/state", state_dir => "$locked/state", repeat_after => '1h' },
	});
	my $n = scalar webhooks($hook_file);
	push_wal($sconf, "$tmp/no-such-dir/000000010000000000000042") for 1 .. 3;
	my @s = grep { $_->{program} eq 'wal-push' } webhooks($hook_file);
	is(scalar(webhooks($hook_file)) - $n, 1, 'state directory unusable: three failures, one alert');
	my $ok = push_wal($sconf, $hist);
	is($ok->{rc}, 0, 'then a success');
	unlike($ok->{stderr}, qr/WARNING/, '... without a warning about the state');
	@s = webhooks($hook_file);
	is($s[-1]{status}, 'recovered', '... recovered');
	chmod 0700, $locked;
}

# --- the archive library (the local+library pass): a failing archiver
# alerts once as pgark_archive, and its recovery is announced
if (archiver_is_library() && backend_is_local())
{
	my $libconf = env_variant($env, "$tmp/library.conf", {
		alert => { webhook => "http://127.0.0.1:$http_port/lib", state_dir => "$tmp/state-lib", repeat_after => '1h' },
	});
	$node->append_conf('postgresql.conf', "pgark.config = '$libconf'");
	$node->reload;
	my $seg = switch_wal($node);
	ok(wait_for_archive($node, $seg), "the library archives with the alerting configuration ($seg)");
	my $n = scalar webhooks($hook_file);
	my $walroot = repo_object_path($env, 'wal');
	my @dirs = grep { -d } glob("$walroot/*");
	chmod 0555, @dirs;
	my $failed_before = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
	$seg = switch_wal($node);
	ok($node->poll_query_until('postgres', "SELECT failed_count > $failed_before FROM pg_stat_archiver"),
		'the archiver fails (repository not writable)');
	my $t0 = time;
	my @lib;
	while (time - $t0 < 30)
	{
		@lib = grep { $_->{program} eq 'pgark_archive' } webhooks($hook_file);
		last if @lib;
		sleep 0.2;
	}
	is(scalar @lib, 1, 'one alert from the archive library');
	is($lib[0]{status}, 'failing', '... failing') if @lib;
	chmod 0755, @dirs;
	ok(wait_for_archive($node, $seg), "archiving resumes ($seg)");
	$t0 = time;
	while (time - $t0 < 30)
	{
		@lib = grep { $_->{program} eq 'pgark_archive' } webhooks($hook_file);
		last if @lib >= 2;
		sleep 0.2;
	}
	is(scalar @lib, 2, 'the failures were one episode: one alert, then ...');
	is($lib[-1]{status}, 'recovered', '... recovered') if @lib;
}

$node->stop;
done_testing();
