# The decision lines of a request at `error_log ... debug` (nginx built --with-debug, as
# build/nginx builds it): the route and action chosen, the auth cache hit or miss, the pool
# lease, the statement, a list read whole or the end of a streamed list, so that the debug log shows a request's
# path through the module.
use strict;
use warnings;
use Test::More;
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
my $bin = t::Nginx::binary();
plan skip_all => 'nginx without --with-debug' unless `$bin -V 2>&1` =~ /--with-debug/;
plan tests => 20;

t::Music::reset_music();
t::Music::add_user('debuguser', 'debug-pw');
my $auth = t::Music::basic('debuguser', 'debug-pw');

my $n = t::Nginx->new(name => 'debug-log');
$n->write_conf(<<"EOC");
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    error_log logs/debug.log debug;
    music_database "$ENV{TEST_NGINX_PG_URL}";
    server {
        listen 127.0.0.1:@{[ $n->port ]};
        location /api/ { music_api; }
        location /streamed/ { music_api; music_list_buffer_size 0; }
    }
}
EOC
$n->start;

sub debug_log {
    open my $fh, '<', $n->root . '/logs/debug.log' or return '';
    local $/;
    return <$fh>;
}

# One request at a time, the debug log's new part for each.
sub lines_of {
    my ($request) = @_;
    my $before = length debug_log();
    my ($r) = $n->parallel(30, $request);
    select undef, undef, undef, 0.1;   # the stream's last line follows the answer
    return ($r, substr(debug_log(), $before));
}

my ($r, $log) = lines_of(t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1));
is($r->{status}, 200, 'GET of one song');
like($log, qr/music: route Item\(Id\(1\)\)/, 'GET: the route');
like($log, qr/music: action Ok\(Retrieve\(1\)\)/, 'GET: the action');
like($log, qr/music: auth cache miss/, 'GET: the first login misses the auth cache');
like($log, qr/music: pool lease \(queries\)/, 'GET: the pool lease');
like($log, qr/music: statement retrieve 1/, 'GET: the statement');

($r, $log) = lines_of(t::Music::request('POST', '/api/musics/', headers => "$auth\nContent-Type: application/json",
    body => '{"song":"dbg","singer":"log"}', close => 1));
is($r->{status}, 201, 'POST of a song');
like($log, qr/music: action Ok\(Create\)/, 'POST: the action');
like($log, qr/music: auth cache hit/, 'POST: the same credentials hit the cache');
like($log, qr/music: statement create/, 'POST: the statement');

($r, $log) = lines_of(t::Music::request('GET', '/api/musics/', headers => $auth, close => 1));
is($r->{status}, 200, 'GET of the list');
like($log, qr/music: pool lease \(queries\).*music: statement List \(first 1900 rows\).*music: list read whole: \d+ bytes/s,
    'list: read whole on a shared connection, 1900 rows at most (256k / 138 + 1)');
unlike($log, qr/music: pool lease \(streams\)/, 'list: no stream connection');

($r, $log) = lines_of(t::Music::request('GET', '/api/', close => 1));
is($r->{status}, 200, 'GET of the API root');
like($log, qr/music: route Root \(answered from the request's strings\)/, 'root: answered on the quick path');
($r, $log) = lines_of(t::Music::request('GET', '/api/?format=json', close => 1));
like($log, qr/music: route Root(?! \(answered)/, 'root with a query: the general path (plan)');

($r, $log) = lines_of(t::Music::request('GET', '/streamed/musics/', headers => $auth, close => 1));
is($r->{status}, 200, 'GET of the list where music_list_buffer_size is 0');
like($log, qr/music: pool lease \(streams\)/, 'streamed list: a stream connection');
like($log, qr/music: stream end: 3 rows, Complete/, 'streamed list: the stream end');

$n->stop;
unlike($n->error_log . debug_log(), qr/\[(alert|crit|emerg)\]/, 'no alert in the logs');
