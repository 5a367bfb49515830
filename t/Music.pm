package t::Music;

# Helpers for the ngx-music test files (loaded with `prove -I.`, as `use t::Music;`), usable
# under our harness and the real Test::Nginx alike: the database fixture, users with Django
# password hashes, Basic auth headers, raw HTTP requests, the defaults of the API files' blocks
# and expected JSON.
#
# The database comes from build/test: $ENV{TEST_NGINX_PG_URL} (a libpq URL).

use strict;
use warnings;
use Exporter 'import';
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(hmac_sha256);
use POSIX qw(floor);
use Time::HiRes ();
use Time::Local qw(timegm);

our @EXPORT = qw(psql reset_music add_user basic django_hash days_since
    $http_config $admin);
our @EXPORT_OK = qw(request basic_credentials api_defaults);

# The account build/bootstrap-db creates (user, password), and its Authorization header line
# (no line end: what a --- more_headers section holds; followed by another header, it needs
# "\n" between them: "$admin\nContent-Type: ...").
our @admin_login = ('admin', 'admin1234');
our $admin = basic(@admin_login);

# Every file's http {} block: the database (the URL is expanded by the harness).
# The waits are 2 s unless TEST_NGINX_DB_WAIT says otherwise (build/memcheck and build/asan
# give more: under valgrind on a loaded machine a connect can take longer than 2 s).
$ENV{TEST_NGINX_DB_WAIT} //= '2s';
our $http_config = <<'_EOC_';
    music_database "$TEST_NGINX_PG_URL";
    music_pool_timeout $TEST_NGINX_DB_WAIT;
    music_connect_timeout $TEST_NGINX_DB_WAIT;
_EOC_

sub psql_bin {
    my $bin = ($ENV{PGBIN} // '/usr/lib/postgresql/15/bin') . '/psql';
    return -x $bin ? $bin : 'psql';
}

# Runs SQL against the test database; returns psql's unaligned output.
sub psql {
    my ($sql) = @_;
    my $url = $ENV{TEST_NGINX_PG_URL} or die "TEST_NGINX_PG_URL is not set (run build/test)\n";
    my $bin = psql_bin();
    open(my $fh, '-|', $bin, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $url, '-c', $sql)
        or die "psql: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "psql failed for: $sql\n";
    $out //= '';
    $out =~ s/\s+\z//;
    return $out;
}

# The table as the original's tests start it, with fixed timestamps so bodies are exact:
# id 1 created 2022-04-05 03:45:05.123456 UTC (11:45:05.123456+08:00),
# id 2 created 2022-04-06 00:00:00 UTC (no microseconds).
sub reset_music {
    psql(q{TRUNCATE music RESTART IDENTITY;
        INSERT INTO music (song, singer, last_modify_date, created) VALUES
        ('song_test', 'singer_test', '2022-04-05 03:45:05.123456+00', '2022-04-05 03:45:05.123456+00'),
        ('second', 'singer_two', '2022-04-06 00:00:00+00', '2022-04-06 00:00:00+00');});
}

# Another session holds the `music` table (ACCESS EXCLUSIVE) for $seconds, in a child process,
# so that the module's statements on it wait; returns once the lock is held, with the child's pid.
sub lock_music_table {
    my ($seconds) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        psql("BEGIN; LOCK TABLE music IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($seconds); COMMIT;");
        POSIX::_exit(0);
    }
    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.02) while Time::HiRes::time() < $deadline
        && psql(q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'music' AND l.mode = 'AccessExclusiveLock' AND l.granted}) ne '1';
    return $pid;
}

