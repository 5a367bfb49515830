# music_read_database, music_read_fallback and music_database's multi-host words: bad values
# are refused when the configuration is read (nginx -t), with an [emerg] naming the directive
# and the file:line; good ones are taken.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => 2 * blocks();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: music_read_fallback is on or off
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_read_fallback sometimes; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "sometimes"\ in\ "music_read_fallback"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 2: music_read_database given twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ {
        music_api;
        music_read_database "host=127.0.0.1 user=u";
        music_read_database "host=127.0.0.1 user=v";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_read_database"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 3: a bad music_read_database names its own directive
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_read_database "host=127.0.0.1"; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_read_database" directive: no user given \(add user=\.\.\. or postgres:\/\/user\@\.\.\.\) in \S+nginx\.conf:\d+/



=== TEST 4: target_session_attrs takes PostgreSQL 14's six values only
--- http_config
    music_database "postgres://u@127.0.0.1,127.0.0.1:5433/db?target_session_attrs=replica";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: invalid target_session_attrs "replica": expected any, read-write, read-only, primary, standby or prefer-standby in \S+nginx\.conf:\d+/



=== TEST 5: load_balance_hosts is disable or random
--- http_config
    music_database "host=127.0.0.1,127.0.0.1 user=u load_balance_hosts=round-robin";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: invalid load_balance_hosts "round-robin": expected disable or random in \S+nginx\.conf:\d+/



=== TEST 6: the multi-host words and a read server are taken
--- http_config eval: $t::Music::http_config
--- config
    location /api/ {
        music_api;
        music_read_database "postgres://u@127.0.0.1:5433,127.0.0.1:5434/db?target_session_attrs=prefer-standby&load_balance_hosts=random";
        music_read_fallback off;
    }
--- request
GET /api/
--- response_body chomp
{"musics":"http://localhost/api/musics/"}
