# Sessions shared with a running Django 3.2 (the original project, NGX_MUSIC_DJANGO_PROJECT,
# on the test database with its own SECRET_KEY): a session Django's login() made logs the
# request in here, and after Django's logout() the same cookie is anonymous; a session the
# module's login page made is accepted by Django's own API (GET /api/musics/ through Django).
use Test::Nginx::Socket;
use t::Music;
use t::Session ();

our $api = $ENV{NGX_MUSIC_DJANGO_PROJECT} // '';
plan skip_all => 'Django 3.2 / DRF / psycopg2 missing, or NGX_MUSIC_DJANGO_PROJECT not set'
    unless length $api && -d $api
        && system('/usr/bin/python3 -c "import django, rest_framework, corsheaders, psycopg2" 2>/dev/null') == 0;
repeat_each(1);
plan tests => repeat_each() * 9;
no_shuffle();

# The project's manage.py on the test database.
sub django { t::Session::django_shell($api, $ENV{TEST_NGINX_PG_URL}, $_[0]) }

our $secret = django('from django.conf import settings; print(settings.SECRET_KEY)');
# The blocks' headers are read before their init runs: the session Django makes is renamed
# to this key (the key is not part of the signed data).
our $key = 'djangomadesessionkey0123456789ab';
sub django_login {
    my $made = django(q{from django.test import Client
c = Client()
assert c.login(username='admin', password='admin1234')
print(c.cookies['sessionid'].value)});
    t::Music::psql("DELETE FROM django_session WHERE session_key = '$key';
        UPDATE django_session SET session_key = '$key' WHERE session_key = '$made'");
}
sub django_logout {
    django(qq{from django.test import Client
c = Client()
c.cookies['sessionid'] = '$key'
c.logout()});
}

# The newest session (the module's login) renamed to $key, then a GET through Django with it.
sub django_reads_module_session {
    my $data = t::Music::psql("SELECT session_data FROM django_session ORDER BY expire_date DESC LIMIT 1");
    t::Music::psql("DELETE FROM django_session WHERE session_key = '$key';
        UPDATE django_session SET session_key = '$key' WHERE session_data = '$data'");
    my $status = django(qq{from django.test import Client
c = Client()
c.cookies['sessionid'] = '$key'
print(c.get('/api/musics/').status_code)});
    die "Django answered $status to the module's session\n" unless $status =~ /^200$/m;
}
our $csrf = 'a' x 32 . 'B' x 32;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $t::Music::http_config);
    $block->set_value(user_files => [[ 'django_secret', "$secret\n" ]]);
    $block->set_value(config => "    music_django_secret_key_file ../html/django_secret;\n    location /api/ { music_api; }\n    location /api-auth/ { music_auth_pages; }\n");
});
run_tests();

__DATA__

=== TEST 1: Django's login() makes a session the module accepts
--- init
t::Music::reset_music(); main::django_login()
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
--- no_error_log
[error]



=== TEST 2: after Django's logout() the cookie is anonymous
--- init
t::Music::reset_music(); main::django_login(); main::django_logout()
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- error_code: 403
--- response_body chomp
{"detail":"Authentication credentials were not provided."}



=== TEST 3: the module's login page makes a session
--- init
t::Music::psql("TRUNCATE django_session")
--- request eval
"POST /api-auth/login/\nusername=admin&password=admin1234&csrfmiddlewaretoken=$main::csrf&next=/api/"
--- more_headers eval
"Cookie: csrftoken=$main::csrf\nContent-Type: application/x-www-form-urlencoded"
--- error_code: 302
--- response_headers_like
Location: /api/



=== TEST 4: Django's own API accepts the session the module wrote (and so does the module)
--- init
main::django_reads_module_session()
--- request
GET /api/musics/1/detail/
--- more_headers eval: "Cookie: sessionid=$main::key"
--- response_body chomp
{"singer":"singer_test","song":"song_test"}
