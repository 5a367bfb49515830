# A real Prometheus (Debian's package: its own process on 127.0.0.1 and a free port, its own
# data directory, stopped by pid) scrapes the module's /metrics every second during a short
# load of two workers; its HTTP query API must then give back the request rate the load made
# and the pool gauge PostgreSQL itself shows (pg_stat_activity). The shared test database is
# only read.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);
use POSIX qw(:sys_wait_h);
use t::Fault qw(start_nginx stop_nginx wait_until alert_lines);
use t::Music;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
my ($prometheus) = grep { -x } map { "$_/prometheus" } split /:/, $ENV{PATH};
plan skip_all => 'prometheus not installed (Debian package prometheus; build/lib.sh installs it)'
    unless $prometheus;
plan tests => 9;

my $n = start_nginx(
    name => 'metrics-prometheus',
    url => $ENV{TEST_NGINX_PG_URL},
    workers => 2,
    http => 'music_metrics_zone metrics:1m; music_pool_size 2;',
    server => 'location = /metrics { music_metrics; }',
);

# A plain HTTP GET to Prometheus' API; the decoded JSON or undef.
sub api {
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or return undef;
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    local $/;
    my $raw = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return undef unless ($head // '') =~ m{^HTTP/1\.\d 200};
    return eval { decode_json($body) } // $body;
}

sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# The single value of an instant query at time $at, or undef.
sub query {
    my ($port, $expr, $at) = @_;
    my $j = api($port, '/api/v1/query?query=' . uri_escape($expr) . "&time=$at");
    return undef unless ref $j && $j->{status} eq 'success';
    my $r = $j->{data}{result};
    return @$r ? $r->[0]{value}[1] : undef;
}

my $dir = tempdir('ngx-music-prom.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $pport = t::Nginx::free_port();
open my $fh, '>', "$dir/prometheus.yml" or die $!;
print $fh <<"EOC";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ngx_music
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:@{[$n->port]}"]
EOC
close $fh;
my $ppid = fork // die "fork: $!";
if ($ppid == 0) {
    open STDOUT, '>', "$dir/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec $prometheus, "--config.file=$dir/prometheus.yml", "--storage.tsdb.path=$dir/data",
        "--web.listen-address=127.0.0.1:$pport", '--storage.tsdb.retention.time=1h';
    exit 127;
}
END { if ($ppid) { kill 'TERM', $ppid; waitpid $ppid, 0 } }

ok(wait_until(30, sub { defined api($pport, '/-/ready') }, 0.2), "Prometheus is up on 127.0.0.1:$pport")
    or diag `cat $dir/prometheus.log`;
ok(wait_until(10, sub {
    (query($pport, 'up{job="ngx_music"}', time) // 0) == 1
}, 0.2), 'it scrapes the module (up == 1)') or diag `cat $dir/prometheus.log`;

# the load: 10 requests at a time, for 6 s
my $auth = "$t::Music::admin\r\n";
my $get = t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1);
my ($count, $statuses) = (0, {});
my $t0 = time;
while (time - $t0 < 6) {
    for my $r ($n->parallel(15, ($get) x 10)) {
        $count++;
        $statuses->{ $r->{status} }++;
    }
}
my $t1 = time;
my $rate = $count / ($t1 - $t0);
ok(!grep({ !/^(200|404)$/ } keys %$statuses), sprintf('%d requests of GET /api/musics/1/ in %.1f s (%.0f/s), all answered by the database (200 or 404)', $count, $t1 - $t0, $rate))
    or diag explain $statuses;
sleep 2.5;   # two more scrapes
my $now = time;

my $total = query($pport, 'sum(ngx_music_http_requests_total{route="/api/musics/{id}/"})', $now);
is($total, $count, 'Prometheus has the exact request count');
my $window = int($t1 - $t0 + 0.5);
my $prom_rate = query($pport, "sum(rate(ngx_music_http_requests_total{route=\"/api/musics/{id}/\"}[${window}s]))", $t1);
ok(defined $prom_rate && abs($prom_rate - $rate) <= 0.25 * $rate,
    sprintf('its rate over the load (%.0f/s) is within 25%% of the load\'s (%.0f/s)', $prom_rate // -1, $rate));
my $p99 = query($pport, 'histogram_quantile(0.99, sum by (le) (rate(ngx_music_http_request_duration_seconds_bucket{route="/api/musics/{id}/"}[' . $window . 's])))', $t1);
ok(defined $p99 && $p99 > 0 && $p99 <= 10, sprintf('a p99 latency from the histogram (%.4f s)', $p99 // -1));

my $open = query($pport, 'sum(ngx_music_db_pool_connections_open{purpose="queries"})', $now);
my $backends = t::Music::psql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()});
cmp_ok($open, '>=', 1, "the pool gauge shows the connections the load opened ($open)");
is($open, $backends, 'as many as PostgreSQL has (pg_stat_activity)');
cmp_ok($open, '<=', 4, 'at most 2 workers x music_pool_size 2');

stop_nginx($n);
