# Prometheus metrics (src/metrics): music_metrics_zone and music_metrics, nginx-tests style
# (t::Nginx) since one scrape must see the requests of every worker. What moves when a
# request finishes (route, method, status class, latency histogram), that route labels stay
# bounded under random paths and ids, that a reload keeps the counters, that the exposition
# passes Prometheus' own checker (promtool check metrics), and the configuration errors.
# No database: the API location's connection string is never connected (these requests are
# answered before any query).
#
#   prove -I t/lib -I . t/metrics.t
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempfile);
use t::Nginx;
use t::Music ();

plan tests => 39;

sub conf {
    my ($port, %o) = @_;
    my $zone = $o{zone} // 'music_metrics_zone metrics:1m;';
    my $extra = $o{extra} // '';
    return <<"EOC";
worker_processes 2;
events { worker_connections 1024; }
http {
    log_format pid '\$pid';
    access_log logs/access.log pid;
    $zone
    music_stats_zone stats:1m;
    music_database "postgres://u\@127.0.0.1:1/x";
    server {
        # reuseport: the kernel spreads the connections over both workers
        listen 127.0.0.1:$port reuseport;
        music_stats_count stats;
        location /a { return 204; }
        location /gone { return 404; }
        location /boom { return 503; }
        location /api/ { music_api; }
        $extra
        location = /metrics { music_metrics; music_stats_count off; }
    }
}
EOC
}

my $n = t::Nginx->new(name => 'metrics');
$n->write_conf(conf($n->port));
$n->start;

