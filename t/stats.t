# Live PV/UV counters (src/stats): music_stats_zone, music_stats_count, music_stats. What is
# counted and under which route, the JSON page, auth_basic in front of it, and the
# configuration errors. No database: the API block uses a connection string that is never
# connected (its requests are answered before any query). The HyperLogLog's error bound is
# tested in the unit tests (src/stats/hll.rs); counters across a reload in t/stats_reload.t.
use Test::Nginx::Socket;
use POSIX qw(strftime);

# The page's local date and UTC offset, which follow nginx's (so this process's) time zone.
sub local_time {
    my ($body) = @_;
    my @now = localtime;
    my $today = strftime('%Y-%m-%d', @now);
    (my $offset = strftime('%z', @now)) =~ s/(\d\d)$/:$1/;
    $body =~ s/"date":"\Q$today\E"/"date":"TODAY"/g;
    $body =~ s/"utc_offset":"\Q$offset\E"/"utc_offset":"LOCAL"/;
    return $body;
}

our $Head = '{"zone":"stats","utc_offset":"LOCAL","days_kept":7,"routes_max":31,'
    . '"uv_error":"±1.6% (HyperLogLog, 4096 registers)",';

# The whole page of zone "stats" (after local_time), as a regex for response_body_like.
sub page {
    my $s = $Head . shift;
    return qr/^\Q$s\E$/;
}

repeat_each(1);
plan tests => 155;
no_shuffle();
# Log patterns are matched against the whole log since nginx started: the real Test::Nginx
# otherwise checks each request of a block against only the lines since the previous one.
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: a new zone: today only, with zeros (the page does not count itself)
--- http_config
    music_stats_zone stats:1m;
--- config
    music_stats_count stats;
    location /stats { music_stats stats; music_stats_count off; }
--- request
GET /stats
--- response_body_filters eval: \&main::local_time
--- response_body eval
$main::Head . '"total":{"pv":0,"uv":0},"days":[{"date":"TODAY","pv":0,"uv":0,"routes":{}}]}'
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- no_error_log
[error]



=== TEST 2: PV per route: static files, errors and redirects count; the busiest route first
--- http_config
    music_stats_zone stats:1m;
--- config
    music_stats_count stats;
    location /gone { return 404 "gone\n"; }
    location /moved { return 301 /hello.txt; }
    location /stats { music_stats stats; music_stats_count off; }
--- user_files
>>> hello.txt
hello
--- request eval
["GET /hello.txt", "GET /hello.txt", "GET /hello.txt", "GET /gone", "GET /gone", "GET /moved", "GET /stats"]
--- error_code eval
[200, 200, 200, 404, 404, 301, 200]
--- response_body_filters eval: \&main::local_time
--- response_body_like eval
[qr/^hello$/, qr/^hello$/, qr/^hello$/, qr/^gone$/, qr/^gone$/, qr/301 Moved Permanently/,
main::page('"total":{"pv":6,"uv":1},"days":[{"date":"TODAY","pv":6,"uv":1,"routes":{"/":{"pv":3,"uv":1},"/gone":{"pv":2,"uv":1},"/moved":{"pv":1,"uv":1}}}]}')]



=== TEST 3: only the locations with music_stats_count count
--- http_config
    music_stats_zone stats:1m;
--- config
    location /counted { music_stats_count stats; return 204; }
    location /not { return 204; }
    location /stats { music_stats stats; }
--- request eval
["GET /counted", "GET /not", "GET /counted", "GET /stats"]
--- error_code eval
[204, 204, 204, 200]
--- response_body_filters eval: \&main::local_time
--- response_body eval
["", "", "",
$main::Head . '"total":{"pv":2,"uv":1},"days":[{"date":"TODAY","pv":2,"uv":1,"routes":{"/counted":{"pv":2,"uv":1}}}]}']



=== TEST 4: UV counts distinct client addresses (here from the realip module); an IPv4-mapped IPv6 address is its IPv4 address
--- http_config
    music_stats_zone stats:1m;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
--- config
    location /a { music_stats_count stats; return 204; }
    location /b { music_stats_count stats; return 204; }
    location /stats { music_stats stats; }
--- request eval
["GET /a", "GET /a", "GET /a", "GET /b", "GET /b", "GET /b", "GET /stats"]
--- more_headers eval
["X-Real-IP: 10.0.0.1", "X-Real-IP: 10.0.0.2", "X-Real-IP: 10.0.0.1", "X-Real-IP: 2001:db8::1", "X-Real-IP: ::ffff:10.0.0.2", "X-Real-IP: 10.0.0.3", ""]
--- error_code eval
[204, 204, 204, 204, 204, 204, 200]
--- response_body_filters eval: \&main::local_time
--- response_body eval
["", "", "", "", "", "",
$main::Head . '"total":{"pv":6,"uv":4},"days":[{"date":"TODAY","pv":6,"uv":4,"routes":{"/a":{"pv":3,"uv":2},"/b":{"pv":3,"uv":3}}}]}']



