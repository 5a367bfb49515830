# Each directive's bad values are refused when the configuration is read (nginx -t), with an
# [emerg] that names the directive and the file:line, as nginx's own modules do.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => 2 * blocks() + 7;
no_shuffle();
run_tests();

__DATA__

=== TEST 1: music_api without music_database is refused
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api"\ in\ location\ "\/api\/"\ needs\ "music_database".* in \S+nginx\.conf:\d+/



=== TEST 2: a malformed connection string: the word that is not a parameter
--- http_config
    music_database "not a conninfo";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: parameter "not" has no "=" and value in \S+nginx\.conf:\d+/



=== TEST 3: a connection string without a user
--- http_config
    music_database "host=127.0.0.1 dbname=x";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ connection\ string\ in\ "music_database"\ directive:\ no\ user\ given.* in \S+nginx\.conf:\d+/



=== TEST 4: a libpq TLS parameter the module does not implement is refused by name
--- http_config
    music_database "host=127.0.0.1 user=u sslmode=require sslcrldir=/etc/crl";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: unsupported parameter "sslcrldir" in \S+nginx\.conf:\d+/



=== TEST 5: music_database twice at one level
--- http_config
    music_database "host=127.0.0.1 user=u"; music_database "host=127.0.0.1 user=v";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_database"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 6: music_pool_size must be a positive number
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_pool_size 0; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "0"\ in\ "music_pool_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 7: music_pool_size rejects words
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_pool_size many; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "many"\ in\ "music_pool_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 8: music_query_timeout takes an nginx time
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_query_timeout 5x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "5x"\ in\ "music_query_timeout"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 9: music_pool_timeout takes an nginx time
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_pool_timeout -1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "\-1"\ in\ "music_pool_timeout"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 10: music_time_zone must be a known zone
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_time_zone Mars/Olympus; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "Mars\/Olympus"\ in\ "music_time_zone"\ directive:\ unknown\ time\ zone.* in \S+nginx\.conf:\d+/



=== TEST 11: music_auth is basic or remote_user
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_auth digest; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "digest"\ in\ "music_auth"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 12: music_cors is on or off
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_cors maybe; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "maybe"\ in\ "music_cors"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 13: music_cors_origins takes origins
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_cors_origins example.com; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "example\.com"\ in\ "music_cors_origins"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 14: music_api takes no arguments
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api on; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ number\ of\ arguments\ in\ "music_api"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 15: music_api only in a location
--- http_config eval: $t::Music::http_config
--- config
    music_api;
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api"\ directive\ is\ not\ allowed\ here.* in \S+nginx\.conf:\d+/



=== TEST 16: music_api twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 17: music_auth_queue must be a positive number
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_auth_queue 0; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "0"\ in\ "music_auth_queue"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 18: music_auth_queue rejects words
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_auth_queue lots; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "lots"\ in\ "music_auth_queue"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 19: every directive at http level is inherited and valid
--- http_config
    music_database "$TEST_NGINX_PG_URL";
    music_pool_size 4;
    music_pool_stream_size 3;
    music_pool_pipeline 16;
    music_pool_queue 100;
    music_pool_timeout 1s;
    music_connect_timeout 1500ms;
    music_query_timeout 30s;
    music_prepared_statements off;
    music_time_zone America/New_York;
    music_auth basic;
    music_auth_cache_size 64;
    music_auth_cache_valid 2s;
    music_auth_queue 4;
    music_cors on;
    music_cors_origins https://a.example https://b.example;
    music_cors_methods "GET, POST";
    music_cors_headers "content-type";
    music_cors_max_age 1h;
--- config
    location /api/ { music_api; music_auth_thread_pool default; }
--- request
GET /api/
--- response_body chomp
{"musics":"http://localhost/api/musics/"}
--- no_error_log
[emerg]



=== TEST 20: music_pool_stream_size must be a positive number
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_pool_stream_size 0; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "0"\ in\ "music_pool_stream_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 21: music_pool_stream_size given twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_pool_stream_size 2; music_pool_stream_size 4; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_pool_stream_size"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 22: music_database: an unknown parameter is named
--- http_config
    music_database "host=127.0.0.1 user=u foo=bar";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: unknown parameter "foo" \(known: user, password, host, port, dbname, .*\) in \S+nginx\.conf:\d+/



=== TEST 23: music_database: sslmode=verify-full needs a CA to verify against, and says so without the password
--- http_config
    music_database "postgres://u:s3cret@127.0.0.1/db?sslmode=verify-full";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: sslmode=verify-full needs sslrootcert=<CA file> \(or sslrootcert=system\) to check the server's certificate against in \S+nginx\.conf:\d+/
--- no_error_log
s3cret



=== TEST 24: music_database: a bad port in a URL names the port and its host, not the password
--- http_config
    music_database "postgres://u:s3cret@db.example:notaport/music";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: bad port "notaport" in host "db\.example:notaport": a port is a number from 1 to 65535 in \S+nginx\.conf:\d+/
