# URLs as DRF's DefaultRouter has them (docs/api.md): trailing-slash redirects keeping the query
# string, format suffixes and ?format=, unknown formats, and a clear error for non-GET
# methods without the slash.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 37;
no_shuffle();
add_block_preprocessor(sub { t::Music::api_defaults(shift, more_headers => $t::Music::admin) });
run_tests();

__DATA__

=== TEST 1: GET without the trailing slash: 301 to the slashed URL, query kept
--- request
GET /api/musics?format=json&x=1
--- error_code: 301
--- response_headers
Location: /api/musics/?format=json&x=1



=== TEST 2: HEAD on an item without the slash
--- request
HEAD /api/musics/1
--- error_code: 301
--- response_headers
Location: /api/musics/1/



=== TEST 3: the detail action without its slash
--- request
GET /api/musics/1/detail
--- error_code: 301
--- response_headers
Location: /api/musics/1/detail/



=== TEST 4: POST without the slash is a clear JSON error, not a redirect
--- request
POST /api/musics
{"song": "a", "singer": "b"}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- error_code: 404
--- response_body chomp
{"detail":"Not found. This URL needs a trailing slash: \"/api/musics/\"."}



=== TEST 5: format suffixes mean JSON
--- request eval
["GET /api/musics.json", "GET /api/musics/1.json", "GET /api/musics/1/detail.json", "GET /api/musics/all_singer.json", "GET /api/musics/1/?format=json"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json"]



=== TEST 6: an unknown format is 404
--- request eval
["GET /api/musics.xml", "GET /api/musics/1/?format=yaml"]
--- error_code eval
[404, 404]
--- response_body eval
['{"detail":"Not found."}', '{"detail":"Not found."}']



=== TEST 7: JSON whatever the Accept header says
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Accept: text/html\n" . $t::Music::admin
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
--- response_headers
Content-Type: application/json



=== TEST 8: percent-encoded paths are decoded before routing
--- request
GET /api/musics/%31/detail/
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 9: the API root without its slash: 301 to it, the query kept (nginx's redirect)
--- request eval
["GET /api", "GET /api?format=json"]
--- error_code eval
[301, 301]
--- response_headers eval
['Location: http://localhost:$ServerPort/api/', 'Location: http://localhost:$ServerPort/api/?format=json']



=== TEST 10: another prefix is the API root of the links, with the same redirect
--- config
    location /music/ { music_api; }
--- request eval
["GET /music/", "GET /music"]
--- error_code eval
[200, 301]
--- response_headers eval
['Content-Type: application/json', 'Location: http://localhost:$ServerPort/music/']
--- response_body_like eval
[qr/^\{"musics":"http:\/\/localhost\/music\/musics\/"\}$/, qr/301 Moved Permanently/]
