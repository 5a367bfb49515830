# music_health live|ready (src/metrics/health.rs), against a private PostgreSQL
# (t::Fault::Pg: the shared test database stays up for the other files): ready answers 200
# while the worker's query pool has (or opens) a working connection, flips to 503 with a JSON
# reason within a second of PostgreSQL stopping, and back to 200 after it returns; live stays
# 200 throughout. Plus the directive's configuration errors.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use t::Fault qw(start_nginx stop_nginx wait_until alert_lines);
use t::Music ();

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
plan tests => 14;

my $pg = t::Fault::Pg->new;
my $n = start_nginx(
    name => 'metrics-health',
    url => $pg->url,
    workers => 1,
    http => 'music_connect_timeout 1s; music_pool_timeout 1s;',
    server => 'location = /health/live { music_health live; }
        location = /health/ready { music_health ready; }',
);

sub probe {
    my ($what) = @_;
    my ($r) = $n->parallel(5, t::Music::request('GET', "/health/$what", close => 1));
    return $r;
}

my $r = probe('ready');
is($r->{status}, 200, 'ready: 200 with the database up (a fresh worker opens its connection)');
is($r->{body}, '{"status":"ready"}', '  {"status":"ready"}');
$r = probe('live');
is("$r->{status} $r->{body}", '200 {"status":"live"}', 'live: 200 {"status":"live"}');
my ($post) = $n->parallel(5, t::Music::request('POST', '/health/ready', close => 1));
is($post->{status}, 405, 'POST: 405');

$pg->stop('fast');
my $t0 = time;
my $flipped = wait_until(5, sub { probe('ready')->{status} == 503 }, 0.05);
my $took = time - $t0;
ok($flipped, 'ready flips to 503 once PostgreSQL stops');
# (a second; under valgrind, build/memcheck, everything is slower)
cmp_ok($took, '<=', 1.0 * t::Nginx::slowdown(), sprintf('  within a second (%.2f s)', $took));
$r = probe('ready');
like($r->{body}, qr/^\{"status":"unavailable","reason":"[a-z ()]+"\}$/, '  with a JSON reason')
    or diag $r->{body};
unlike($r->{body}, qr/127\.0\.0\.1|\d{4,}/, '  that names no host and no port');
is(probe('live')->{status}, 200, 'live stays 200 meanwhile');

$pg->start;
$t0 = time;
# the pool retries on its reconnect backoff (at most 5 s)
my $back = wait_until(8, sub { probe('ready')->{status} == 200 }, 0.1);
ok($back, sprintf('ready is 200 again after PostgreSQL returns (%.2f s)', time - $t0));
is(probe('live')->{status}, 200, 'live still 200');

stop_nginx($n);
is(scalar(alert_lines($n->error_log)), 0, 'no [alert] or [crit]');

# nginx -t on a configuration: what it said.
sub check_conf {
    my ($http, $loc) = @_;
    my $c = t::Nginx->new(name => 'metrics-health-conf');
    $c->write_conf("events {}\nhttp {\n$http\nserver { listen 127.0.0.1:" . t::Nginx::free_port()
        . ";\n$loc\n}\n}\n");
    my $root = $c->root;
    return scalar `'@{[t::Nginx::binary()]}' -p '$root/' -c conf/nginx.conf -t 2>&1`;
}

like(check_conf('', 'location /h { music_health maybe; }'),
    qr/\[emerg\] invalid value "maybe" in "music_health" directive, it must be "live" or "ready" in \S+:\d+/,
    'music_health maybe: nginx -t names the directive, the words it takes and file:line');
like(check_conf('', 'location /h { music_health ready; }'),
    qr/\[emerg\] "music_health ready" needs "music_database"/,
    'music_health ready without a database: refused');
