# Behind PgBouncer (Debian's pgbouncer, started here on a free 127.0.0.1 port with a config,
# auth file and pid file of its own, stopped by its pid; a system pgbouncer is neither used nor
# touched), in front of the test database:
#
# - transaction mode, two server connections, `music_prepared_statements off`: the API's
#   routes (list, item, POST, PUT, PATCH, DELETE, detail/, all_singer/, a 404 that looks the
#   row up, a wrong password) answer as without the pooler, a statement past
#   music_query_timeout is cancelled through it (and PgBouncer survives the cancel request),
#   and 400 requests 32 at a time from two workers get no error;
# - transaction mode with prepared statements (the default): the pooler runs a statement in
#   another server session than the one it was prepared in; that is a 503
#   {"detail":"Database unavailable."} and an error line that says to set
#   `music_prepared_statements off`, never a 500;
# - session mode keeps a client's server connection: prepared statements work there.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use t::Music;
use t::Nginx;

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};
my ($pg_user, $pg_pass, $pg_host, $pg_port, $pg_db) =
    $ENV{TEST_NGINX_PG_URL} =~ m{^postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)} or die 'bad TEST_NGINX_PG_URL';
my ($pgbouncer) = grep { -x } '/usr/sbin/pgbouncer', map { "$_/pgbouncer" } split /:/, $ENV{PATH} // '';
plan skip_all => 'pgbouncer is not installed (build/test installs it)' unless $pgbouncer;
plan tests => 27;

# ------------------------------------------------------------------ a private pgbouncer

my @bouncers;
END { $_->stop for @bouncers }

