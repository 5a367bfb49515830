# The original's seven acceptance tests (create, retrieve, partial update, update, delete,
# detail action, all singers) with a client logged in by a Django session, as the original's
# own tests logged their client in, instead of Basic: the session cookie, and on writes the
# csrftoken cookie with an X-CSRFToken header (DRF checks CSRF for session logins).
use Test::Nginx::Socket;
use t::Music;
use t::Session;

repeat_each(1);
plan skip_all => 'Django 3.2 (python3-django) is needed to make the sessions'
    unless t::Session::django_available();
plan tests => repeat_each() * 15;
no_shuffle();
our $key = 'acceptancesessionkey0123456789ab';
our $client = "Cookie: sessionid=$key; csrftoken=$t::Session::csrf_cookie\nX-CSRFToken: $t::Session::csrf_other_mask";
our $json_client = "Content-Type: application/json\n$client";
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $t::Music::http_config);
    $block->set_value(user_files => $t::Session::secret_files);
    $block->set_value(config => "    location /api/ { music_api; $t::Session::directive }\n");
    $block->set_value(init => "t::Music::reset_music(); t::Session::login('$key', 'admin')") unless defined $block->init;
    $block->set_value(more_headers => $client) unless defined $block->more_headers;
});
run_tests();

sub item1 {
    return '{"id":1,"song":"song_test","singer":"singer_test",'
        . '"last_modify_date":"2022-04-05T11:45:05.123456+08:00",'
        . '"created":"2022-04-05T11:45:05.123456+08:00","days_since_created":'
        . t::Music::days_since(2022, 4, 5, 3, 45, 5) . '}';
}

__DATA__

=== TEST 1: retrieve
--- request
GET /api/musics/1/
--- response_body eval: main::item1()
--- no_error_log
[error]



=== TEST 2: create
--- request
POST /api/musics/
{"song": "song1", "singer": "singer1"}
--- more_headers eval: $main::json_client
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"song1","singer":"singer1","last_modify_date":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+08:00","created":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+08:00","days_since_created":0\}$



=== TEST 3: partial update
--- request
PATCH /api/musics/1/
{"song": "song_update"}
--- more_headers eval: $main::json_client
--- response_body_like: ^\{"id":1,"song":"song_update","singer":"singer_test","last_modify_date":"20\d\d-[^"]+\+08:00","created":"2022-04-05T11:45:05.123456\+08:00","days_since_created":\d+\}$



=== TEST 4: update
--- request
PUT /api/musics/1/
{"song": "song_update", "singer": "singer_update"}
--- more_headers eval: $main::json_client
--- response_body_like: ^\{"id":1,"song":"song_update","singer":"singer_update",



=== TEST 5: delete
--- request
DELETE /api/musics/1/
--- error_code: 204
--- response_body



=== TEST 6: detail action
--- request
GET /api/musics/1/detail/
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 7: all singers
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin');
t::Music::psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('a','singer_test',now(),now()), ('b','zed',now(),now())})
--- request
GET /api/musics/all_singer/
--- response_body chomp
["singer_test","singer_two","zed"]
