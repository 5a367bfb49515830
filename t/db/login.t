# music_auth_pages: the login and logout pages (README "Sessions and CSRF"): the form and its
# csrftoken cookie, CSRF on the POST, Django's message for a wrong password, a session row in
# Django's format that the API (and Django 3.2 itself) accepts, Django's cookie attributes,
# `next` on the same host only, logout.
use Test::Nginx::Socket;
use t::Music;
use t::Session;

repeat_each(1);
plan skip_all => 'Django 3.2 (python3-django) is needed to check the sessions'
    unless t::Session::django_available();
plan tests => repeat_each() * 25;
no_shuffle();
our $token = $t::Session::csrf_cookie;
our $form_headers = "Cookie: csrftoken=$t::Session::csrf_cookie\nContent-Type: application/x-www-form-urlencoded";
our $key = 'modulemadesessionkey0123456789ab';
# The session the last login wrote, renamed to $key (the headers of a block are read before
# its init runs), and checked with Django 3.2's own decode and get_session_auth_hash.
sub adopt_login_session {
    my $data = t::Music::psql("SELECT session_data FROM django_session ORDER BY expire_date DESC LIMIT 1");
    t::Music::psql("DELETE FROM django_session WHERE session_key = '$key';
        UPDATE django_session SET session_key = '$key' WHERE session_data = '$data'");
    my $pw = t::Music::psql("SELECT password FROM auth_user WHERE username = 'admin'");
    local $ENV{NGXM_SECRET} = $t::Session::secret;
    local $ENV{NGXM_DATA} = $data;
    local $ENV{NGXM_PW} = $pw;
    my $ok = `/usr/bin/python3 -c '
import os
from django.conf import settings
settings.configure(SECRET_KEY=os.environ["NGXM_SECRET"], INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"])
import django
django.setup()
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth.models import User
d = SessionStore().decode(os.environ["NGXM_DATA"])
u = User(id=1, password=os.environ["NGXM_PW"])
print(d.get("_auth_user_id") == "1" and d.get("_auth_user_backend") == "django.contrib.auth.backends.ModelBackend" and d.get("_auth_user_hash") == u.get_session_auth_hash())'`;
    die "Django does not accept the module's session: $ok ($data)\n" unless $ok =~ /^True$/m;
}
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $t::Music::http_config) unless defined $block->http_config;
    $block->set_value(user_files => $t::Session::secret_files) unless defined $block->user_files;
    $block->set_value(config => "    $t::Session::directive\n    location /api/ { music_api; }\n    location /api-auth/ { music_auth_pages; }\n")
        unless defined $block->config;
});
run_tests();

__DATA__

=== TEST 1: the login form sets the csrftoken cookie
--- init
t::Music::reset_music(); t::Music::psql("TRUNCATE django_session")
--- request
GET /api-auth/login/?next=/api/
--- response_headers_like
Set-Cookie: csrftoken=[a-zA-Z0-9]{64}; expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; Max-Age=31449600; Path=/; SameSite=Lax
Content-Type: text/html; charset=utf-8
--- response_body_like chomp
(?s)name="csrfmiddlewaretoken" value="[a-zA-Z0-9]{64}".*name="username".*name="password".*name="next" value="/api/"



=== TEST 2: a POST without the csrftoken cookie is refused
--- request
POST /api-auth/login/
username=admin&password=admin1234
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 403
--- response_body_like chomp
(?s)CSRF verification failed\. Request aborted\..*CSRF cookie not set\.



=== TEST 3: a wrong password re-renders the form with Django's message, and logs nobody in
--- request eval
"POST /api-auth/login/\nusername=admin&password=wrong&csrfmiddlewaretoken=$main::token"
--- more_headers eval: $main::form_headers
--- error_code: 200
--- response_body_like chomp
(?s)Please enter a correct username and password\. Note that both fields may be case-sensitive\..*value="admin"
--- no_error_log
admin1234



=== TEST 4: a login redirects to next with Django's session cookie
--- init
t::Music::psql("TRUNCATE django_session; UPDATE auth_user SET last_login = '2000-01-01' WHERE username = 'admin'")
--- request eval
"POST /api-auth/login/\nusername=admin&password=admin1234&csrfmiddlewaretoken=$t::Session::csrf_other_mask&next=/api/musics/"
--- more_headers eval: $main::form_headers
--- error_code: 302
--- response_headers_like
Location: /api/musics/
--- raw_response_headers_like chomp
Set-Cookie: sessionid=[a-z0-9]{32}; expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax\r\n(.*\r\n)*Set-Cookie: csrftoken=[a-zA-Z0-9]{64};



=== TEST 5: the session the login wrote is accepted by Django and by the API; last_login is set
--- init
main::adopt_login_session();
die "last_login not updated\n" unless t::Music::psql("SELECT last_login > now() - interval '1 minute' FROM auth_user WHERE username = 'admin'") eq 't';
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- response_body chomp
{"singer":"singer_test","song":"song_test"}



=== TEST 6: an off-site next is ignored (LOGIN_REDIRECT_URL)
--- request eval
["POST /api-auth/login/\nusername=admin&password=admin1234&csrfmiddlewaretoken=$main::token&next=https://evil.test/",
 "POST /api-auth/login/\nusername=admin&password=admin1234&csrfmiddlewaretoken=$main::token&next=//evil.test/"]
--- more_headers eval
[$main::form_headers, $main::form_headers]
--- error_code eval
[302, 302]
--- response_headers_like eval
["Location: /accounts/profile/", "Location: /accounts/profile/"]



=== TEST 7: logout deletes the row and the cookie
--- init
t::Session::login($main::key, 'admin')
--- request
GET /api-auth/logout/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- response_headers_like
Set-Cookie: sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax
--- response_body_like chomp
Logged out



=== TEST 8: after the logout the cookie is anonymous
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 9: music_auth_pages without a secret is refused by nginx -t
--- config
    location /api-auth/ { music_auth_pages; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth_pages" in location "\/api-auth\/" needs "music_django_secret_key_file" in \S+nginx\.conf:\d+/