# Starts pgbouncer in the foreground as a child of this test (as "postgres" when run as root:
# pgbouncer refuses to run as root), listening on a free 127.0.0.1 port only.
sub start_bouncer {
    my (%o) = @_;
    my $dir = File::Temp::tempdir('ngx-music-pgbouncer.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port = t::Nginx::free_port();
    my ($uid, $gid) = $> == 0 ? (getpwnam('postgres'))[2, 3] : ($>, $) + 0);
    die 'no "postgres" user to run pgbouncer as' unless defined $uid;
    chmod 0755, $dir;
    write_file("$dir/userlist.txt", qq{"$pg_user" "$pg_pass"\n});
    write_file("$dir/pgbouncer.ini", <<"INI");
[databases]
$pg_db = host=$pg_host port=$pg_port dbname=$pg_db
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = $o{mode}
default_pool_size = $o{servers}
server_lifetime = @{[ $o{lifetime} // 3600 ]}
max_client_conn = 100
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    chown $uid, $gid, $dir, "$dir/userlist.txt", "$dir/pgbouncer.ini";
    chmod 0600, "$dir/userlist.txt";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        if ($> == 0) {
            POSIX::setgid($gid) or die "setgid: $!";
            POSIX::setuid($uid) or die "setuid: $!";
        }
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$dir/stderr";
        exec $pgbouncer, "$dir/pgbouncer.ini";
        exit 127;
    }
    my $b = bless { pid => $pid, port => $port, dir => $dir }, 'PgBouncer';
    push @bouncers, $b;
    my $deadline = time + 10;
    while (time < $deadline) {
        die "pgbouncer exited at start:\n" . $b->log if waitpid($pid, WNOHANG) == $pid;
        return $b if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
        sleep 0.05;
    }
    die "pgbouncer did not listen on 127.0.0.1:$port:\n" . $b->log;
}

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

sub PgBouncer::url { "postgres://$pg_user:$pg_pass\@127.0.0.1:$_[0]{port}/$pg_db" }

sub PgBouncer::log {
    my ($self) = @_;
    my $text = '';
    for my $f ("$self->{dir}/pgbouncer.log", "$self->{dir}/stderr") {
        open my $fh, '<', $f or next;
        local $/;
        $text .= <$fh> // '';
    }
    return $text;
}

sub PgBouncer::running {
    my ($self) = @_;
    return $self->{pid} && waitpid($self->{pid}, WNOHANG) == 0;
}

# SIGTERM is pgbouncer's immediate shutdown; by pid, then waited for.
sub PgBouncer::stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# ------------------------------------------------------------------ nginx and requests

my $auth = $t::Music::admin;
my $json = "Content-Type: application/json\r\n";

# nginx with the API on the pooler ($directive is added at http level as it is), and at
# /slow/api/ with a music_query_timeout of 500 ms.
sub start_nginx {
    my ($bouncer, $directive, $workers) = @_;
    my $n = t::Nginx->new(name => 'pgbouncer');
    my $p = $n->port;
    my $url = $bouncer->url;
    $n->write_conf(<<"EOC");
worker_processes $workers;
events { worker_connections 256; }
http {
    access_log off;
    music_database "$url";
    music_pool_size 2;
    music_pool_stream_size 2;
    music_connect_timeout 2s;
    $directive
    server {
        listen 127.0.0.1:$p;
        location /api/ { music_api; }
        location /slow/api/ { music_api; music_query_timeout 500ms; }
    }
}
EOC
    return $n->start;
}

# The body of a chunked answer (lists are streamed), as sent.
sub dechunk {
    my ($r) = @_;
    return $r unless $r->{head} =~ /^Transfer-Encoding: chunked/mi;
    my ($raw, $body) = ($r->{body}, '');
    while ($raw =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $len = hex $1;
        last if $len == 0;
        $body .= substr($raw, 0, $len, '');
        $raw =~ s/^\r\n//;
    }
    return { %$r, body => $body };
}

sub one {
    my ($n, $method, $uri, %o) = @_;
    my ($r) = $n->parallel(10, t::Music::request($method, $uri, headers => $o{headers} // $auth, body => $o{body}, close => 1));
    return dechunk($r);
}

# $total requests, $concurrency at a time, each on its own connection: mostly single rows,
# with lists, detail/, all_singer/, POSTs and PATCHes among them. Returns the responses.
sub load {
    my ($n, $total, $concurrency) = @_;
    my @mix = (
        (map { t::Music::request('GET', '/api/musics/1/', headers => $auth, close => 1) } 1 .. 20),
        (map { t::Music::request('GET', '/api/musics/', headers => $auth, close => 1) } 1 .. 4),
        (map { t::Music::request('GET', '/api/musics/2/detail/', headers => $auth, close => 1) } 1 .. 2),
        (map { t::Music::request('GET', '/api/musics/all_singer/', headers => $auth, close => 1) } 1 .. 2),
        (map { t::Music::request('POST', '/api/musics/', headers => $json . $auth,
                body => '{"song":"load","singer":"pooled"}', close => 1) } 1 .. 2),
        (map { t::Music::request('PATCH', '/api/musics/2/', headers => $json . $auth,
                body => '{"song":"patched"}', close => 1) } 1 .. 2),
    );
    my @all;
    while (@all < $total) {
        my $k = $total - @all < $concurrency ? $total - @all : $concurrency;
        push @all, map { dechunk($_) } $n->parallel(30, @mix[0 .. $k - 1]);
    }
    return @all;
}

sub statuses {
    my %c;
    $c{ $_->{status} }++ for @_;
    return join ', ', map { "$_: $c{$_}" } sort keys %c;
}

sub error_lines { grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $_[0] }

# ------------------------------------------------------------------ transaction mode, off

{
    t::Music::reset_music();
    my $bouncer = start_bouncer(mode => 'transaction', servers => 2);
    my $n = start_nginx($bouncer, 'music_prepared_statements off;', 2);

    my $r = one($n, 'GET', '/api/musics/');
    ok($r->{status} == 200 && $r->{body} =~ /^\[\{"id":1,"song":"song_test".*\{"id":2,"song":"second".*\]$/s,
        'off, transaction mode: the list') or diag explain $r;
    $r = one($n, 'GET', '/api/musics/1/');
    like("$r->{status} $r->{body}", qr/^200 \{"id":1,"song":"song_test","singer":"singer_test","last_modify_date":"2022-04-05T11:45:05\.123456\+08:00"/,
        'an item');
    $r = one($n, 'POST', '/api/musics/', headers => $json . $auth, body => '{"song":"s3","singer":"p3"}');
    like("$r->{status} $r->{body}", qr/^201 \{"id":3,"song":"s3","singer":"p3",/, 'POST creates');
    $r = one($n, 'PUT', '/api/musics/3/', headers => $json . $auth, body => '{"song":"put","singer":"putter"}');
    like("$r->{status} $r->{body}", qr/^200 \{"id":3,"song":"put","singer":"putter",/, 'PUT replaces');
    $r = one($n, 'PATCH', '/api/musics/3/', headers => $json . $auth, body => '{"singer":"patcher"}');
    like("$r->{status} $r->{body}", qr/^200 \{"id":3,"song":"put","singer":"patcher",/, 'PATCH changes one field');
    $r = one($n, 'GET', '/api/musics/3/detail/');
    is("$r->{status} $r->{body}", '200 {"singer":"patcher","song":"put"}', 'detail/');
    $r = one($n, 'GET', '/api/musics/all_singer/');
    is("$r->{status} $r->{body}", '200 ["singer_test","singer_two","patcher"]', 'all_singer/');
    $r = one($n, 'PUT', '/api/musics/99/', headers => $json . $auth, body => '{"song":""}');
    is("$r->{status} $r->{body}", '404 {"detail":"Not found."}', 'an invalid PUT of a missing row is 404 (the row is looked up first)');
    $r = one($n, 'DELETE', '/api/musics/3/');
    is($r->{status}, 204, 'DELETE');
    $r = one($n, 'GET', '/api/musics/3/');
    is("$r->{status} $r->{body}", '404 {"detail":"Not found."}', 'the deleted row is gone');
    $r = one($n, 'GET', '/api/musics/1/', headers => t::Music::basic('admin', 'wrong'));
    is("$r->{status} $r->{body}", '403 {"detail":"Invalid username/password."}', 'a wrong password is refused (the user row read through the pooler)');
    is(t::Music::psql('SELECT count(*) FROM music'), 2, 'the writes reached the database');

    # The cancel request goes to PgBouncer, which passes it on to the server connection that
    # runs the statement.
    t::Music::psql(q{CREATE OR REPLACE FUNCTION slow_song() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$ LANGUAGE plpgsql;
        DROP TRIGGER IF EXISTS slow ON music;
        CREATE TRIGGER slow BEFORE INSERT ON music FOR EACH ROW EXECUTE FUNCTION slow_song();});
    $r = one($n, 'POST', '/slow/api/musics/', headers => $json . $auth, body => '{"song":"slow","singer":"s"}');
    t::Music::psql('DROP TRIGGER IF EXISTS slow ON music');
    is("$r->{status} $r->{body}", '504 {"detail":"Database query timed out."}', 'a statement past music_query_timeout is 504');
    my $running = 1;
    for (1 .. 40) {
        $running = t::Music::psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO music%' AND state = 'active'});
        last unless $running;
        sleep 0.05;
    }
    is($running, 0, 'it was cancelled on the server through the pooler (well before its 5 s)');
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE song = 'slow'}), 0, 'the cancelled INSERT left no row');
    # PgBouncer 1.18 exits if the cancel request's socket is closed while it still forwards it
    ok($bouncer->running, 'PgBouncer is still running after the cancel request') or diag $bouncer->log;

    my @answers = load($n, 400, 32);
    my @bad = grep { $_->{status} !~ /^20[01]$/ } @answers;
    is(scalar(@answers), 400, '400 requests, 32 at a time, 2 workers') or diag statuses(@answers);
    is(scalar(@bad), 0, 'off under load through 2 server connections: no error') or diag statuses(@answers), "\n", $bad[0]{body};
    is(t::Music::psql(q{SELECT count(*) FROM music WHERE singer = 'pooled'}),
        scalar(grep { $_->{status} == 201 } @answers), 'every 201 is a row');
    $n->stop;
    my @errors = grep { !/password mismatch|POST \/slow\/api\/musics\/: Database query timed out/ } error_lines($n->error_log);
    is(scalar(@errors), 0, 'no error in the log but the wrong password and the timeout') or diag join "\n", @errors[0 .. ($#errors < 4 ? $#errors : 4)];
    $bouncer->stop;
}

# ------------------------------------------------------------------ transaction mode, prepared

{
    # A fresh pooler: its server sessions have none of the module's statements yet, so some
    # statements run where they were prepared and others do not.
    t::Music::reset_music();
    # Server sessions live 1 s once idle: the ones the first POST prepared its statements on
    # are gone after the pause, so the load that follows surely runs on sessions that lack
    # them, however its requests happen to interleave.
    my $bouncer = start_bouncer(mode => 'transaction', servers => 2, lifetime => 1);
    my $n = start_nginx($bouncer, '# music_prepared_statements: the default (on)', 2);
    my @answers = one($n, 'POST', '/api/musics/', headers => $json . $auth, body => '{"song":"one","singer":"prepared"}');
    sleep 2.5;
    push @answers, load($n, 400, 32);
    my @failed = grep { $_->{status} !~ /^20[01]$/ } @answers;
    my @not503 = grep { $_->{status} != 503 || $_->{body} ne '{"detail":"Database unavailable."}' } @failed;
    ok(@failed > 0, 'prepared statements through a transaction-mode pooler fail') or diag statuses(@answers);
    is(scalar(@not503), 0, 'every failure is 503 {"detail":"Database unavailable."}, none a 500')
        or diag statuses(@answers), "\n", "$not503[0]{status} $not503[0]{body}";
    $n->stop;
    my $log = $n->error_log;
    my @hint = grep { /prepared statement "s\d+" (does not|already) exists?: .* set "music_prepared_statements off"/ } error_lines($log);
    ok(@hint > 0, 'the error log says what happened and to set "music_prepared_statements off"')
        or diag join "\n", (error_lines($log))[0 .. 4];
    my @other = grep { !/set "music_prepared_statements off"/ } error_lines($log);
    is(scalar(@other), 0, 'every error line says it') or diag join "\n", @other[0 .. ($#other < 4 ? $#other : 4)];
    $bouncer->stop;
}

# ------------------------------------------------------------------ session mode, prepared

{
    t::Music::reset_music();
    my $bouncer = start_bouncer(mode => 'session', servers => 4);
    my $n = start_nginx($bouncer, 'music_prepared_statements on;', 1);
    my $r = one($n, 'POST', '/api/musics/', headers => $json . $auth, body => '{"song":"s3","singer":"session"}');
    like("$r->{status} $r->{body}", qr/^201 \{"id":3,/, 'on, session mode: POST');
    my @answers = load($n, 200, 16);
    my @bad = grep { $_->{status} !~ /^20[01]$/ } @answers;
    is(scalar(@bad), 0, 'on, session mode: 200 requests, 16 at a time, no error') or diag statuses(@answers);
    $n->stop;
    my @errors = error_lines($n->error_log);
    is(scalar(@errors), 0, 'no error in the log') or diag join "\n", @errors[0 .. ($#errors < 4 ? $#errors : 4)];
    $bouncer->stop;
}
