# music_auth remote_user: the API trusts a user name only when an access-phase module
# (auth_basic, auth_request) verified it in this very request, and only if that name is an
# active user in auth_user. Each way in is tried the way an attacker would try it.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 59;
no_shuffle();
# Log patterns are matched against the whole log since nginx started: the real Test::Nginx
# otherwise checks each request of a block against only the lines since the previous one.
check_accum_error_log();

# The htpasswd nginx checks (nginx's {PLAIN} scheme: no '$' for the harness to expand):
# user1 is also an active Django user, sleeper an inactive one, ghost no Django user at all.
our $htpasswd = <<'_EOF_';
>>> htpasswd
user1:{PLAIN}pw-user1
sleeper:{PLAIN}pw-sleeper
ghost:{PLAIN}pw-ghost
_EOF_

# A second API location with the default Basic authentication, to look at the data (as a
# user whose hash takes little PBKDF2, so a busy machine answers in time).
our $checker = t::Music::basic('checker', 'pw-check');
our $check = "    location /check/ { music_api; }\n";

# The location as the documentation says to write it.
our $protected = $check . <<'_EOC_';
    location /api/ {
        auth_basic "music";
        auth_basic_user_file ../html/htpasswd;
        music_api;
        music_auth remote_user;
    }
_EOC_

add_block_preprocessor(sub {
    t::Music::api_defaults(shift, config => $main::protected, user_files => $main::htpasswd,
        init => 'main::users()');
});
run_tests();

# auth_request is not in every nginx (this project's build has none; Debian's has it).
sub has_auth_request {
    my $bin = $ENV{TEST_NGINX_BINARY} // 'nginx';
    return `$bin -V 2>&1` =~ /--with-http_auth_request_module/;
}

sub users {
    t::Music::reset_music();
    t::Music::add_user('user1', 'django-pw-1');
    t::Music::add_user('sleeper', 'django-pw-2', active => 0);
    t::Music::add_user('checker', 'pw-check', iterations => 1000);
    t::Music::psql("DELETE FROM auth_user WHERE username IN ('ghost', 'nobody-at-all')");
}


__DATA__

