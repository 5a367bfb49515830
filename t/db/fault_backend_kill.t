# Fault: the module's backends terminated mid-load, on a private cluster (t::Fault::Pg):
#   SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'
# a few times while forked keep-alive clients send GETs and POSTs (the POSTs' rows go through a
# BEFORE INSERT trigger that sleeps 20 ms, so that writes are in flight when it happens).
# Expected: the pool reconnects (the load succeeds again right after), zero hung requests, every
# failed request is counted and explained (503 with a JSON detail: connection lost, or for a
# write "outcome unknown"), every 201 is in the table once, every other error left no row, no
# worker died, no [alert], and the module holds no more backends than workers x pool size.
# The long variant (./build/stress) terminates more often, with more clients, for longer.
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
    kills   => pick(short => 4, long => 30),
    every   => pick(short => 1, long => 1),
    after   => pick(short => 2, long => 3),
);
my ($workers, $pool_size) = (2, 2);
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now());
    CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
my $n = start_nginx(
    name => 'fault-backend-kill', url => $pg->url, workers => $workers,
    http => "music_pool_size $pool_size; music_connect_timeout 1s; music_pool_timeout 1s; music_query_timeout 2s;",
);
my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";
my @w = live_workers($n);
my ($warm) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1));
is($warm->{status}, 200, 'warm-up answered 200');

my $load = load(
    port => $n->port, clients => $P{clients}, timeout => 10, pace => 0.002,
    seconds => $P{kills} * $P{every} + $P{after} + 3,
    make => sub {
        my ($c, $seq) = @_;
        return $seq % 2
            ? { tag => "post:bk-$c-$seq", req => request('POST', '/api/musics/', headers => $json . $auth,
                body => qq({"song":"bk-$c-$seq","singer":"s"})) }
            : { tag => 'get', req => request('GET', '/api/musics/1/detail/', headers => $auth), retry_stale => 1 };
    },
);
my ($terminated, @kill_at) = (0);
for (1 .. $P{kills}) {
    sleep $P{every};
    push @kill_at, time;
    $terminated += () = split /\n/, $pg->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
}
sleep $P{after};
my $t_end = time;
$load->stop;
my @res = $load->finish;
diag("load with $P{kills} rounds of pg_terminate_backend ($terminated backends terminated):\n" . summarize(@res));
ok($terminated >= $P{kills}, "backends were terminated ($terminated)");

my @hung = grep { $_->{status} == 0 } @res;
is(scalar @hung, 0, 'no request hung or lost its connection') or diag explain [@hung[0 .. ($#hung > 4 ? 4 : $#hung)]];
my %explained = map { $_ => 1 } ('Database connection lost.', $t::Fault::UNKNOWN, 'Database unavailable.',
    'Database busy: no connection became free in time.');
my @bad = grep { $_->{status} !~ /^20[01]$/ && !($_->{status} == 503 && $explained{ $_->{detail} // '' }) } @res;
is(scalar @bad, 0, 'every failed request is a 503 explaining it in a JSON detail')
    or diag explain [map { "$_->{status} $_->{body} ($_->{tag})" } @bad[0 .. ($#bad > 9 ? 9 : $#bad)]];
my @unknown_get = grep { $_->{tag} eq 'get' && ($_->{detail} // '') eq $t::Fault::UNKNOWN } @res;
is(scalar @unknown_get, 0, 'reads never say "outcome unknown"');
my $failed = grep { $_->{status} !~ /^2/ } @res;
diag("failed requests: $failed of " . scalar(@res) . " (" . sprintf('%.2f', 100 * $failed / (@res || 1)) . "%)");

my ($counts, $problems) = write_outcomes($pg, 'bk-%', \@res);
diag('writes: ' . join(', ', map { "$_ $counts->{$_}" } sort keys %$counts));
is(scalar @$problems, 0, 'every 201 is in the table once; no other error left a row; nothing twice')
    or diag(join "\n", @$problems[0 .. ($#$problems > 19 ? 19 : $#$problems)]);

my @tail = grep { $_->{t0} >= $kill_at[-1] + 1 } @res;
ok(@tail && !grep({ $_->{status} !~ /^2/ } @tail), sprintf('reconnected: every request from 1s after the last termination on succeeded (%d)', scalar @tail))
    or diag(summarize(@tail));

my $backends = wait_until(3, sub { my $c = $pg->count_backends; $c <= $workers * $pool_size ? "$c" : undef });
ok(defined $backends, "the module holds at most workers x pool size backends (" . ($backends // $pg->count_backends) . ")");
is_deeply([live_workers($n)], \@w, 'no worker died');
ok(responsive($n), 'every worker still answers (/alive)');
if ($pg->{tls}) {
    my ($sessions, $over_tls) = $pg->ssl_sessions;
    ok($sessions > 0 && $over_tls == $sessions, "every session of the module is TLS ($over_tls of $sessions, pg_stat_ssl)");
}
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