sub get { t::Music::request($_[0] // 'GET', $_[1], close => 1) }

sub scrape {
    my ($r) = $n->parallel(5, get('GET', '/metrics'));
    return $r;
}

# The value of one sample (exact series, labels in our order), or undef.
sub sample {
    my ($text, $series) = @_;
    for my $line (split /\n/, $text) {
        return $1 if $line =~ /^\Q$series\E (\S+)$/;
    }
    return undef;
}

sub requests {
    my ($text, $route, $method, $class) = @_;
    return sample($text, qq{ngx_music_http_requests_total{route="$route",method="$method",status_class="$class"}}) // 0;
}

{   # a fresh zone: the page, its type, nothing counted yet but the page's own first request
    my $r = scrape();
    # each worker takes its slot when it starts, which may be just after the first scrape
    my $deadline = time + 5;
    ($r = scrape(), sleep 0.05) while time < $deadline && (sample($r->{body}, 'ngx_music_workers') // 0) < 2;
    is($r->{status}, 200, 'the metrics page answers 200');
    like($r->{head}, qr{\r\nContent-Type: text/plain; version=0\.0\.4; charset=utf-8\r\n}i,
        'in the text exposition format 0.0.4');
    like($r->{body}, qr/^ngx_music_build_info\{version="[^"]+",nginx_version="1\.\d+\.\d+",git_commit="[^"]*"\} 1$/m,
        'build info: module and nginx versions');
    is(sample($r->{body}, 'ngx_music_workers'), 2, 'both workers have a gauge slot') ;
    is(requests($r->{body}, '/a', 'GET', '2xx'), 0, 'no request of /a yet');
    my ($post) = $n->parallel(5, get('POST', '/metrics'));
    is($post->{status}, 405, 'POST to the page: 405');
}

{   # requests of both workers, by route, method and status class
    my @answers = $n->parallel(20, (get('GET', '/a')) x 120, (get('HEAD', '/a')) x 5,
        (get('GET', '/gone')) x 7, (get('DELETE', '/boom')) x 3, (get('BREW', '/a')) x 2,
        get('GET', '/api/musics/7/'), get('GET', '/api/'));
    is(scalar(grep { $_->{status} } @answers), 139, '139 requests answered');
    open my $fh, '<', $n->root . '/logs/access.log' or die $!;
    my %pids = map { chomp; $_ => 1 } <$fh>;
    cmp_ok(scalar(keys %pids), '>=', 2, 'both workers answered some of them');
    my $t = scrape()->{body};
    is(requests($t, '/a', 'GET', '2xx'), 120, 'GET /a: 120 x 2xx');
    is(requests($t, '/a', 'HEAD', '2xx'), 5, 'HEAD /a: 5');
    is(requests($t, '/gone', 'GET', '4xx'), 7, 'GET /gone: 7 x 4xx');
    is(requests($t, '/boom', 'DELETE', '5xx'), 3, 'DELETE /boom: 3 x 5xx');
    cmp_ok(requests($t, '/a', 'other', '4xx') + requests($t, '/a', 'other', '2xx'), '==', 2,
        'an unknown method counts as "other"');
    is(requests($t, '/api/musics/{id}/', 'GET', '4xx'), 1, 'an API request counts under its DRF route');
    is(requests($t, '/api/', 'GET', '2xx'), 1, '  and the API root under its own');
    is(sample($t, 'ngx_music_http_request_duration_seconds_count{route="/a"}'), 127,
        'latency histogram of /a: 127 observations');
    is(sample($t, 'ngx_music_http_request_duration_seconds_bucket{route="/a",le="+Inf"}'), 127,
        '  its +Inf bucket is the count');
    cmp_ok(sample($t, 'ngx_music_http_request_duration_seconds_bucket{route="/a",le="10"}'), '==', 127,
        '  and every one took under 10 s');
    is(sample($t, 'ngx_music_stats_page_views{zone="stats"}'), 139,
        "the PV/UV zone's page views of today as a gauge (the page itself is not counted there)");
}

{   # labels stay bounded: random paths and ids add no series
    my $before = () = scrape()->{body} =~ /^ngx_music_http_requests_total\{/mg;
    my @reqs = map {
        my $id = int(rand(1e9));
        (get('GET', "/x$id/y"), get('GET', "/api/musics/$id/"), get('GET', "/api/zz$id/"),
         get('GET', "/api/musics/$id/detail/?q=$id"))
    } 1 .. 100;
    $n->parallel(30, @reqs);
    my $t = scrape()->{body};
    my @routes = $t =~ /^ngx_music_http_requests_total\{route="([^"]*)"/mg;
    my %routes = map { $_ => 1 } @routes;
    is_deeply([ sort keys %routes ],
        [ '(server)', '/a', '/api/', '/api/musics/{id}/', '/api/musics/{id}/detail/', '/api/{unknown}', '/boom', '/gone', '/metrics' ],
        'route labels: the locations and DRF routes, never a path or an id');
    is(requests($t, '/api/musics/{id}/', 'GET', '4xx'), 101, '100 random ids count under /api/musics/{id}/');
    unlike(join(' ', keys %routes), qr/\d/, 'no path and no id in any route label');
}

SKIP: {   # the exposition as Prometheus reads it
    my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
    skip 'promtool not installed (Debian package prometheus; build/lib.sh installs it)', 2
        unless $promtool;
    my $t = scrape()->{body};
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $t;
    close $fh;
    my $out = `$promtool check metrics < $file 2>&1`;
    is($?, 0, 'promtool check metrics accepts the scrape') or diag $out;
    is($out, '', '  with no lint warning') or diag $out;
}

SKIP: {   # the shipped scrape configurations and rules, as Prometheus reads them
    my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
    skip 'promtool not installed (Debian package prometheus; build/lib.sh installs it)', 4
        unless $promtool;
    my $dir = ($ENV{TEST_NGINX_PROJECT} // '.') . '/nginx-conf/prometheus';
    for my $file ('prometheus.yml', 'prometheus-compose.yml') {
        my $out = `cd '$dir' && '$promtool' check config $file 2>&1`;
        is($?, 0, "promtool check config $file") or diag $out;
    }
    my $out = `'$promtool' check rules '$dir/rules.yml' 2>&1`;
    is($?, 0, 'promtool check rules rules.yml') or diag $out;
    like($out, qr/SUCCESS: (\d+) rules found/, '  with its rules') or diag $out;
}

sub reload {
    my @old = $n->workers;
    $n->signal('HUP');
    my %old = map { $_ => 1 } @old;
    my $deadline = time + 10;
    while (time < $deadline) {
        my @now = $n->workers;
        last if @now == 2 && !grep { $old{$_} } @now;
        sleep 0.05;
    }
    my @now = $n->workers;
    return @now == 2 && !grep { $old{$_} } @now;
}

{   # a reload keeps the counters (and the old workers' gauge slots are given up)
    $n->write_conf(conf($n->port, extra => 'location /c { return 204; }'));
    ok(reload(), 'HUP: new workers');
    like($n->error_log, qr/music_metrics_zone "metrics" keeps its counters from the previous configuration/,
        'the zone was handed over (logged)');
    $n->parallel(5, get('GET', '/a')) for 1 .. 3;
    $n->parallel(5, get('GET', '/c'));
    my $t = scrape()->{body};
    is(requests($t, '/a', 'GET', '2xx'), 123, 'GET /a after the reload: 120 + 3');
    is(requests($t, '/c', 'GET', '2xx'), 1, 'the new location counts');
    is(sample($t, 'ngx_music_workers'), 2, 'only the two running workers add gauges');
}

$n->stop;
my $log = $n->error_log;
unlike($log, qr/\[alert\]|\[crit\]/, 'no [alert] or [crit] in the error log');
unlike($log, qr/exited on signal/, 'no worker crashed');

# nginx -t on a configuration: its exit code and what it said.
sub check_conf {
    my ($text) = @_;
    my $c = t::Nginx->new(name => 'metrics-conf');
    $c->write_conf($text);
    my $root = $c->root;
    my $out = `'@{[t::Nginx::binary()]}' -p '$root/' -c conf/nginx.conf -t 2>&1`;
    return ($? >> 8, $out);
}

sub http_conf {
    my ($http, $loc) = @_;
    return "events {}\nhttp {\n$http\nserver { listen 127.0.0.1:" . t::Nginx::free_port()
        . ";\n$loc\n}\n}\n";
}

{
    my ($rc, $out) = check_conf(http_conf('', 'location /m { music_metrics; }'));
    like($out, qr/\[emerg\] "music_metrics" needs a zone: declare one with "music_metrics_zone <name>:<size>;" in http \{\}/,
        'a page without a zone: nginx -t says what to declare');
    ($rc, $out) = check_conf(http_conf('music_metrics_zone m:1x;', ''));
    like($out, qr/\[emerg\] invalid zone size "1x" in "music_metrics_zone" directive in \S+nginx\.conf:\d+/,
        'a bad size: nginx -t names the directive and file:line');
    ($rc, $out) = check_conf(http_conf('music_metrics_zone m:8k;', ''));
    like($out, qr/\[emerg\] zone "m" is too small in "music_metrics_zone" directive: at least \d+k is needed/,
        'a zone too small: refused with the minimum');
    ($rc, $out) = check_conf(http_conf("music_metrics_zone m:1m;\nmusic_metrics_zone n:1m;", ''));
    like($out, qr/\[emerg\] "music_metrics_zone" directive is duplicate/, 'a second zone: duplicate');
}
