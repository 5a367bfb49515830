# OPTIONS metadata and CORS (docs/api.md, Answers and CORS): the original's recorded answers.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 28;
no_shuffle();
add_block_preprocessor(sub { t::Music::api_defaults(shift) });
run_tests();

sub fields {
    return '{"id":{"type":"integer","required":false,"read_only":true,"label":"ID"},'
        . '"song":{"type":"string","required":true,"read_only":false,"label":"Song"},'
        . '"singer":{"type":"string","required":true,"read_only":false,"label":"Singer"},'
        . '"last_modify_date":{"type":"datetime","required":false,"read_only":true,"label":"Last modify date"},'
        . '"created":{"type":"datetime","required":false,"read_only":true,"label":"Created"},'
        . '"days_since_created":{"type":"field","required":false,"read_only":true,"label":"Days since created"}}';
}

sub meta {
    my ($name, $actions) = @_;
    return qq({"name":"$name","description":"","renders":["application/json","text/html"],)
        . qq("parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"])
        . ($actions ? qq(,"actions":$actions) : '') . '}';
}

__DATA__

=== TEST 1: OPTIONS on the list: actions for POST
--- request
OPTIONS /api/musics/
--- more_headers eval: $t::Music::admin
--- response_body eval: main::meta("Music List", '{"POST":' . main::fields() . '}')
--- response_headers
Allow: GET, POST, HEAD, OPTIONS



=== TEST 2: OPTIONS on an item: actions for PUT
--- request
OPTIONS /api/musics/1/
--- more_headers eval: $t::Music::admin
--- response_body eval: main::meta("Music Instance", '{"PUT":' . main::fields() . '}')



=== TEST 3: OPTIONS on a missing item: no actions (DRF's get_object raised 404)
--- request
OPTIONS /api/musics/999/
--- more_headers eval: $t::Music::admin
--- response_body eval: main::meta("Music Instance")



=== TEST 4: OPTIONS on the two actions
--- request eval
["OPTIONS /api/musics/1/detail/", "OPTIONS /api/musics/all_singer/"]
--- more_headers eval: $t::Music::admin
--- response_body eval
[main::meta("Detail action"), main::meta("All singer")]



=== TEST 5: a request with Origin gets Access-Control-Allow-Origin: *
--- request
GET /api/
--- more_headers
Origin: http://elsewhere.example
--- response_headers
Access-Control-Allow-Origin: *
Vary: Accept, Origin, Cookie



=== TEST 6: a preflight is answered before authentication, with the original's lists
--- request
OPTIONS /api/musics/1/
--- more_headers
Origin: http://elsewhere.example
Access-Control-Request-Method: DELETE
--- response_body
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET, OPTIONS, PATCH, POST, PUT
Access-Control-Allow-Headers: accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with, Cache-Control
Access-Control-Max-Age: 86400
Vary: Origin



=== TEST 7: CORS is configurable: listed origins only, other methods
--- config
    location /api/ {
        music_api;
        music_cors_origins https://app.example;
        music_cors_methods "GET, DELETE";
    }
--- request eval
["OPTIONS /api/musics/1/", "GET /api/"]
--- more_headers eval
["Origin: https://app.example\nAccess-Control-Request-Method: DELETE", "Origin: https://evil.example"]
--- response_headers eval
["Access-Control-Allow-Origin: https://app.example\nAccess-Control-Allow-Methods: GET, DELETE", "!Access-Control-Allow-Origin"]



=== TEST 8: music_cors off: no CORS headers
--- config
    location /api/ { music_api; music_cors off; }
--- request
GET /api/
--- more_headers
Origin: http://elsewhere.example
--- response_headers
!Access-Control-Allow-Origin
