# Stress (./build/stress only): a sustained wrk load (Debian's wrk, a Lua script mixing
# authenticated GETs of one row, GETs of the list and POSTs of unique songs) for a bounded time,
# with one fault after another on a private cluster (t::Fault::Pg):
#   reloads (HUP x5), pg_terminate_backend of the module's backends, PostgreSQL stopped (fast)
#   and started, a worker SIGKILLed.
# Expected: no request times out in wrk (nothing hangs), the only statuses are 200, 201 and
# 503 (each 503 a JSON detail), the load succeeds again at the end, every 201 is in the table,
# the module holds at most workers x (pool + stream pool) backends afterwards, the only [alert] is the
# master's "exited on signal 9" for the killed worker.
# env: NGX_MUSIC_WRK_SECONDS (40), NGX_MUSIC_WRK_CONNECTIONS (64).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use POSIX ();
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive alert_lines wait_until live_workers start_nginx tcp_ports_to);

plan skip_all => 'long fault/stress variant: run ./build/stress' unless $ENV{NGX_MUSIC_STRESS};
plan skip_all => 'TEST_NGINX_PG_URL not set' unless $ENV{TEST_NGINX_PG_URL};
my $wrk = -x '/usr/bin/wrk' ? '/usr/bin/wrk' : plan skip_all => 'wrk is not installed (apt-get install wrk)';

my $seconds = $ENV{NGX_MUSIC_WRK_SECONDS} // 40;
my $conns = $ENV{NGX_MUSIC_WRK_CONNECTIONS} // 64;
my ($workers, $pool_size, $stream_size) = (2, 2, 2);
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created)
    SELECT 'song ' || g, 'singer ' || (g % 10), now(), now() FROM generate_series(1, 200) g});
my $n = start_nginx(
    name => 'stress-wrk', url => $pg->url, workers => $workers, connections => 4096,
    http => "music_pool_size $pool_size; music_pool_stream_size $stream_size; music_connect_timeout 1s; music_pool_timeout 2s; music_query_timeout 3s;",
);
my $dir = File::Temp::tempdir('ngx-music-wrk.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $auth = t::Music::basic_credentials(@t::Music::admin_login);
open my $lua, '>', "$dir/mixed.lua" or die;
print $lua <<"LUA";
-- GET one row (6 in 10), GET the list (1 in 10), POST a unique song (3 in 10); counts statuses
-- and, from the 201s' bodies, the songs created.
local threads = {}
local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
    table.insert(threads, thread)
end
function init(args)
    statuses = {}
    created = {}
    samples = {}
    sent = 0
    wrk.headers["Authorization"] = "$auth"
end
function request()
    sent = sent + 1
    local k = sent % 10
    if k < 6 then
        return wrk.format("GET", "/api/musics/1/detail/")
    elseif k < 7 then
        return wrk.format("GET", "/api/musics/")
    end
    local song = "wrk-" .. tid .. "-" .. sent
    -- wrk.format uses wrk.headers only when given no headers: name them all
    return wrk.format("POST", "/api/musics/", { ["Content-Type"] = "application/json", ["Authorization"] = "$auth" },
        '{"song":"' .. song .. '","singer":"w"}')
end
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 201 then
        local song = string.match(body or "", '"song":"(wrk%-[%d%-]+)"')
        if song then table.insert(created, song) end
    end
    -- (wrk keeps the bytes of a response cut short by a closed connection -- a list stream
    -- that PostgreSQL's stop broke midway -- in front of the next response's body: look at
    -- how the body ends)
    if status >= 300 and not string.find(body or "", '{"detail":"[^"]*"}\$') then
        statuses["nojson" .. status] = (statuses["nojson" .. status] or 0) + 1
        if #samples < 3 then
            table.insert(samples, status .. " " .. string.sub((string.gsub(body or "", "%s+", " ")), 1, 200))
        end
    end
end
function done(summary, latency, requests)
    local total = {}
    local out = io.open("$dir/created.txt", "w")
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
        for _, s in ipairs(t:get("created")) do out:write(s, "\\n") end
        for _, s in ipairs(t:get("samples")) do io.write("sample ", s, "\\n") end
    end
    out:close()
    for k, v in pairs(total) do io.write("status ", k, " ", v, "\\n") end
    io.write(string.format("latency p50 %.1fms p99 %.1fms max %.1fms\\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA
close $lua;

# wrk in the background (its output into a file), the faults meanwhile
my $pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>', "$dir/wrk.out";
    open STDERR, '>&', \*STDOUT;
    { exec $wrk, '-t2', "-c$conns", "-d${seconds}s", '--timeout', '10s', '-s', "$dir/mixed.lua", 'http://127.0.0.1:' . $n->port . '/' };
    POSIX::_exit(127);
}
my $t0 = time;
my $at = sub { my $t = $t0 + $_[0] * $seconds - time; sleep $t if $t > 0 };
$at->(0.1); $n->signal('HUP'), sleep(0.5) for 1 .. 5;
$at->(0.3); $pg->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
$at->(0.45); $pg->stop('fast');
$at->(0.5); $pg->start;
$at->(0.65); my @w = live_workers($n); kill 'KILL', $w[0] if @w;
my $gone = wait_until($seconds + 30, sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 0.2);
kill 'KILL', $pid unless $gone;   # our own wrk, by pid
open my $fh, '<', "$dir/wrk.out" or die;
my $out = do { local $/; <$fh> };
diag($out);

unlike($out, qr/mixed\.lua:\d+:/, 'the Lua script ran without errors');
my %st = $out =~ /^status (\w+) (\d+)$/mg;   # nojsonNNN: an error answer without a JSON detail
my ($timeouts) = $out =~ /timeout (\d+)/;
ok($gone, 'wrk finished');
is($timeouts // 0, 0, 'no request timed out (nothing hung)');
my @odd = grep { !/^(200|201|503)$/ } keys %st;
is(scalar @odd, 0, 'the only statuses are 200, 201 and 503') or diag(join ', ', map { "$_: $st{$_}" } @odd);
ok($st{200} && $st{201}, sprintf 'reads and writes succeeded (%d x 200, %d x 201)', $st{200} // 0, $st{201} // 0);

my @created = do { open my $c, '<', "$dir/created.txt" or BAIL_OUT('wrk wrote no created.txt'); map { chomp; $_ } <$c> };
my %in = map { $_ => 1 } split /\n/, $pg->psql(q{SELECT song FROM music WHERE song LIKE 'wrk-%'});
my @missing = grep { !$in{$_} } @created;
is(scalar @missing, 0, 'every 201 is in the table (' . scalar(@created) . ')') or diag("@missing[0 .. 9]");
is($pg->psql(q{SELECT count(*) FROM (SELECT song FROM music GROUP BY song HAVING count(*) > 1) d}), '0', 'no song twice');

my ($r) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $t::Music::admin, close => 1));
is($r->{status}, 200, 'the API answers after the run');
ok(responsive($n), 'every worker answers /alive');
my $most = $workers * ($pool_size + $stream_size);
my $count = wait_until(5, sub { my $c = $pg->count_backends; $c <= $most ? "$c" : undef });
ok(defined $count, "at most workers x (pool + stream pool) = $most backends afterwards (" . ($count // $pg->count_backends) . ")");
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)');
my @alerts = grep { !/exited on signal 9/ } alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert] but the killed worker\'s') or diag(join "\n", @alerts[0 .. ($#alerts > 19 ? 19 : $#alerts)]);

done_testing;
