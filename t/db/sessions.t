# Django sessions (README "Sessions and CSRF"): a sessionid cookie made by Django 3.2 itself
# logs a request in; expired, unknown, tampered, wrongly signed, deactivated-user and
# changed-password sessions are anonymous (then Basic is tried, as DRF does); unsafe methods
# of a session-authenticated request need Django's CSRF token, Basic ones do not; bad cookies
# of every shape are anonymous, never a 500.
use Test::Nginx::Socket;
use t::Music;
use t::Session;

repeat_each(1);
plan skip_all => 'Django 3.2 (python3-django) is needed to make the sessions'
    unless t::Session::django_available();
plan tests => repeat_each() * 70;
no_shuffle();
our $key = 'k' x 24 . 'sessions';
our $cookie = "Cookie: sessionid=$key";
our $json = "Content-Type: application/json";
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $t::Music::http_config) unless defined $block->http_config;
    $block->set_value(user_files => $t::Session::secret_files) unless defined $block->user_files;
    $block->set_value(config => "    location /api/ { music_api; $t::Session::directive }\n")
        unless defined $block->config;
});
run_tests();

__DATA__

=== TEST 1: a session Django wrote logs the request in
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request
GET /api/musics/1/detail/
--- more_headers eval: $main::cookie
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
--- no_error_log
[error]
ngxm-test-secret



=== TEST 2: the pre-3.1 session format Django 3.2 still reads
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin', legacy => 1)
--- request
GET /api/musics/1/detail/
--- more_headers eval: $main::cookie
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 3: a session signed with the older key still works (rotation)
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin', secret => $t::Session::old_secret)
--- request
GET /api/musics/1/detail/
--- more_headers eval: $main::cookie
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 4: expired, unknown, wrong secret, tampered: anonymous
--- init
t::Music::reset_music();
t::Session::login('expiredexpiredexpired', 'admin', expire => "now() - interval '1 second'");
t::Session::login('wrongsecretwrongsecret', 'admin', secret => 'not-the-secret');
my $data = t::Session::django_session_data(user_id => 1, password_hash => t::Music::psql("SELECT password FROM auth_user WHERE username = 'admin'"));
$data =~ s/(.)$/$1 eq 'A' ? 'B' : 'A'/e;
t::Session::add_session('tamperedtamperedtampered', $data);
--- request eval
["GET /api/musics/", "GET /api/musics/", "GET /api/musics/", "GET /api/musics/"]
--- more_headers eval
["Cookie: sessionid=expiredexpiredexpired", "Cookie: sessionid=nosuchsessionnosuch", "Cookie: sessionid=wrongsecretwrongsecret", "Cookie: sessionid=tamperedtamperedtampered"]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[('{"detail":"Authentication credentials were not provided."}') x 4]
--- no_error_log
[error]



=== TEST 5: a deactivated user's session is anonymous
--- init
t::Music::reset_music(); t::Music::add_user('sleeper', 'pw-sleep');
t::Session::login($main::key, 'sleeper');
t::Music::psql("UPDATE auth_user SET is_active = false WHERE username = 'sleeper'")
--- request
GET /api/musics/
--- more_headers eval: $main::cookie
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 6: a changed password logs the old sessions out
--- init
t::Music::reset_music(); t::Music::add_user('changer', 'pw-one');
t::Session::login($main::key, 'changer');
t::Music::psql("UPDATE auth_user SET password = '" . t::Music::django_hash('pw-two', 'othersalt123') . "' WHERE username = 'changer'")
--- request
GET /api/musics/
--- more_headers eval: $main::cookie
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 7: an anonymous session falls back to Basic, and Basic is not CSRF-checked
--- init
t::Music::reset_music()
--- request
POST /api/musics/
{"song":"s","singer":"t"}
--- more_headers eval
"Cookie: sessionid=nosuchsessionnosuch\n$main::json\n$t::Music::admin"
--- error_code: 201
--- response_body_like: "song":"s"



=== TEST 8: a session-authenticated POST without the csrftoken cookie
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request
POST /api/musics/
{"song":"s","singer":"t"}
--- more_headers eval
"$main::cookie\n$main::json\n$t::Music::admin"
--- error_code: 403
--- response_body chomp
{"detail":"CSRF Failed: CSRF cookie not set."}



