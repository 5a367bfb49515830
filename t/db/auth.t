# Authentication (docs/api.md): every answer text, Django hashes with any iteration count,
# inactive users, a changed password within music_auth_cache_valid, and trusting nginx's
# auth_basic user. Passwords never reach the error log, at any level; a refused login is logged
# as auth_basic logs one (level, words, client address), a hostile user name escaped.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 71;
no_shuffle();
{ no warnings 'once'; push @Test::Nginx::Socket::ExtraSections, 'same_nginx'; }
add_block_preprocessor(sub {
    my $block = shift;
    # same_nginx: keeps the previous block's nginx (and its caches)
    t::Music::api_defaults($block) unless defined $block->same_nginx;
});
run_tests();

__DATA__

=== TEST 1: no credentials on a protected route
--- request
GET /api/musics/
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 2: another scheme counts as no credentials
--- request
GET /api/musics/1/
--- more_headers
Authorization: Bearer abc.def
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 3: "Basic" with nothing after it
--- request
GET /api/musics/
--- more_headers
Authorization: Basic
--- error_code: 403
--- response_body chomp
{"detail":"Invalid basic header. No credentials provided."}



=== TEST 4: credentials followed by more words
--- request
GET /api/musics/
--- more_headers
Authorization: Basic YWRtaW46YWRtaW4xMjM0 extra
--- error_code: 403
--- response_body chomp
{"detail":"Invalid basic header. Credentials string should not contain spaces."}



=== TEST 5: bad base64 padding, and bytes that are not UTF-8
--- request eval
["GET /api/musics/", "GET /api/musics/"]
--- more_headers eval
["Authorization: Basic abc", "Authorization: Basic /w=="]
--- error_code eval
[403, 403]
--- response_body eval
['{"detail":"Invalid basic header. Credentials not correctly base64 encoded."}', '{"detail":"Invalid basic header. Credentials not correctly base64 encoded."}']



=== TEST 6: characters outside the base64 alphabet are skipped, as Python does
--- request
GET /api/musics/1/detail/
--- more_headers
Authorization: Basic YWRt*aW46YWRt!aW4xMjM0
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 7: wrong password, unknown user, empty password (no colon)
--- request eval
["GET /api/musics/", "GET /api/musics/", "GET /api/musics/"]
--- more_headers eval
[t::Music::basic('admin', 'wrong'), t::Music::basic('nobody', 'admin1234'), "Authorization: Basic YWRtaW4="]
--- error_code eval
[403, 403, 403]
--- response_body eval
['{"detail":"Invalid username/password."}', '{"detail":"Invalid username/password."}', '{"detail":"Invalid username/password."}']
--- no_error_log
admin1234
wrong



=== TEST 8: an inactive user is refused like a wrong password
--- init
t::Music::reset_music(); t::Music::add_user('sleeper', 'pw-sleep', active => 0)
--- request
GET /api/musics/
--- more_headers eval: t::Music::basic('sleeper', 'pw-sleep')
--- error_code: 403
--- response_body chomp
{"detail":"Invalid username/password."}



=== TEST 9: any iteration count in the stored hash is honoured
--- init
t::Music::reset_music(); t::Music::add_user('quick', 'pw-quick', iterations => 1200)
--- request
GET /api/musics/1/detail/
--- more_headers eval: t::Music::basic('quick', 'pw-quick')
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 10: a verified password is cached: the first answer takes PBKDF2, the next does not
--- config
    location /api/ { music_api; music_auth_cache_valid 500ms; }