# The nginx.conf of the tests of shared statements (write_batch, write_batch_hold,
# update_batch, read_batch, list_share) for t::Nginx on $port: `workers` (1), the test
# database with `pool_size` connections a worker (2: what arrives behind two statements in
# flight waits for the next batch), a 10 s query timeout, the metrics page at /metrics (the
# statement counts); `http` goes into the http block, `locations` beside /api/.
sub batch_conf {
    my ($port, %o) = @_;
    my $workers = $o{workers} // 1;
    my $pool = $o{pool_size} // 2;
    my $http = $o{http} // '';
    my $locations = $o{locations} // '';
    return <<"EOC";
worker_processes $workers;
events { worker_connections 512; }
http {
    access_log off;
    music_database "$ENV{TEST_NGINX_PG_URL}";
    music_pool_size $pool;
    music_query_timeout 10s;
    music_metrics_zone metrics:1m;
    $http
    server {
        listen 127.0.0.1:$port;
        location /api/ { music_api; }
        location = /metrics { music_metrics; }
        $locations
    }
}
EOC
}

# PBKDF2-HMAC-SHA256 as Django stores it (small iteration counts keep tests quick).
sub django_hash {
    my ($password, $salt, $iterations) = @_;
    $iterations //= 1000;
    my $u = hmac_sha256($salt . pack('N', 1), $password);
    my $t = $u;
    for (2 .. $iterations) {
        $u = hmac_sha256($u, $password);
        $t ^= $u;
    }
    return "pbkdf2_sha256\$$iterations\$$salt\$" . encode_base64($t, '');
}

# Creates or replaces a user row (Django's auth_user columns).
sub add_user {
    my ($username, $password, %opt) = @_;
    my $active = exists $opt{active} ? ($opt{active} ? 'true' : 'false') : 'true';
    my $hash = defined $password ? django_hash($password, $opt{salt} // 'testsalt1234', $opt{iterations}) : '!unusable';
    (my $u = $username) =~ s/'/''/g;
    psql(qq{DELETE FROM auth_user WHERE username = '$u';
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
            is_staff, is_active, date_joined)
        VALUES ('$hash', false, '$u', '', '', '', false, $active, now());});
}

# The Authorization header's value for HTTP Basic auth, and the whole header line (no line end).
sub basic_credentials {
    my ($user, $password) = @_;
    return "Basic " . encode_base64("$user:$password", '');
}

sub basic { "Authorization: " . basic_credentials(@_) }

# A raw HTTP/1.1 request to send on a socket (t::Nginx's parallel, a load client):
#   request('POST', '/api/musics/', headers => "Content-Type: application/json\n$admin",
#           body => '{...}', close => 1)
# headers: header lines, each ending in "\n" or "\r\n" (the last may have no line end); they go
# out ending in CRLF. A body, and every POST, PUT and PATCH, gets a Content-Length. Keep-alive
# unless close => 1 (Connection: close: t::Nginx's parallel reads each answer until the close).
sub request {
    my ($method, $uri, %opt) = @_;
    my $body = $opt{body} // '';
    my $headers = join '', map { "$_\r\n" } grep { length } split /\r?\n/, $opt{headers} // '';
    $headers .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method =~ /^(POST|PUT|PATCH)$/;
    $headers .= "Connection: close\r\n" if $opt{close};
    return "$method $uri HTTP/1.1\r\nHost: localhost\r\n$headers\r\n$body";
}

# The block preprocessor of the data-driven files that test the API: each section the block
# lacks gets its default, the API at /api/ on the test database, the table reset to the two
# rows of reset_music; %sections adds or replaces defaults:
#   add_block_preprocessor(sub { t::Music::api_defaults(shift, more_headers => $t::Music::admin) });
sub api_defaults {
    my ($block, %sections) = @_;
    my %defaults = (
        http_config => $http_config,
        config      => "    location /api/ { music_api; }\n",
        init        => 't::Music::reset_music()',
        %sections,
    );
    for my $name (sort keys %defaults) {
        $block->set_value($name => $defaults{$name}) unless defined $block->$name;
    }
}

# Python's timedelta.days of (now - created) for a UTC "Y-m-d H:M:S" time.
sub days_since {
    my ($y, $m, $d, $H, $M, $S) = @_;
    my $created = timegm($S, $M, $H, $d, $m - 1, $y);
    return floor((time() - $created) / 86400);
}

1;
