# Fault: writes while PostgreSQL is killed (pg_ctl stop -m immediate: no shutdown checkpoint,
# crash recovery at the next start) and started again, on a private cluster (t::Fault::Pg),
# during a stream of POSTs with unique song names from forked keep-alive clients (never
# retried). Afterwards, against the table:
#   - every POST that got 201 is there exactly once, with the id the answer gave;
#   - none that got an error is there (nor any song twice);
#   - the "outcome unknown" answers (503 {"detail":"Database connection lost during the write;
#     its outcome is unknown."}) are the only ones that may or may not be there;
#   - no request hung, every failure is a 503 with a JSON detail, and the writes succeed again
#     after the restart.
# The long variant (./build/stress) kills it more often with more clients.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick load summarize alert_lines wait_until live_workers
    start_nginx write_outcomes);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    clients => pick(short => 6, long => 16),
    cycles  => pick(short => 2, long => 6),
    up      => pick(short => 1.5, long => 3),
    down    => pick(short => 1, long => 2),
    after   => pick(short => 8, long => 9),      # more than the pool's reconnect backoff (<= 5 s) + connect
);
my $pg = t::Fault::Pg->new;
my $n = start_nginx(
    name => 'fault-writes', url => $pg->url, workers => 2,
    http => 'music_connect_timeout 1s; music_pool_timeout 1s; music_query_timeout 3s; music_auth_cache_valid 10m;',
);
my @w = live_workers($n);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my $load = load(
    port => $n->port, clients => $P{clients}, timeout => 10, pace => 0.002,
    seconds => $P{cycles} * ($P{up} + $P{down} + 5) + $P{after} + 10,   # a bound; stopped below
    make => sub {
        my ($c, $seq) = @_;
        return { tag => "post:wr-$c-$seq", req => request('POST', '/api/musics/', headers => $json . $auth,
            body => qq({"song":"wr-$c-$seq","singer":"s"})) };
    },
);
my @up_at;
for (1 .. $P{cycles}) {
    sleep $P{up};
    $pg->stop('immediate');
    sleep $P{down};
    $pg->start;
    push @up_at, time;
}
sleep $P{after};
$load->stop;
my @res = $load->finish;
diag("POSTs with PostgreSQL killed (immediate) $P{cycles}x:\n" . summarize(@res));

is(scalar(grep { $_->{status} == 0 } @res), 0, 'no request hung or lost its connection');
my @bad = grep { $_->{status} != 201 && !($_->{status} == 503 && defined $_->{detail}) } @res;
is(scalar @bad, 0, 'every failure is a 503 with a JSON detail')
    or diag explain [map { "$_->{status} $_->{body}" } @bad[0 .. ($#bad > 9 ? 9 : $#bad)]];
my ($counts, $problems) = write_outcomes($pg, 'wr-%', \@res);
diag('writes: ' . join(', ', map { "$_ $counts->{$_}" } sort keys %$counts));
is(scalar @$problems, 0, 'every 201 is in the table once with its id; no other error left a row; nothing twice')
    or diag(join "\n", @$problems[0 .. ($#$problems > 19 ? 19 : $#$problems)]);
ok($counts->{failed} || $counts->{unknown}, 'the kills were noticed by some writes');
my $backoff_max = 5;   # src/db/pool.rs: a worker retries at most this long after PostgreSQL is back
my @tail = grep { $_->{t0} > $up_at[-1] + $backoff_max + 1.5 } @res;
ok(@tail && !grep({ $_->{status} != 201 } @tail), sprintf('writes succeed again once the reconnect backoff is over (%d in the last %.1fs)', scalar @tail, $P{after} - $backoff_max - 1.5))
    or diag(summarize(@tail));

is_deeply([live_workers($n)], \@w, 'no worker died');
ok(responsive($n), 'every worker still answers (/alive)');
if ($pg->{tls}) {
    my ($sessions, $over_tls) = $pg->ssl_sessions;
    ok($sessions > 0 && $over_tls == $sessions, "every session of the module is TLS ($over_tls of $sessions, pg_stat_ssl)");
}
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)');
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
