# What stays nginx's (docs/api.md): static files through an alias, and the status page behind
# auth_basic with the shipped htpasswd (user1 / 123), next to the module's location.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 10;
no_shuffle();
run_tests();

__DATA__

=== TEST 1: /static is served from the shipped directory
--- http_config eval: $t::Music::http_config
--- config
    location /static { alias $TEST_NGINX_PROJECT/nginx-conf/static; }
    location /api/ { music_api; }
--- request
GET /static/hello.txt
--- response_body_like: served by nginx's own "location /static"
--- response_headers
Content-Type: text/plain



=== TEST 2: the status page refuses anonymous clients
--- http_config eval: $t::Music::http_config
--- config
    location /nginx/status {
        stub_status;
        access_log off;
        auth_basic "NginxStatus";
        auth_basic_user_file $TEST_NGINX_PROJECT/nginx-conf/htpasswd;
    }
--- request
GET /nginx/status
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="NginxStatus"



=== TEST 3: the status page answers user1 / 123
--- http_config eval: $t::Music::http_config
--- config
    location /nginx/status {
        stub_status;
        access_log off;
        auth_basic "NginxStatus";
        auth_basic_user_file $TEST_NGINX_PROJECT/nginx-conf/htpasswd;
    }
--- request
GET /nginx/status
--- more_headers
Authorization: Basic dXNlcjE6MTIz
--- response_body_like: ^Active connections: \d+



=== TEST 4: a wrong status-page password is refused
--- http_config eval: $t::Music::http_config
--- config
    location /nginx/status {
        stub_status;
        auth_basic "NginxStatus";
        auth_basic_user_file $TEST_NGINX_PROJECT/nginx-conf/htpasswd;
    }
--- request
GET /nginx/status
--- more_headers
Authorization: Basic dXNlcjE6MTI0
--- error_code: 401



=== TEST 5: the module's location and a static one side by side
--- http_config eval: $t::Music::http_config
--- config
    location /static { alias $TEST_NGINX_PROJECT/nginx-conf/static; }
    location /api/ { music_api; }
--- request eval
["GET /api/", "GET /static/hello.txt"]
--- error_code eval
[200, 200]