=== TEST 5: API requests count under their DRF route (none of these needs the database)
--- http_config
    music_stats_zone stats:1m;
    music_database "postgres://u@127.0.0.1:1/x";
--- config
    music_stats_count stats;
    location /api/ { music_api; }
    location /stats { music_stats stats; music_stats_count off; }
--- request eval
["GET /api/", "GET /api/musics", "GET /api/musics/", "GET /api/musics.xml", "GET /api/musics/7/", "GET /api/musics/7/detail/", "GET /api/nothing/", "GET /stats"]
--- error_code eval
[200, 301, 403, 404, 403, 403, 404, 200]
--- response_body_filters eval: \&main::local_time
--- response_body_like eval
[qr/musics/, qr//, qr/credentials/, qr/Not found/, qr/credentials/, qr/credentials/, qr/Not found/,
main::page('"total":{"pv":7,"uv":1},"days":[{"date":"TODAY","pv":7,"uv":1,"routes":{"/api/musics/":{"pv":3,"uv":1},"/api/":{"pv":1,"uv":1},"/api/musics/{id}/":{"pv":1,"uv":1},"/api/musics/{id}/detail/":{"pv":1,"uv":1},"/api/{unknown}":{"pv":1,"uv":1}}}]}')]



=== TEST 6: a request that ends in another location (error_page) counts there
--- http_config
    music_stats_zone stats:1m;
--- config
    music_stats_count stats;
    error_page 404 /not-found;
    location = /not-found { return 200 "custom 404\n"; }
    location /stats { music_stats stats; music_stats_count off; }
--- request eval
["GET /missing.txt", "GET /stats"]
--- error_code eval
[404, 200]
--- response_body_filters eval: \&main::local_time
--- response_body eval
["custom 404\n",
$main::Head . '"total":{"pv":1,"uv":1},"days":[{"date":"TODAY","pv":1,"uv":1,"routes":{"/not-found":{"pv":1,"uv":1}}}]}']



=== TEST 7: a bad request, answered before any location, counts as "(server)"
--- http_config
    music_stats_zone stats:1m;
--- config
    music_stats_count stats;
    location /stats { music_stats stats; music_stats_count off; }
--- raw_request eval
"GARBAGE\r\n\r\n"
--- error_code: 400
--- response_body_like: 400 Bad Request



=== TEST 8: (the same nginx) the 400 is on the page
--- request
GET /stats
--- response_body_filters eval: \&main::local_time
--- response_body eval
$main::Head . '"total":{"pv":1,"uv":1},"days":[{"date":"TODAY","pv":1,"uv":1,"routes":{"(server)":{"pv":1,"uv":1}}}]}'



=== TEST 9: the page behind auth_basic, as the shipped /nginx/status (a refused request is counted where counting is on)
--- http_config
    music_stats_zone stats:1m;
--- config
    location /nginx/stats {
        music_stats stats;
        music_stats_count stats;
        auth_basic "NginxStatus";
        auth_basic_user_file $TEST_NGINX_SERVER_ROOT/html/htpasswd;
    }
--- user_files
>>> htpasswd
user1:{PLAIN}123
--- request eval
["GET /nginx/stats", "GET /nginx/stats", "GET /nginx/stats"]
--- more_headers eval
["", "Authorization: Basic dXNlcjE6d3Jvbmc=", "Authorization: Basic dXNlcjE6MTIz"]
--- error_code eval
[401, 401, 200]
--- response_body_filters eval: \&main::local_time
--- response_body_like eval
[qr/401 Authorization Required/, qr/401 Authorization Required/,
main::page('"total":{"pv":2,"uv":1},"days":[{"date":"TODAY","pv":2,"uv":1,"routes":{"/nginx/stats":{"pv":2,"uv":1}}}]}')]



=== TEST 10: GET and HEAD only; ?days=N limits the page
--- http_config
    music_stats_zone stats:1m;
--- config
    location /stats { music_stats stats; }
--- request eval
["POST /stats\nx", "HEAD /stats", "GET /stats?days=1", "GET /stats?x=1&days=7"]
--- error_code eval
[405, 200, 200, 200]
--- response_body_like eval
[qr/405 Not Allowed/, qr/^$/, qr/"days":\[\{"date":"[-\d]+","pv":0,"uv":0,"routes":\{\}\}\]\}$/, qr/"days_kept":7,/]



