# Datetimes (docs/api.md, Answers): the configured zone with the right offset per instant (DST),
# microseconds only when non-zero, +00:00 never written as Z; days_since_created floors.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 10;
no_shuffle();
add_block_preprocessor(sub {
    t::Music::api_defaults(shift, more_headers => $t::Music::admin,
        init => q{t::Music::psql(q{TRUNCATE music RESTART IDENTITY;
        INSERT INTO music (song, singer, last_modify_date, created) VALUES
        ('winter', 's', '2022-01-15 12:00:00.5+00', '2022-01-15 12:00:00+00'),
        ('summer', 's', '2022-07-15 12:00:00+00', '2022-07-15 12:00:00.000001+00'),
        ('recent', 's', now() - interval '47 hours', now() - interval '47 hours');})});
});
run_tests();

__DATA__

=== TEST 1: a zone with DST: -05:00 in January, -04:00 in July
--- config
    location /api/ { music_api; music_time_zone America/New_York; }
--- request eval
["GET /api/musics/1/", "GET /api/musics/2/"]
--- response_body_like eval
['"last_modify_date":"2022-01-15T07:00:00.500000-05:00","created":"2022-01-15T07:00:00-05:00"',
 '"last_modify_date":"2022-07-15T08:00:00-04:00","created":"2022-07-15T08:00:00.000001-04:00"']



=== TEST 2: the default zone is Asia/Taipei (+08:00)
--- config
    location /api/ { music_api; }
--- request
GET /api/musics/1/
--- response_body_like: "created":"2022-01-15T20:00:00\+08:00"



=== TEST 3: UTC is +00:00, never Z
--- config
    location /api/ { music_api; music_time_zone UTC; }
--- request
GET /api/musics/2/
--- response_body_like: "created":"2022-07-15T12:00:00.000001\+00:00"



=== TEST 4: days_since_created is the floor of elapsed days (47 hours is 1)
--- config
    location /api/ { music_api; }
--- request
GET /api/musics/3/
--- response_body_like: "days_since_created":1\}$
