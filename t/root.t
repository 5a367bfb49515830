# The public API root (docs/api.md: GET/HEAD /api/, OPTIONS metadata, 405) answered by the module.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 56;
no_shuffle();
run_tests();

__DATA__

=== TEST 1: GET /api/ gives the musics URL from the request's Host
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
GET /api/
--- response_body chomp
{"musics":"http://localhost/api/musics/"}
--- response_headers
Content-Type: application/json
Allow: GET, HEAD, OPTIONS
Vary: Accept
--- no_error_log
[error]



=== TEST 2: the Host header's port is kept, as Django's build_absolute_uri does
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
GET /api/
--- more_headers
Host: music.example:8080
--- response_body chomp
{"musics":"http://music.example:8080/api/musics/"}



=== TEST 3: HEAD /api/ sends the headers only
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
HEAD /api/
--- response_body
--- response_headers
Content-Type: application/json



=== TEST 4: OPTIONS /api/ is DRF's root metadata
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
OPTIONS /api/
--- response_body chomp
{"name":"Api Root","description":"The default basic root view for DefaultRouter","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}



=== TEST 5: POST /api/ is 405 with Allow
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
POST /api/
{}
--- more_headers
Content-Type: application/json
--- error_code: 405
--- response_body chomp
{"detail":"Method \"POST\" not allowed."}
--- response_headers
Allow: GET, HEAD, OPTIONS



=== TEST 6: format suffix and ?format=json on the root (DRF's reverse() keeps the format in the link)
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request eval
["GET /api/.json", "GET /api/?format=json", "GET /api/?format=xml"]
--- error_code eval
[200, 200, 404]
--- response_body eval
['{"musics":"http://localhost/api/musics.json"}', '{"musics":"http://localhost/api/musics/?format=json"}', '{"detail":"Not found."}']



=== TEST 7: an unknown path under the location is a JSON 404
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request
GET /api/nothing/here/
--- error_code: 404
--- response_body chomp
{"detail":"Not found."}
--- response_headers
Content-Type: application/json



=== TEST 8: the module's location prefix is the one it is configured on
--- http_config eval: $t::Music::http_config
--- config
    location /v1/ { music_api; }
--- request
GET /v1/
--- response_body chomp
{"musics":"http://localhost/v1/musics/"}



=== TEST 9: GET /api/ with a body: the body is read and dropped, the next request on the connection is answered
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- pipelined_requests eval
["GET /api/\nhello", "GET /api/?format=json"]
--- response_body eval
['{"musics":"http://localhost/api/musics/"}', '{"musics":"http://localhost/api/musics/?format=json"}']
--- no_error_log
[error]



=== TEST 10: a Host with characters to escape or beyond ASCII is written as DRF writes it
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; }
--- request eval
["GET /api/", "GET /api/"]
--- more_headers eval
["Host: caf\x{c3}\x{a9}.example", "Host: a\"b"]
--- response_body eval
["{\"musics\":\"http://caf\x{c3}\x{a9}.example/api/musics/\"}", "{\"musics\":\"http://a\\\"b/api/musics/\"}"]



=== TEST 11: an Origin on the root gets the CORS headers (the original's django-cors-headers)
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_cors on; music_cors_origins http://app.example; }
--- request
GET /api/
--- more_headers
Origin: http://app.example
--- response_body chomp
{"musics":"http://localhost/api/musics/"}
--- response_headers
Access-Control-Allow-Origin: http://app.example
Vary: Accept, Origin, Cookie
Allow: GET, HEAD, OPTIONS



=== TEST 12: "location = /api/" serves the root alone, here outside the prefix location's limit_req
--- http_config eval
$t::Music::http_config . <<'_EOC_';
    limit_req_zone $binary_remote_addr zone=guard:1m rate=1r/m;
    limit_req_status 429;
_EOC_
--- config
    location = /api/ { music_api; }
    location /api/ { limit_req zone=guard; music_api; }
--- request eval
["GET /api/", "GET /api/musics/", "GET /api/", "GET /api/musics/", "GET /api/?format=json", "HEAD /api/", "POST /api/"]
--- error_code eval
[200, 403, 200, 429, 200, 200, 405]
--- response_body_like eval
['^\{"musics":"http://localhost/api/musics/"\}$', '^\{"detail":"Authentication credentials were not provided\."\}$', '^\{"musics":"http://localhost/api/musics/"\}$', '429', '^\{"musics":"http://localhost/api/musics/\?format=json"\}$', '^$', '^\{"detail":"Method \\\\"POST\\\\" not allowed\."\}$']
