# The routes and answers of docs/api.md, including the original's seven
# acceptance tests (create, retrieve, partial update, update, delete, detail action, all
# singers). Each block starts from the same two rows (t::Music::reset_music).
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 54;
no_shuffle();
add_block_preprocessor(sub { t::Music::api_defaults(shift) });
run_tests();

sub item1 {
    return '{"id":1,"song":"song_test","singer":"singer_test",'
        . '"last_modify_date":"2022-04-05T11:45:05.123456+08:00",'
        . '"created":"2022-04-05T11:45:05.123456+08:00","days_since_created":'
        . t::Music::days_since(2022, 4, 5, 3, 45, 5) . '}';
}

sub item2 {
    return '{"id":2,"song":"second","singer":"singer_two",'
        . '"last_modify_date":"2022-04-06T08:00:00+08:00",'
        . '"created":"2022-04-06T08:00:00+08:00","days_since_created":'
        . t::Music::days_since(2022, 4, 6, 0, 0, 0) . '}';
}

__DATA__

=== TEST 1: retrieve (acceptance): GET /api/musics/1/ is the item, keys in order
--- request
GET /api/musics/1/
--- more_headers eval: $t::Music::admin
--- response_body eval: main::item1()
--- response_headers
Content-Type: application/json
Allow: GET, PUT, PATCH, DELETE, HEAD, OPTIONS
Vary: Accept
--- no_error_log
[error]



=== TEST 2: the list: every item, ordered by id, no pagination
--- request
GET /api/musics/
--- more_headers eval: $t::Music::admin
--- response_body eval: '[' . main::item1() . ',' . main::item2() . ']'
--- response_headers
Content-Type: application/json
Allow: GET, POST, HEAD, OPTIONS



=== TEST 3: an empty table is an empty list
--- init
t::Music::psql('TRUNCATE music RESTART IDENTITY')
--- request
GET /api/musics/
--- more_headers eval: $t::Music::admin
--- response_body chomp
[]



=== TEST 4: create (acceptance): 201 with all six keys, and the row is there
--- request
POST /api/musics/
{"song": "song1", "singer": "singer1"}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"song1","singer":"singer1","last_modify_date":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+08:00","created":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+08:00","days_since_created":0\}$
--- response_headers
Content-Type: application/json



=== TEST 5: the created row is in the table (count is 3)
--- init
t::Music::reset_music(); t::Music::psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('x','y',now(),now())})
--- request
GET /api/musics/3/
--- more_headers eval: $t::Music::admin
--- response_body_like: ^\{"id":3,"song":"x","singer":"y",



=== TEST 6: partial update (acceptance): PATCH changes only the song
--- request
PATCH /api/musics/1/
{"song": "song_update"}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- response_body_like: ^\{"id":1,"song":"song_update","singer":"singer_test","last_modify_date":"20\d\d-[^"]+\+08:00","created":"2022-04-05T11:45:05.123456\+08:00","days_since_created":\d+\}$



=== TEST 7: PATCH with {} is valid and only bumps last_modify_date
--- request
PATCH /api/musics/2/
{}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- response_body_like: ^\{"id":2,"song":"second","singer":"singer_two","last_modify_date":"(?!2022-04-06T08:00:00)[^"]+","created":"2022-04-06T08:00:00\+08:00"



=== TEST 8: update (acceptance): PUT replaces both fields
--- request
PUT /api/musics/1/
{"song": "song_update", "singer": "singer_update"}
--- more_headers eval: "Content-Type: application/json\n" . $t::Music::admin
--- response_body_like: ^\{"id":1,"song":"song_update","singer":"singer_update",



=== TEST 9: delete (acceptance): 204, empty body, no Content-Type
--- request
DELETE /api/musics/1/
--- more_headers eval: $t::Music::admin
--- error_code: 204
--- response_body
--- response_headers
!Content-Type



=== TEST 10: a deleted item is gone
--- init
t::Music::reset_music(); t::Music::psql('DELETE FROM music WHERE id = 1')
--- request eval
["GET /api/musics/1/", "DELETE /api/musics/1/", "GET /api/musics/1/detail/"]
--- more_headers eval: $t::Music::admin
--- error_code eval
[404, 404, 404]
--- response_body eval
['{"detail":"Not found."}', '{"detail":"Not found."}', '{"detail":"Not found."}']



=== TEST 11: detail action (acceptance): singer first, then song
--- request
GET /api/musics/1/detail/
--- more_headers eval: $t::Music::admin
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
--- response_headers
Allow: GET, HEAD, OPTIONS



=== TEST 12: all singers (acceptance): distinct, in order of first appearance
--- init
t::Music::reset_music(); t::Music::psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('a','singer_test',now(),now()), ('b','zed',now(),now())})
--- request
GET /api/musics/all_singer/
--- more_headers eval: $t::Music::admin
--- response_body chomp
["singer_test","singer_two","zed"]



=== TEST 13: ids that are not positive integers are 404 on every item route
--- request eval
["GET /api/musics/0/", "GET /api/musics/-1/", "GET /api/musics/abc/", "GET /api/musics/9223372036854775808/", "GET /api/musics/99999/detail/", "PATCH /api/musics/abc/"]
--- more_headers eval: $t::Music::admin
--- error_code eval
[404, 404, 404, 404, 404, 404]



=== TEST 14: HEAD on an item: headers, no body
--- request
HEAD /api/musics/1/
--- more_headers eval: $t::Music::admin
--- response_body
--- response_headers
Content-Type: application/json



=== TEST 15: 405 with the route's Allow header
--- request eval
["DELETE /api/musics/", "POST /api/musics/1/", "PUT /api/musics/1/detail/", "DELETE /api/musics/all_singer/"]
--- more_headers eval: $t::Music::admin
--- error_code eval
[405, 405, 405, 405]
--- response_body eval
['{"detail":"Method \"DELETE\" not allowed."}', '{"detail":"Method \"POST\" not allowed."}', '{"detail":"Method \"PUT\" not allowed."}', '{"detail":"Method \"DELETE\" not allowed."}']