=== TEST 9: the token missing, wrong, or malformed
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request eval
["DELETE /api/musics/1/", "DELETE /api/musics/1/", "DELETE /api/musics/1/"]
--- more_headers eval
["$main::cookie; csrftoken=$t::Session::csrf_cookie",
 "$main::cookie; csrftoken=$t::Session::csrf_cookie\nX-CSRFToken: " . t::Session::mask('B' x 32, 'a' x 32),
 "$main::cookie; csrftoken=$t::Session::csrf_cookie\nX-CSRFToken: abc!"]
--- error_code eval
[403, 403, 403]
--- response_body eval
[('{"detail":"CSRF Failed: CSRF token missing or incorrect."}') x 3]



=== TEST 10: a differently masked token of the same secret passes, in the header or the form
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request eval
["DELETE /api/musics/1/", "POST /api/musics/\nsong=f&singer=g&csrfmiddlewaretoken=$t::Session::csrf_other_mask"]
--- more_headers eval
["$main::cookie; csrftoken=$t::Session::csrf_cookie\nX-CSRFToken: $t::Session::csrf_other_mask",
 "$main::cookie; csrftoken=$t::Session::csrf_cookie\nContent-Type: application/x-www-form-urlencoded"]
--- error_code eval
[204, 201]



=== TEST 11: the unmasked 32-character cookie of older Django versions
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request
DELETE /api/musics/2/
--- more_headers eval
"$main::cookie; csrftoken=$t::Session::csrf_secret\nX-CSRFToken: $t::Session::csrf_other_mask"
--- error_code: 204



=== TEST 12: bad cookies of every shape are anonymous, never a 500
--- init
t::Music::reset_music()
--- request eval
[("GET /api/musics/") x 7]
--- more_headers eval
["Cookie: sessionid=", "Cookie: sessionid=" . ("x" x 6000), "Cookie: sessionid=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
 "Cookie: " . CORE::join('; ', map { "c$_=v" } 1 .. 300), "Cookie: sessionid=\"\\\"quoted\\073\"", "Cookie: ;;;=;sessionid",
 "Cookie: sessionid=short"]
--- error_code eval
[(403) x 7]
--- response_body eval
[('{"detail":"Authentication credentials were not provided."}') x 7]
--- no_error_log
[error]



=== TEST 13: many Cookie headers: the last sessionid wins, as in Django
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- request
GET /api/musics/1/detail/
--- more_headers eval
"Cookie: sessionid=nosuchsessionnosuch\nCookie: a=b\nCookie: sessionid=$main::key"
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 14: without music_django_secret_key_file the cookie is ignored
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- config
    location /api/ { music_api; }
--- request
GET /api/musics/
--- more_headers eval: $main::cookie
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 15: music_session_cookie names the cookie
--- init
t::Music::reset_music(); t::Session::login($main::key, 'admin')
--- config eval
"    location /api/ { music_api; music_session_cookie django_sid; $t::Session::directive }\n"
--- request eval
["GET /api/musics/1/detail/", "GET /api/musics/1/detail/"]
--- more_headers eval
["Cookie: django_sid=$main::key", $main::cookie]
--- error_code eval
[200, 403]



=== TEST 16: a missing secret file is refused by nginx -t, naming the directive and file:line
--- config
    location /api/ { music_api; music_django_secret_key_file ../html/no_such_secret; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_django_secret_key_file" cannot read "\S+no_such_secret": No such file .* in \S+nginx\.conf:\d+/



=== TEST 17: an empty secret file is refused, as Django refuses an empty SECRET_KEY
--- user_files
>>> empty_secret

--- config
    location /api/ { music_api; music_django_secret_key_file ../html/empty_secret; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_django_secret_key_file" "\S+empty_secret" holds an empty key in \S+nginx\.conf:\d+/



=== TEST 18: a cookie name that is not a token is refused
--- config
    location /api/ { music_api; music_session_cookie "a;b"; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "a;b" in "music_session_cookie" directive in \S+nginx\.conf:\d+/