=== TEST 1: no auth_basic, but $remote_user evaluated: nginx -t refuses the location
--- config
    location /api/ { set $who $remote_user; music_api; music_auth remote_user; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" trusts a user name nobody verifies: neither "auth_basic" \(with "auth_basic_user_file"\) nor "auth_request" is in effect there.* in \S+nginx\.conf:\d+/



=== TEST 2: music_auth remote_user inherited from the server, no auth_basic at the location
--- config
    music_auth remote_user;
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" trusts a user name nobody verifies.* in \S+nginx\.conf:\d+/



=== TEST 3: "auth_basic off" at the location (auth_basic inherited from the server and switched off)
--- config
    auth_basic "music";
    auth_basic_user_file ../html/htpasswd;
    location /api/ { auth_basic off; music_api; music_auth remote_user; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" trusts a user name nobody verifies.* in \S+nginx\.conf:\d+/



=== TEST 4: auth_basic without auth_basic_user_file checks nothing
--- config
    location /api/ { auth_basic "music"; music_api; music_auth remote_user; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" trusts a user name nobody verifies.* in \S+nginx\.conf:\d+/



=== TEST 5: satisfy any with an allow rule lets a client past auth_basic: nginx -t refuses
--- config
    location /api/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        auth_basic "music";
        auth_basic_user_file ../html/htpasswd;
        music_api;
        music_auth remote_user;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" cannot be used with "satisfy any".* use "satisfy all".* in \S+nginx\.conf:\d+/



=== TEST 6: auth_basic whose realm is "off" at run time: the name nobody checked is refused
--- http_config eval
$t::Music::http_config . '    map $remote_addr $realm { 127.0.0.1 off; default "music"; }' . "\n"
--- config eval
$main::check . <<'_EOC_'
    location /api/ {
        set $who $remote_user;
        auth_basic $realm;
        auth_basic_user_file ../html/htpasswd;
        music_api;
        music_auth remote_user;
    }
_EOC_
--- request eval
["GET /api/musics/", "DELETE /api/musics/1/", "GET /check/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('nobody-at-all', 'garbage'), t::Music::basic('user1', 'garbage'), $main::checker]
--- error_code eval
[403, 403, 200]
--- response_body eval
['{"detail":"Authentication credentials were not provided."}', '{"detail":"Authentication credentials were not provided."}', '{"singer":"singer_test","song":"song_test"}']



=== TEST 7: a wrong password is nginx's 401, and nothing is written
--- request eval
["DELETE /api/musics/1/", "POST /api/musics/\n{\"song\":\"s\",\"singer\":\"x\"}", "GET /check/musics/"]
--- more_headers eval
[t::Music::basic('user1', 'wrong'), t::Music::basic('user1', 'wrong') . "\nContent-Type: application/json", $main::checker]
--- error_code eval
[401, 401, 200]
--- response_body_like eval
[qr/401 Authorization Required/, qr/401 Authorization Required/, qr/^\[\{"id":1,.*\{"id":2,[^{]*\}\]$/]



=== TEST 8: an inactive Django user is refused, though nginx verified the password
--- request eval
["GET /api/musics/", "DELETE /api/musics/1/", "GET /check/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('sleeper', 'pw-sleeper'), t::Music::basic('sleeper', 'pw-sleeper'), $main::checker]
--- error_code eval
[403, 403, 200]
--- response_body eval
['{"detail":"Authentication credentials were not provided."}', '{"detail":"Authentication credentials were not provided."}', '{"singer":"singer_test","song":"song_test"}']
--- no_error_log
[error]



=== TEST 9: a user nginx knows but Django does not is refused (and not created: the second request is refused too)
--- request eval
["GET /api/musics/", "DELETE /api/musics/1/", "GET /check/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('ghost', 'pw-ghost'), t::Music::basic('ghost', 'pw-ghost'), $main::checker]
--- error_code eval
[403, 403, 200]
--- response_body eval
['{"detail":"Authentication credentials were not provided."}', '{"detail":"Authentication credentials were not provided."}', '{"singer":"singer_test","song":"song_test"}']
--- error_log
"ghost" is not an active user



=== TEST 10: an active user verified by auth_basic reads and writes; no credentials is nginx's 401
--- request eval
["GET /api/musics/1/detail/", "POST /api/musics/\n{\"song\":\"new\",\"singer\":\"me\"}", "DELETE /api/musics/1/", "GET /api/musics/1/", "GET /api/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('user1', 'pw-user1'), t::Music::basic('user1', 'pw-user1') . "\nContent-Type: application/json", t::Music::basic('user1', 'pw-user1'), t::Music::basic('user1', 'pw-user1'), ""]
--- error_code eval
[200, 201, 204, 404, 401]



=== TEST 11: a subrequest skips the access phase: an SSI include of the API is refused
--- config eval
$main::protected . <<'_EOC_'
    location = /page.html { ssi on; set $who $remote_user; root html; }
_EOC_
--- user_files eval
$main::htpasswd . <<'_EOF_'
>>> page.html
[<!--# include virtual="/api/musics/1/detail/" -->]
_EOF_
--- request
GET /page.html
--- more_headers eval: t::Music::basic('user1', 'garbage')
--- response_body
[{"detail":"Authentication credentials were not provided."}]



=== TEST 12: a mirror subrequest (the client's method, DELETE) from an unprotected location deletes nothing
--- config eval
$main::protected . <<'_EOC_'
    location /n/ { set $who $remote_user; mirror /api/musics/1/; root html; }
_EOC_
--- request eval
["DELETE /n/x", "GET /check/musics/1/detail/"]
--- more_headers eval
[t::Music::basic('user1', 'garbage'), $main::checker]
--- error_code eval
[405, 200]
--- response_body_like eval
[qr/405 Not Allowed/, qr/^\{"singer":"singer_test","song":"song_test"\}$/]



=== TEST 13: an internal redirect into the API runs auth_basic again
--- config eval
$main::protected . <<'_EOC_'
    location /open/ { set $who $remote_user; error_page 404 = /api/musics/1/detail/; return 404; }
_EOC_
--- request
GET /open/x
--- more_headers eval: t::Music::basic('user1', 'garbage')
--- error_code: 401
--- response_body_like chomp
401 Authorization Required



=== TEST 14: auth_request verifies the user: the name it let in is trusted, a refused one never arrives
--- skip_eval: 4: !main::has_auth_request()
--- config eval
$main::check . <<'_EOC_'
    location /api/ {
        auth_request /auth;
        music_api;
        music_auth remote_user;
    }
    location = /auth {
        internal;
        if ($http_authorization = "Basic dXNlcjE6cHctdXNlcjE=") { return 204; }
        return 401;
    }
_EOC_
--- request eval
["DELETE /api/musics/1/", "DELETE /api/musics/2/"]
--- more_headers eval
[t::Music::basic('user1', 'pw-user1'), t::Music::basic('user1', 'garbage')]
--- error_code eval
[204, 401]
--- response_body_like eval
[qr/^$/, qr/401 Authorization Required/]



=== TEST 15: "auth_request off" at the location (auth_request inherited from the server and switched off)
--- skip_eval: 2: !main::has_auth_request()
--- config
    auth_request /auth;
    location = /auth { return 204; }
    location /api/ { auth_request off; set $who $remote_user; music_api; music_auth remote_user; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth remote_user" in location "\/api\/" trusts a user name nobody verifies.* in \S+nginx\.conf:\d+/