--- no_error_log
s3cret



=== TEST 25: music_database: a URL of another database
--- http_config
    music_database "mysql://u:s3cret@127.0.0.1/music";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: unsupported URL scheme "mysql:\/\/": write a "postgres:\/\/" or "postgresql:\/\/" URL, or key=value words in \S+nginx\.conf:\d+/
--- no_error_log
s3cret



=== TEST 26: music_database: an unterminated quote, without the password it holds
--- http_config
    music_database "host=127.0.0.1 user=u password='s3cret";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: unterminated quote in the value of "password" in \S+nginx\.conf:\d+/
--- no_error_log
s3cret



=== TEST 27: music_database: a port in host= of key=value words
--- http_config
    music_database "host=127.0.0.1:5432 user=u";
--- config
    location /api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid connection string in "music_database" directive: the host name "127\.0\.0\.1:5432" has a ":": write the port as port=\.\.\. \(or use a postgres:\/\/user\@host:port\/dbname URL\) in \S+nginx\.conf:\d+/



=== TEST 28: music_api: a prefix without the trailing slash is refused, saying what to write
--- http_config eval: $t::Music::http_config
--- config
    location /music { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" needs a location prefix ending in "\/": write "location \/music\/ \{" instead of "location \/music \{" \(a request for "\/music" is then redirected to "\/music\/"\) in \S+nginx\.conf:\d+/



=== TEST 29: music_api: the same for a ^~ prefix
--- http_config eval: $t::Music::http_config
--- config
    location ^~ /music { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" needs a location prefix ending in "\/": write "location \^~ \/music\/ \{" instead of "location \^~ \/music \{" in \S+nginx\.conf:\d+/



=== TEST 30: music_api: a regex location is refused
--- http_config eval: $t::Music::http_config
--- config
    location ~ ^/api/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" cannot serve a regex location \("\^\/api\/"\): write a prefix location ending in "\/", such as "location \/api\/ \{" in \S+nginx\.conf:\d+/



=== TEST 31: music_api: a case-insensitive regex location is refused
--- http_config eval: $t::Music::http_config
--- config
    location ~* /API/ { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" cannot serve a regex location \("\/API\/"\): write a prefix location ending in "\/", such as "location \/api\/ \{" in \S+nginx\.conf:\d+/



=== TEST 32: music_api: an exact match location of a path without the final slash is refused
--- http_config eval: $t::Music::http_config
--- config
    location = /api { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" cannot serve an exact match location of a path without the final "\/" \("location = \/api"\): write the prefix location "location \/api\/ \{", or "location = \/api\/ \{" for the API root alone in \S+nginx\.conf:\d+/



=== TEST 33: music_api: a named location is refused
--- http_config eval: $t::Music::http_config
--- config
    location @api { music_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_api" cannot serve a named location \("location \@api"\): write a prefix location ending in "\/", such as "location \/api\/ \{" in \S+nginx\.conf:\d+/



=== TEST 34: music_api: a "^~" prefix that ends in "/" is served
--- http_config eval: $t::Music::http_config
--- config
    location ^~ /v1/ { music_api; }
--- request
GET /v1/
--- response_body chomp
{"musics":"http://localhost/v1/musics/"}
--- no_error_log
[emerg]



=== TEST 35: music_prepared_statements is on or off
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_prepared_statements unnamed; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "unnamed"\ in\ "music_prepared_statements"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 36: music_prepared_statements given twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_prepared_statements off; music_prepared_statements on; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_prepared_statements"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 37: music_auth_listen is on or off
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_auth_listen yes; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "yes"\ in\ "music_auth_listen"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 38: music_auth_listen given twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_auth_listen off; music_auth_listen on; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_auth_listen"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 39: music_list_buffer_size is a size: "1g" is refused
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_list_buffer_size 1g; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "1g"\ in\ "music_list_buffer_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 40: music_list_buffer_size is a size: "-1" is refused
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_list_buffer_size -1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "-1"\ in\ "music_list_buffer_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 41: music_list_buffer_size is at most 64m
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_list_buffer_size 65m; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid\ value\ "65m"\ in\ "music_list_buffer_size"\ directive.* in \S+nginx\.conf:\d+/



=== TEST 42: music_list_buffer_size given twice
--- http_config eval: $t::Music::http_config
--- config
    location /api/ { music_api; music_list_buffer_size 256k; music_list_buffer_size 0; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"music_list_buffer_size"\ directive\ is\ duplicate.* in \S+nginx\.conf:\d+/



=== TEST 43: music_list_buffer_size 64m, 1M and 0 are valid at every level
--- http_config eval: $t::Music::http_config . "    music_list_buffer_size 64m;\n"
--- config
    location /api/ { music_api; music_list_buffer_size 0; }
    location /v2/ { music_api; music_list_buffer_size 1M; }
--- request
GET /api/
--- response_body chomp
{"musics":"http://localhost/api/musics/"}
--- no_error_log
[emerg]
