# Fault: a worker killed with SIGKILL under load, on a private cluster (t::Fault::Pg).
# Expected: the master starts a replacement; the other worker keeps serving (after the kill
# only the requests that were on the dead worker's connections can fail, and nothing after
# the first half second); the dead worker's database connections are reclaimed (PostgreSQL
# sees the sockets close: their backends go away, the total returns to at most workers x pool
# size); every 201 is in the table; the only [alert] is the master's "exited on signal 9".
# The long variant (./build/stress) kills a worker several times.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick load summarize alert_lines wait_until live_workers
    start_nginx write_outcomes tcp_ports_to);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    clients => pick(short => 6, long => 16),
    kills   => pick(short => 1, long => 5),
    every   => pick(short => 2, long => 3),
);
my ($workers, $pool_size) = (2, 2);
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
my $n = start_nginx(
    name => 'fault-worker-kill', url => $pg->url, workers => $workers,
    http => "music_pool_size $pool_size; music_connect_timeout 1s; music_pool_timeout 2s; music_query_timeout 3s;",
);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $load = load(
    port => $n->port, clients => $P{clients}, timeout => 10, pace => 0.003,
    seconds => $P{kills} * ($P{every} + 5) + 10,   # a bound; stopped below
    make => sub {
        my ($c, $seq) = @_;
        return $seq % 3 == 2
            ? { tag => "post:wk-$c-$seq", req => request('POST', '/api/musics/', headers => $json . $auth,
                body => qq({"song":"wk-$c-$seq","singer":"s"}), close => 1) }
            : { tag => 'get', req => request('GET', '/api/musics/1/detail/', headers => $auth), retry_stale => 1 };
    },
);
my (@kills, @victim_ports, @replaced);
for my $k (1 .. $P{kills}) {
    sleep $P{every};
    my @w = live_workers($n);
    my %ports = map { $_ => [tcp_ports_to($_, $pg->port)] } @w;
    my ($victim) = sort { @{ $ports{$b} } <=> @{ $ports{$a} } } @w;   # the one with most DB connections
    note("killing worker $victim (database connections from ports @{ $ports{$victim} })");
    push @victim_ports, @{ $ports{$victim} };
    kill 'KILL', $victim;
    push @kills, time;
    my $new = wait_until(5, sub {
        my @now = live_workers($n);
        @now == $workers && !grep { $_ == $victim } @now;
    }, 0.05);
    push @replaced, $new ? 1 : 0;
}
sleep 2;
$load->stop;
my @res = $load->finish;
diag("load with $P{kills} worker(s) killed:\n" . summarize(@res));

is(scalar(grep { !$_ } @replaced), 0, 'the master replaced every killed worker');
ok(@victim_ports, 'the killed workers had database connections (' . scalar(@victim_ports) . ')');
my @late_fail = grep {
    my $r = $_;
    $r->{status} !~ /^20[01]$/ && !grep { $r->{t0} >= $_ - 0.2 && $r->{t0} <= $_ + 0.5 } @kills
} @res;
is(scalar @late_fail, 0, 'the other workers keep serving: no request failed except around the kill')
    or diag explain [map { sprintf '%s %s %s', $_->{status}, $_->{error}, $_->{body} } @late_fail[0 .. ($#late_fail > 9 ? 9 : $#late_fail)]];
my $lost = grep { $_->{status} !~ /^20[01]$/ } @res;
diag("requests lost with the killed worker(s): $lost");
my @after = grep { $_->{t0} > $kills[-1] + 0.5 } @res;
ok(scalar(grep { $_->{status} =~ /^2/ } @after) > 10, 'requests succeed after the kill (' . scalar(@after) . ')');
ok(responsive($n), 'every worker answers (/alive)');

my %victim = map { $_ => 1 } @victim_ports;
my $reclaimed = wait_until(5, sub { !grep { $victim{ $_->{port} } } $pg->backends }, 0.1);
ok($reclaimed, "the killed worker's backends are gone (PostgreSQL noticed the closed sockets)")
    or diag explain [grep { $victim{ $_->{port} } } $pg->backends];
my $count = $pg->count_backends;
cmp_ok($count, '<=', $workers * $pool_size, "backends back to normal ($count <= workers x pool size)");

my ($counts, $problems) = write_outcomes($pg, 'wk-%', \@res, lost_is_unknown => 1);
diag('writes: ' . join(', ', map { "$_ $counts->{$_}" } sort keys %$counts));
is(scalar @$problems, 0, 'every 201 is in the table once, nothing twice, no refused write left a row')
    or diag(join "\n", @$problems[0 .. ($#$problems > 9 ? 9 : $#$problems)]);

my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = grep { !/worker process \d+ exited on signal 9/ } alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert] but the expected "exited on signal 9"') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
