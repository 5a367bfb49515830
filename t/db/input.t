# Request bodies (docs/api.md): JSON and form input, each validation message, 415, malformed JSON,
# non-object bodies, whitespace, numbers, unicode and SQL metacharacters round-tripping.
use Test::Nginx::Socket;
use t::Music;

repeat_each(1);
plan tests => repeat_each() * 47;
no_shuffle();
add_block_preprocessor(sub {
    t::Music::api_defaults(shift, more_headers => "Content-Type: application/json\n" . $t::Music::admin);
});
run_tests();

__DATA__

=== TEST 1: POST without fields: both required, song first
--- request
POST /api/musics/
{}
--- error_code: 400
--- response_body chomp
{"song":["This field is required."],"singer":["This field is required."]}



=== TEST 2: blank, whitespace-only and null
--- request
POST /api/musics/
{"song": "   ", "singer": null}
--- error_code: 400
--- response_body chomp
{"song":["This field may not be blank."],"singer":["This field may not be null."]}



=== TEST 3: booleans, arrays and objects are not strings
--- request eval
['POST /api/musics/
{"song": true, "singer": [1]}', 'POST /api/musics/
{"song": {"a": 1}, "singer": "ok"}']
--- error_code eval
[400, 400]
--- response_body eval
['{"song":["Not a valid string."],"singer":["Not a valid string."]}', '{"song":["Not a valid string."]}']



=== TEST 4: PUT needs both fields
--- request
PUT /api/musics/1/
{"song": "only"}
--- error_code: 400
--- response_body chomp
{"singer":["This field is required."]}



=== TEST 5: PATCH validates what it is given
--- request
PATCH /api/musics/1/
{"singer": ""}
--- error_code: 400
--- response_body chomp
{"singer":["This field may not be blank."]}



=== TEST 6: malformed JSON is a parse error that says where
--- request
POST /api/musics/
{"song": "a",
--- error_code: 400
--- response_body_like: ^\{"detail":"JSON parse error - .*line 1 column \d+.*"\}$



=== TEST 7: valid JSON that is not an object names the Python type
--- request eval
["POST /api/musics/\n[1, 2]", "POST /api/musics/\n\"text\"", "POST /api/musics/\n42", "POST /api/musics/\n4.5", "POST /api/musics/\ntrue", "POST /api/musics/\nnull"]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_body eval
['{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}',
 '{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}',
 '{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}',
 '{"non_field_errors":["Invalid data. Expected a dictionary, but got float."]}',
 '{"non_field_errors":["Invalid data. Expected a dictionary, but got bool."]}',
 '{"non_field_errors":["Invalid data. Expected a dictionary, but got NoneType."]}']



=== TEST 8: an unsupported Content-Type is 415 naming the type as sent
--- request
POST /api/musics/
song=a
--- more_headers eval: "Content-Type: text/plain\n" . $t::Music::admin
--- error_code: 415
--- response_body chomp
{"detail":"Unsupported media type \"text/plain\" in request."}



=== TEST 9: form-urlencoded input, trimmed, '+' and %-escapes decoded
--- request
POST /api/musics/
song=+Hello%20World+&singer=%E5%91%A8%E6%9D%B0%E5%80%AB
--- more_headers eval: "Content-Type: application/x-www-form-urlencoded\n" . $t::Music::admin
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"Hello World","singer":"周杰倫",



=== TEST 10: numbers are stored as their text, surrounding whitespace trimmed
--- request
POST /api/musics/
{"song": 12345678901234567890, "singer": "  spaced out \t"}
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"12345678901234567890","singer":"spaced out",



=== TEST 11: unicode, quotes, backslashes and SQL metacharacters round-trip
--- request
POST /api/musics/
{"song": "Rob'); DROP TABLE music;--", "singer": "a \"q\" \\ \u00e9 \ud83c\udfb5 / <b>"}
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"Rob'\); DROP TABLE music;--","singer":"a \\"q\\" \\\\ é 🎵 / <b>",



=== TEST 12: ...and read back unchanged, the table still there
--- init
t::Music::reset_music(); t::Music::psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('Rob''); DROP TABLE music;--', E'a "q" \\\\ é 🎵 / <b>\ttab', now(), now())})
--- request
GET /api/musics/3/detail/
--- more_headers eval: $t::Music::admin
--- response_body chomp
{"singer":"a \"q\" \\ é 🎵 / <b>\ttab","song":"Rob'); DROP TABLE music;--"}



=== TEST 13: read-only and unknown keys are ignored
--- request
POST /api/musics/
{"id": 99, "created": "2000-01-01T00:00:00Z", "days_since_created": 5, "extra": 1, "song": "s", "singer": "t"}
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"s","singer":"t","last_modify_date":"20[^"]+","created":"(?!2000)



=== TEST 14: PUT on a missing item is 404 before the body is looked at
--- request
PUT /api/musics/999/
{"song": ""}
--- error_code: 404
--- response_body chomp
{"detail":"Not found."}



=== TEST 15: NUL characters are refused (DRF's null-character validator)
--- request
POST /api/musics/
{"song": "a\u0000b", "singer": "ok"}
--- error_code: 400
--- response_body chomp
{"song":["Null characters are not allowed."]}



=== TEST 16: duplicated keys: the last one wins, as in Python's json
--- request
POST /api/musics/
{"song": "first", "song": "last", "singer": "s"}
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"last",



=== TEST 17: a body larger than client_max_body_size gets nginx's 413
--- config
    location /api/ { music_api; client_max_body_size 10; }
--- request
POST /api/musics/
{"song": "0123456789", "singer": "x"}
--- error_code: 413



=== TEST 18: a body spilled to a temporary file is read back
--- config
    client_body_buffer_size 16;
    client_body_in_file_only on;
    location /api/ { music_api; }
--- request
POST /api/musics/
{"song": "from a temp file", "singer": "spilled"}
--- error_code: 201
--- response_body_like: ^\{"id":3,"song":"from a temp file","singer":"spilled",
