
# 018_contrib.pl — what contrib/ ships: the example retention script
# (contrib/scripts/pgark-pin-monthly) picks the first usable backup of each
# month and year from a repo-list --json listing (a table of synthetic
# dates: unusable, unfinished and already pinned backups, --months), and
# pins them in a real repository, once; the cron file and the systemd units
# name only programs that exist, with options they accept.
use strict;
use warnings;

use Cwd ();
use File::Basename qw(dirname);
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgarkTest;

my $top = $ENV{PGARK_TOP} // dirname(dirname(Cwd::abs_path(__FILE__)));
my $script = "$top/contrib/scripts/pgark-pin-monthly";
my $bindir = dirname(pgark_bin('repo-list'));
my $tmp = PostgreSQL::Test::Utils::tempdir('contrib');
local $ENV{PATH} = "$bindir:$ENV{PATH}";

# --- the picks, from a listing with synthetic dates
my @backups = (
	[ '20250601T020000Z-aaaa', '2025-06-01T02:00:05Z', 'ok', 1 ],    # pinned already
	[ '20250615T020000Z-bbbb', '2025-06-15T02:00:05Z', 'ok', 0 ],
	[ '20251231T020000Z-cccc', '2025-12-31T02:00:05Z', 'ok', 0 ],
	[ '20260103T020000Z-dddd', '2026-01-03T02:00:05Z', 'ok', 0 ],
	[ '20260120T020000Z-eeee', '2026-01-20T02:00:05Z', 'ok', 0 ],
	[ '20260201T020000Z-ffff', '2026-02-01T02:00:05Z', 'wal-missing', 0 ],
	[ '20260205T020000Z-gggg', '2026-02-05T02:00:05Z', 'ok', 0 ],
	[ '20260301T020000Z-hhhh', undef, 'unreadable', 0 ],
);
my $listing = "$tmp/listing.json";
write_bytes($listing, JSON::PP->new->canonical->encode({
	backups => [ map { { id => $_->[0], stop_time => $_->[1], status => $_->[2], pinned => $_->[3] ? JSON::PP::true : JSON::PP::false } } @backups ],
	wal => [], window => { earliest => undef, latest => undef } }));

sub picks
{
	my (@args) = @_;
	my $r = run_cmd({}, 'sh', $script, '--config', '/nonexistent.conf', '--dry-run', '--listing', $listing, @args);
	is($r->{rc}, 0, "pgark-pin-monthly @args --dry-run: exit 0") or diag $r->{stderr};
	return [ map { /--reason "([^"]*)" -- (\S+)$/ ? "$2 $1" : "?$_" } grep { /\S/ } split /\n/, $r->{stdout} ];
}

is_deeply(picks(), [
	'20251231T020000Z-cccc monthly 2025-12',
	'20260103T020000Z-dddd yearly 2026, monthly 2026-01',
	'20260205T020000Z-gggg monthly 2026-02',
], 'the first usable backup of each month and year; June 2025\'s first is pinned already; unusable ones skipped');
is_deeply(picks('--months', '1'), [
	'20260103T020000Z-dddd yearly 2026',
	'20260205T020000Z-gggg monthly 2026-02',
], '--months 1: only the last month (and each year\'s first)');
is(run_cmd({}, 'sh', $script, '--months', 'x', '--config', 'c')->{rc}, 2, 'a bad --months: exit 2');
is(run_cmd({}, 'sh', $script)->{rc}, 2, 'no --config: exit 2');