--- init
t::Music::reset_music(); t::Music::add_user('changer', 'old-pw'); t::Music::add_user('leaver', 'pw-leave')
--- request eval
["GET /api/musics/1/detail/", "GET /api/musics/1/detail/", "GET /api/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('changer', 'old-pw'), t::Music::basic('changer', 'old-pw'), t::Music::basic('leaver', 'pw-leave')]
--- error_code eval
[200, 200, 200]



=== TEST 11: (same nginx) a password changed in the database stops working within music_auth_cache_valid
--- same_nginx
--- init
t::Music::add_user('changer', 'new-pw', salt => 'othersalt99'); t::Music::psql("UPDATE auth_user SET is_active = false WHERE username = 'leaver'"); select(undef, undef, undef, 0.7)
--- request eval
["GET /api/musics/1/detail/", "GET /api/musics/1/detail/", "GET /api/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('changer', 'old-pw'), t::Music::basic('changer', 'new-pw'), t::Music::basic('leaver', 'pw-leave')]
--- error_code eval
[403, 200, 403]



=== TEST 12: /api/ stays public, with or without bad credentials
--- request
GET /api/
--- more_headers
Authorization: Basic abc
--- response_body chomp
{"musics":"http://localhost/api/musics/"}



=== TEST 13: music_auth remote_user trusts the user auth_basic accepted (an active Django user)
--- init
t::Music::reset_music(); t::Music::add_user('user1', 'django-pw')
--- config
    location /api/ {
        auth_basic "music";
        auth_basic_user_file $TEST_NGINX_PROJECT/nginx-conf/htpasswd;
        music_api;
        music_auth remote_user;
    }
--- request eval
["GET /api/musics/1/detail/", "GET /api/musics/1/detail/"]
--- more_headers eval
["Authorization: Basic dXNlcjE6MTIz", ""]
--- error_code eval
[200, 401]



=== TEST 14: anonymous OPTIONS on a protected route is the 403 too
--- request
OPTIONS /api/musics/
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 15: passwords are not logged even at debug level
--- log_level: debug
--- request
GET /api/musics/1/
--- more_headers eval: t::Music::basic('admin', 'S3cr3t-Never-Logged')
--- error_code: 403
--- no_error_log
S3cr3t-Never-Logged



=== TEST 16: a wrong password is logged as auth_basic logs it: level, words, client address
--- request
GET /api/musics/
--- more_headers eval: t::Music::basic('admin', 'Wr0ng-Pa55')
--- error_code: 403
--- response_body chomp
{"detail":"Invalid username/password."}
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "admin": password mismatch, client: 127.0.0.1, server: localhost, request: "GET /api/musics/ HTTP/1.1", host: "localhost"
--- no_error_log
Wr0ng-Pa55



=== TEST 17: an unknown user is logged (after its dummy hash), without the password
--- request
GET /api/musics/1/
--- more_headers eval: t::Music::basic('nobody', 'N0b0dy-Pa55')
--- error_code: 403
--- response_body chomp
{"detail":"Invalid username/password."}
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "nobody" was not found in "auth_user", client: 127.0.0.1, server: localhost, request: "GET /api/musics/1/ HTTP/1.1", host: "localhost"
--- no_error_log
N0b0dy-Pa55



=== TEST 18: an inactive user is logged as inactive
--- init
t::Music::reset_music(); t::Music::add_user('sleeper', 'pw-sleep', active => 0)
--- request
GET /api/musics/
--- more_headers eval: t::Music::basic('sleeper', 'pw-sleep')
--- error_code: 403
--- response_body chomp
{"detail":"Invalid username/password."}
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "sleeper" is inactive in "auth_user", client: 127.0.0.1, server: localhost, request: "GET /api/musics/ HTTP/1.1", host: "localhost"
--- no_error_log
pw-sleep



=== TEST 19: every attempt is a line
--- request
GET /api/musics/
--- more_headers eval: t::Music::basic('admin', 'Wr0ng-Tw1ce')
--- error_code: 403
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "admin": password mismatch, client: 127.0.0.1, server: localhost, request: "GET /api/musics/ HTTP/1.1", host: "localhost"
--- no_error_log
Wr0ng-Tw1ce



=== TEST 20: (same nginx) also one refused from the cache of recent failures
--- same_nginx
--- request
GET /api/musics/1/
--- more_headers eval: t::Music::basic('admin', 'Wr0ng-Tw1ce')
--- error_code: 403
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*"GET \/api\/musics\/1\/ [^\n]*/
--- grep_error_log_out
user "admin": password mismatch, client: 127.0.0.1, server: localhost, request: "GET /api/musics/1/ HTTP/1.1", host: "localhost"
--- no_error_log
Wr0ng-Tw1ce



=== TEST 21: a hostile user name cannot forge a log line: quotes and a newline are escaped
--- request
GET /api/musics/
--- more_headers eval
t::Music::basic("x\"\n2026/01/01 [error] 1#1 *1 user \"admin\" password mismatch\r", 'pw')
--- error_code: 403
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "x\x22\x0A2026/01/01 [error] 1#1 *1 user \x22admin\x22 password mismatch\x0D" was not found in "auth_user", client: 127.0.0.1, server: localhost, request: "GET /api/musics/ HTTP/1.1", host: "localhost"



=== TEST 22: a hostile user name cannot forge a log line: a NUL byte is escaped
--- request
GET /api/musics/
--- more_headers eval
t::Music::basic("nul\0byte", 'pw')
--- error_code: 403
--- grep_error_log eval: qr/\[error\] \d+#\d+: \*\d+ \Kuser "[^\n]*/
--- grep_error_log_out
user "nul\x00byte" was not found in "auth_user", client: 127.0.0.1, server: localhost, request: "GET /api/musics/ HTTP/1.1", host: "localhost"



=== TEST 23: a successful login writes no such line
--- request
GET /api/musics/1/detail/
--- more_headers eval: $t::Music::admin
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
--- no_error_log
password mismatch
was not found
is inactive