=== TEST 11: ?days= out of 1 to the days kept, not a number, or given twice: a JSON 400 with the reason
--- http_config
    music_stats_zone stats:1m;
--- config
    location /stats { music_stats stats; }
--- request eval
["GET /stats?days=0", "GET /stats?days=400", "GET /stats?days=8", "GET /stats?days=abc", "GET /stats?days=", "GET /stats?days=-1", "GET /stats?days", "GET /stats?days=1&days=2", "HEAD /stats?days=0"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_headers eval
[("Content-Type: application/json\nCache-Control: no-store\n") x 9]
--- response_body eval
[('{"detail":"days must be an integer from 1 to 7, the days this zone keeps"}') x 7,
'{"detail":"days is given more than once"}', ""]



=== TEST 12: the bound of ?days= is the zone's own days kept
--- http_config
    music_stats_zone small:144k;
--- config
    location /small { music_stats small; }
--- request eval
["GET /small?days=1", "GET /small?days=2"]
--- error_code eval
[200, 400]
--- response_body_like eval
[qr/"days_kept":1,/, qr/^\{"detail":"days must be an integer from 1 to 1, the days this zone keeps"\}$/]



=== TEST 13: the zone's size sets the days kept
--- http_config
    music_stats_zone big:2m;
    music_stats_zone small:144k;
--- config
    location /big { music_stats big; }
    location /small { music_stats small; }
--- request eval
["GET /big", "GET /small"]
--- response_body_like eval
[qr/^\{"zone":"big","utc_offset":"[-+]\d\d:\d\d","days_kept":14,/, qr/^\{"zone":"small","utc_offset":"[-+]\d\d:\d\d","days_kept":1,/]
--- error_log eval
[qr/music_stats_zone "big" keeps 14 days of counters/, qr/music_stats_zone "small" keeps 1 day of counters/]



=== TEST 14: music_stats_zone needs name:size
--- http_config
    music_stats_zone stats;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "stats" in "music_stats_zone" directive: expected <name>:<size>, e\.g\. "music_stats:1m" in \S+nginx\.conf:\d+/



=== TEST 15: an empty zone name
--- http_config
    music_stats_zone :1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value ":1m" in "music_stats_zone" directive.* in \S+nginx\.conf:\d+/



=== TEST 16: a size nginx cannot read
--- http_config
    music_stats_zone stats:lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid zone size "lots" in "music_stats_zone" directive in \S+nginx\.conf:\d+/



=== TEST 17: a zone too small for one day
--- http_config
    music_stats_zone stats:64k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*zone "stats" is too small in "music_stats_zone" directive: 64k holds no day of counters, at least 144k is needed in \S+nginx\.conf:\d+/



=== TEST 18: one zone declared twice
--- http_config
    music_stats_zone stats:1m;
    music_stats_zone stats:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate zone "stats" in "music_stats_zone" directive in \S+nginx\.conf:\d+/



=== TEST 19: one zone name with two sizes (nginx's own check)
--- http_config
    music_stats_zone stats:1m;
    music_stats_zone stats:2m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the size 2097152 of shared memory zone "stats" conflicts with already declared size 1048576 in \S+nginx\.conf:\d+/



=== TEST 20: a zone name another module uses (nginx's own check)
--- http_config
    limit_req_zone $binary_remote_addr zone=stats:1m rate=1r/s;
    music_stats_zone stats:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the shared memory zone "stats" is already declared for a different use in \S+nginx\.conf:\d+/



=== TEST 21: counting into a zone that is never declared
--- http_config
    music_stats_zone stats:1m;
--- config
    location /a { music_stats_count nope; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown stats zone "nope": declare it with "music_stats_zone nope:<size>;" in http \{\} in \S+nginx\.conf:\d+/



=== TEST 22: a page for a zone that is never declared
--- config
    location /stats { music_stats nope; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown stats zone "nope"/



=== TEST 23: music_stats_zone belongs in http {}
--- config
    music_stats_zone stats:1m;
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_stats_zone" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 24: music_stats belongs in a location
--- http_config
    music_stats_zone stats:1m;
    music_stats stats;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_stats" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 25: music_stats_count twice at one level
--- http_config
    music_stats_zone stats:1m;
--- config
    music_stats_count stats;
    music_stats_count off;
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_stats_count" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 26: the page and the API cannot share a location
--- http_config
    music_stats_zone stats:1m;
    music_database "postgres://u@127.0.0.1:1/x";
--- config
    location /api/ { music_api; music_stats stats; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_stats" and "music_api" cannot share a location in \S+nginx\.conf:\d+/



=== TEST 27: music_stats_zone takes one argument
--- http_config
    music_stats_zone stats 1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "music_stats_zone" directive in \S+nginx\.conf:\d+/