# --- a real repository: pinned once
my ($node, $env) = backup_cluster('primary');
$node->start;
my $b = base_push($env->{conf}, '--fast');
is($b->{rc}, 0, 'base-push') or diag $b->{stderr};
my $r = run_cmd({}, 'sh', $script, '--config', $env->{conf});
is($r->{rc}, 0, 'pgark-pin-monthly on a real repository: exit 0') or diag $r->{stderr};
my $j = JSON::PP::decode_json(run_pgark('repo-list', '--config', $env->{conf}, '--json')->{stdout});
ok($j->{backups}[0]{pinned}, 'the backup (the first of its month and year) is pinned');
my ($pin) = grep { $_->{action} eq 'pin' } read_audit($env);
like($pin->{detail} // '', qr/^yearly \d{4}, monthly \d{4}-\d\d$/, 'with the reason');
$r = run_cmd({}, 'sh', $script, '--config', $env->{conf});
is($r->{stdout}, "nothing to pin\n", 'run again: nothing to pin');

# --- cron and systemd name programs that exist, with options they accept
{
	my @lines;
	push @lines, grep { /^[0-9*]/ } split /\n/, slurp_file("$top/contrib/cron/pgark");
	push @lines, map { s/^ExecStart=//r } grep { /^ExecStart=/ } split /\n/, slurp_file($_)
	  for glob("$top/contrib/systemd/*.service");
	ok(@lines >= 7, scalar(@lines) . ' commands in the cron file and the service');
	for my $line (@lines)
	{
		for my $cmd (split /\s*&&\s*/, $line)
		{
			my @w = split ' ', $cmd;
			shift @w while @w && $w[0] !~ m{^(/\S+/)?(base-push|repo-verify|repo-\w+|dump-\w+|pgark-pin-monthly)$};
			next unless @w;
			my ($prog) = $w[0] =~ m{([^/]+)$};
			my $exe = $prog eq 'pgark-pin-monthly' ? $script : pgark_bin($prog);
			ok(-x $exe, "$prog exists");
			my @args = grep { /^--/ } @w[ 1 .. $#w ];
			my $help = run_cmd({}, $exe eq $script ? ('sh', $script, '--bogus') : ($exe, '--help'));
			for my $a (@args)
			{
				my ($opt) = $a =~ /^(--[a-z-]+)/;
				like($help->{stdout} . $help->{stderr}, qr/\Q$opt\E/, "$prog accepts $opt");
			}
		}
	}
	like(slurp_file("$top/contrib/systemd/pgark-backup.timer"), qr/^OnCalendar=\*-\*-\* 02:00:00 UTC$/m, 'the timer: daily at 02:00 UTC');
	like(slurp_file("$top/contrib/systemd/pgark-expire.timer"), qr/^OnCalendar=\*-\*-\* 03:15:00 UTC$/m, 'expire: daily at 03:15 UTC');
	like(slurp_file("$top/contrib/systemd/pgark-check.timer"), qr/^OnCalendar=hourly$/m, 'check: hourly');
	like(slurp_file("$top/contrib/systemd/pgark-drill.timer"), qr/^OnCalendar=Sun \*-\*-\* 04:30:00 UTC$/m, 'drill: weekly, Sunday 04:30 UTC');
	like(slurp_file("$top/contrib/systemd/pgark-drill.service"), qr/^ExecStart=\S+\/repo-verify .*--restore-drill/m, '... running repo-verify --restore-drill');
	for my $t (glob("$top/contrib/systemd/*.timer"))
	{
		(my $svc = $t) =~ s/\.timer$/.service/;
		ok(-f $svc, "$t has its service");
	}
	my @cron = grep { /^[0-9*]/ } split /\n/, slurp_file("$top/contrib/cron/pgark");
	ok((grep { /repo-expire/ } @cron) && (grep { /^5 \* \* \* \*.*repo-check/ } @cron), 'cron: expire daily, check hourly');
	ok((grep { /^\d+ \d+ \* \* 0 .*repo-verify .*--restore-drill/ } @cron), 'cron: a restore drill weekly');
	like(slurp_file("$top/contrib/logrotate/pgark"), qr{^/var/log/pgark/audit\.jsonl \{}m, 'logrotate: the audit log');
}

# --- the example configurations parse (every key known, every value valid)
for my $c ("$top/conf/pgark.conf", "$top/conf/pgark-s3.conf")
{
	my $r = run_pgark('repo-expire', '--config', $c, '--dry-run');
	unlike($r->{stderr}, qr/\Q$c\E:\d+:/, "$c: no configuration error") or diag $r->{stderr};
}

done_testing();
