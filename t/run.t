# build/run and its embedded PostgreSQL (build/pg) as a user meets them, each run in a build
# area of its own (NGX_MUSIC_BUILD_AREA: a temporary directory that links to the cached nginx
# build) on free ports, so that it never touches a real ./build/run or another test:
#   1. status: KEY=value lines only (eval "$(build/run status)"), stopped or running;
#   2. start prints the banner the README shows; the static files are served;
#   3. the embedded PostgreSQL's superuser: not for other local users without its password
#      (TCP: SCRAM; the socket: a 0700 directory, peer for the server's user and root), also
#      on a cluster whose pg_hba.conf an older build/pg wrote (trust);
#   4. stop with DATABASE_URL exported stops the PostgreSQL that start started;
#   5. a start that fails (the port is taken) says so and stops its PostgreSQL;
#   6. Ctrl-C before the banner stops the PostgreSQL already started;
#   7. a checkout only root can enter: build/run picks a build area under /var/tmp, says
#      where, and serves the API and the static files from there.
#   8. Django's SECRET_KEY: generated once into the build area (0600, build/run's user's),
#      kept across restarts, DJANGO_SECRET_KEY / DJANGO_SECRET_KEY_FILE used when given; the
#      shipped config serves /api-auth/login/ with it;
# 3 and 7 need root (runuser), as CI runs.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use HTTP::Tiny;
use MIME::Base64 ();
use Time::HiRes ();
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use lib dirname(abs_path(__FILE__)) . '/..';
use t::Nginx;

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $AREA0 = $ENV{NGX_MUSIC_BUILD_AREA} // "$ROOT/.build";
my $NGINX = "$AREA0/nginx/sbin/nginx";
my $MODULE = "$ROOT/target/release/libngx_music.so";
my $PGBIN = $ENV{PGBIN} // '/usr/lib/postgresql/15/bin';
my $PSQL = -x "$PGBIN/psql" ? "$PGBIN/psql" : 'psql';
my $IS_ROOT = $> == 0;

plan skip_all => "no nginx build or module ($NGINX, $MODULE): run build/nginx and cargo build --release"
    unless -x $NGINX && -f $MODULE;
plan skip_all => "no PostgreSQL 15 ($PGBIN/initdb; build/test installs it)" unless -x "$PGBIN/initdb";

my $http = HTTP::Tiny->new(timeout => 10);
my @cleanup;    # build/run stop / build/pg stop for whatever a failed check left running

# A build area of its own: the shared nginx build linked in (not rebuilt), run/ and pgdata/
# private; a free port for nginx and one for PostgreSQL.
sub new_stack {
    my $area = tempdir('ngx-music-run.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $area;    # the postgres user must reach the cluster inside
    symlink "$AREA0/nginx", "$area/nginx" or die $!;
    symlink "$AREA0/nginx-src", "$area/nginx-src" or die $!;
    my %s = (root => $ROOT, area => $area, port => t::Nginx::free_port(), pg_port => t::Nginx::free_port());
    $s{env} = { NGX_MUSIC_BUILD_AREA => $area, NGX_MUSIC_PORT => $s{port}, NGX_MUSIC_PG_PORT => $s{pg_port},
        NGX_MUSIC_WORKERS => 1, DATABASE_URL => undef, DJANGO_SECRET_KEY => undef, DJANGO_SECRET_KEY_FILE => undef };
    push @cleanup, \%s;
    return \%s;
}

# Runs a command with these environment changes (undef: unset), stdin from /dev/null, stdout
# and stderr into one file (daemons started by it must not hold a pipe of ours).
# Returns (exit code, output).
sub run_env {
    my ($env, @cmd) = @_;
    my $out = File::Temp->new;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        for my $k (keys %$env) { defined $env->{$k} ? ($ENV{$k} = $env->{$k}) : delete $ENV{$k} }
        open STDIN, '<', '/dev/null' or die $!;
        open STDOUT, '>', $out->filename or die $!;
        open STDERR, '>&', \*STDOUT or die $!;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? >> 8;
    return ($rc, slurp($out->filename));
}

sub run_in { my ($s, $env, @args) = @_; return run_env({ %{ $s->{env} }, %$env }, "$s->{root}/build/run", @args) }

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; my $t = <$fh>; return $t // '' }

sub alive { my ($pid) = @_; return defined $pid && $pid =~ /^\d+$/ && kill(0, $pid) }

# Whether the process has exited (a zombie not yet reaped by init counts), waiting up to 5 s:
# pg_ctl stop returns once the postmaster has removed its pid file, a moment before it exits.
sub gone {
    my ($pid) = @_;
    for (1 .. 100) {
        return 1 unless alive($pid);
        my ($state) = slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) (\S)/s;
        return 1 if ($state // 'Z') eq 'Z';
        sleep 0.05;
    }
    return 0;
}

sub postmaster_pid { my ($s) = @_; my ($pid) = slurp("$s->{area}/pgdata/postmaster.pid") =~ /^(\d+)/; return $pid }

sub port_open {
    my ($port) = @_;
    return !!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2);
}

# The status lines, parsed by the shell itself: a hash of what eval "$(build/run status)" sets.
sub eval_status {
    my ($s) = @_;
    my ($rc, $out) = run_env({ %{ $s->{env} }, RUN => "$s->{root}/build/run" }, 'bash', '-c',
        'eval "$("$RUN" status)" || exit 9; for k in STATUS NGINX_PID API_URL DATABASE_URL POSTGRES_PID; do printf "%s=%s\n" "$k" "${!k-}"; done');
    return { rc => $rc, map { /^([A-Z_]+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $out };
}

sub psql_as {
    my ($user, @args) = @_;
    my @cmd = ($PSQL, '-X', '-q', '-A', '-t', '-w', @args, '-c', 'SELECT 1');
    @cmd = ('runuser', '-u', $user, '--', @cmd) if defined $user;
    return run_env({ PGPASSWORD => undef, PGCONNECT_TIMEOUT => 5 }, @cmd);
}

# The banner's labels, in order, from the README's "`./build/run` prints:" block.
sub readme_banner_labels {
    my ($block) = slurp("$ROOT/README.md") =~ /^`\.\/build\/run` prints:\n\n```\n(.*?)^```/ms or return ();
    return map { /^\s{2,}(\S.*?)(?:\s{2,}|$)/ ? $1 : () } split /\n/, $block;
}
sub banner_labels { my ($out) = @_; return map { /^\s{2,}(\S.*?)(?:\s{2,}|$)/ ? $1 : () } split /\n/, $out }

################################################################################ 1, 2, 3, 4

my $s = new_stack();
my ($rc, $out);

subtest 'status before any start: STATUS=stopped, exit 3, KEY=value lines only' => sub {
    ($rc, $out) = run_in($s, {}, 'status');
    is($rc, 3, 'exit 3');
    is($out, "STATUS=stopped\n", 'one line: STATUS=stopped');
};

subtest 'start: the README\'s banner, eval-able status, static files' => sub {
    ($rc, $out) = run_in($s, {}, 'start');
    is($rc, 0, 'build/run start exits 0') or return diag $out;
    my @printed = banner_labels($out =~ /(^  ngx-music is running\n.*)/ms ? $1 : '');
    my @readme = readme_banner_labels();
    ok(@printed >= 8, 'the banner has its lines (' . scalar(@printed) . ')') or diag $out;
    is_deeply(\@readme, [@printed, 'Ctrl-C stops nginx and the embedded PostgreSQL.'],
        'the README shows the banner build/run prints (foreground: with the Ctrl-C line)');

    ($rc, $out) = run_in($s, {}, 'status');
    is($rc, 0, 'status exits 0 while running');
    my @bad = grep { !/^[A-Z][A-Z0-9_]*=\S+$/ } split /\n/, $out;
    is_deeply(\@bad, [], 'every status line is KEY=value') or diag $out;
    my $st = eval_status($s);
    is($st->{rc}, 0, 'eval "$(build/run status)" succeeds');
    is($st->{STATUS}, 'running', 'STATUS=running');
    is($st->{NGINX_PID}, slurp("$s->{area}/run/nginx.pid") =~ s/\s+//gr, 'NGINX_PID: the nginx master');
    ok(alive($st->{NGINX_PID}), '...which is alive');
    is($st->{API_URL}, "http://127.0.0.1:$s->{port}/api/", 'API_URL');
    is($st->{POSTGRES_PID}, postmaster_pid($s), 'POSTGRES_PID: the embedded postmaster');
    ok(alive($st->{POSTGRES_PID}), '...which is alive');
    $s->{url} = slurp("$s->{area}/run/database_url") =~ s/\s+//gr;
    is($st->{DATABASE_URL}, $s->{url}, 'DATABASE_URL: the database in use');
    my ($prc, $pout) = psql_as(undef, '-d', $s->{url});
    is($prc, 0, 'psql "$DATABASE_URL" connects') or diag $pout;

    my $r = $http->get("http://127.0.0.1:$s->{port}/api/");
    is($r->{status}, 200, 'GET /api/: 200');
    $r = $http->get("http://127.0.0.1:$s->{port}/static/hello.txt");
    is($r->{status}, 200, 'GET /static/hello.txt: 200');
    is($r->{content}, slurp("$ROOT/nginx-conf/static/hello.txt"), '...the shipped file');
};

# The key file the running config names (music_django_secret_key_file), and its text.
sub conf_secret {
    my ($s) = @_;
    my ($f) = slurp("$s->{area}/run/conf/nginx.conf") =~ /^\s*music_django_secret_key_file\s+(\S+);/m;
    return ($f, defined $f ? slurp($f) : undef);
}

subtest 'a Django SECRET_KEY generated on the first start, 0600; /api-auth/login/ served' => sub {
    plan skip_all => 'no running stack' unless $s->{url};
    my $kept = "$s->{area}/django_secret_key";
    ok(-f $kept, 'the key was generated in the build area') or return;
    my @st = stat $kept;
    is(sprintf('%04o', $st[2] & 07777), '0600', 'the key file is 0600');
    is($st[4], $>, 'owned by the user that ran build/run (the master), not the workers');
    like(slurp($kept), qr/^[a-z0-9!@#\$%^&*(\-_=+)]{50}\n\z/, '50 characters of get_random_secret_key()\'s alphabet');
    my ($f, $key) = conf_secret($s);
    is($f, $kept, 'the config\'s music_django_secret_key_file names it');
    $s->{key} = $key;
    my $bare = $key =~ s/\n\z//r;
    ok(index(slurp("$s->{area}/run/conf/nginx.conf"), $bare) < 0, 'the key itself is not in nginx.conf');

    my $r = $http->get("http://127.0.0.1:$s->{port}/api-auth/login/");
    is($r->{status}, 200, 'GET /api-auth/login/: 200');
    like($r->{content}, qr/<form[^>]+method="post"/i, '...a login form');
    like($r->{content}, qr/name="csrfmiddlewaretoken"/, '...with its CSRF token');
    like($r->{headers}{'set-cookie'} // '', qr/csrftoken=/, '...and the csrftoken cookie');
};

# What a local user other than the server's may do with the embedded cluster.
sub check_pg_closed {
    my ($s, $what) = @_;
    my $sock = "$s->{area}/pgdata.sock";
    my $mode = (stat $sock)[2] & 07777;
    is($mode & 077, 0, sprintf('%s: the socket directory is %04o: no access for group or others', $what, $mode));
    my ($prc, $pout) = psql_as('nobody', '-h', $sock, '-p', $s->{pg_port}, '-U', 'postgres');
    isnt($prc, 0, "$what: user nobody, socket, -U postgres: refused") or diag $pout;
    ($prc, $pout) = psql_as('nobody', '-h', '127.0.0.1', '-p', $s->{pg_port}, '-U', 'postgres');
    isnt($prc, 0, "$what: user nobody, TCP, -U postgres without the password: refused") or diag $pout;
    like($pout, qr/password/, "$what: ...for want of the password") or diag $pout;
    ($prc, $pout) = psql_as('nobody', '-d', $s->{url});
    is($prc, 0, "$what: user nobody with the password (DATABASE_URL): admitted") or diag $pout;
    ($prc, $pout) = psql_as(undef, '-h', $sock, '-p', $s->{pg_port}, '-U', 'postgres');
    is($prc, 0, "$what: root on the socket as postgres (peer): admitted") or diag $pout;
    my @trust = grep { /^\s*[^#\s].*\btrust\s*$/ } split /\n/, slurp("$s->{area}/pgdata/pg_hba.conf");
    is_deeply(\@trust, [], "$what: no trust line in pg_hba.conf");
}

subtest 'the embedded PostgreSQL\'s superuser needs its password (other local users)' => sub {
    plan skip_all => 'needs root (runuser -u nobody)' unless $IS_ROOT;
    plan skip_all => 'no running stack' unless $s->{url};
    check_pg_closed($s, 'fresh cluster');

    # a cluster that an older build/pg made: trust for local connections, a 0755 socket dir
    ($rc, $out) = run_in($s, {}, 'stop');
    is($rc, 0, 'stop') or diag $out;
    my $hba = "$s->{area}/pgdata/pg_hba.conf";
    my $old = "local all all trust\nhost all all 127.0.0.1/32 trust\n" . slurp($hba);
    open my $fh, '>', $hba or die $!; print $fh $old; close $fh;
    chmod 0755, "$s->{area}/pgdata.sock";
    ($rc, $out) = run_in($s, {}, 'start');
    is($rc, 0, 'start again on the older cluster') or return diag $out;
    check_pg_closed($s, 'older cluster after a start');
};

subtest 'stop with DATABASE_URL exported stops the PostgreSQL that start started' => sub {
    my ($nginx, $pg) = (slurp("$s->{area}/run/nginx.pid") =~ s/\s+//gr, postmaster_pid($s));
    ok(alive($nginx) && alive($pg), 'running before stop') or return;
    ($rc, $out) = run_in($s, { DATABASE_URL => $s->{url} }, 'stop');
    is($rc, 0, 'DATABASE_URL=... build/run stop: exit 0') or diag $out;
    ok(gone($nginx), "nginx (pid $nginx) is gone");
    ok(gone($pg), "PostgreSQL (pid $pg) is gone");
    ok(!port_open($s->{pg_port}), "nothing listens on the PostgreSQL port $s->{pg_port}");
    ($rc, $out) = run_in($s, {}, 'status');
    is($out, "STATUS=stopped\n", 'status: STATUS=stopped');
};

subtest 'the key is kept across restarts; DJANGO_SECRET_KEY and DJANGO_SECRET_KEY_FILE win' => sub {
    plan skip_all => 'no key from the first start' unless $s->{key};
    ($rc, $out) = run_in($s, {}, 'start');
    is($rc, 0, 'start again') or return diag $out;
    is((conf_secret($s))[1], $s->{key}, 'the same key as on the first start');
    unlike($out, qr/generated Django's SECRET_KEY/, 'nothing generated this time');
    ($rc, $out) = run_in($s, {}, 'stop');

    my $given = 'given-secret-key $&|"\\ with every odd character';
    ($rc, $out) = run_in($s, { DJANGO_SECRET_KEY => $given }, 'start');
    is($rc, 0, 'start with DJANGO_SECRET_KEY') or return diag $out;
    my ($f, $key) = conf_secret($s);
    is($key, "$given\n", 'the config reads DJANGO_SECRET_KEY\'s value');
    is(sprintf('%04o', (stat $f)[2] & 07777), '0600', "its file ($f) is 0600");
    is(slurp("$s->{area}/django_secret_key"), $s->{key}, 'the kept key is left as it was');
    is($http->get("http://127.0.0.1:$s->{port}/api-auth/login/")->{status}, 200, 'GET /api-auth/login/: 200');
    ($rc, $out) = run_in($s, {}, 'stop');

    my $file = "$s->{area}/my-secret";
    open my $fh, '>', $file or die $!; print $fh "from-a-file\n"; close $fh;
    chmod 0600, $file;
    ($rc, $out) = run_in($s, { DJANGO_SECRET_KEY_FILE => $file }, 'start');
    is($rc, 0, 'start with DJANGO_SECRET_KEY_FILE') or return diag $out;
    is((conf_secret($s))[0], $file, 'the config names that file');
    ($rc, $out) = run_in($s, {}, 'stop');
    ($rc, $out) = run_in($s, { DJANGO_SECRET_KEY_FILE => "$s->{area}/no-such-file" }, 'start');
    isnt($rc, 0, 'DJANGO_SECRET_KEY_FILE naming no file: start fails');
    like($out, qr/DJANGO_SECRET_KEY_FILE .*no-such-file is not a readable file/, '...and says why') or diag $out;
};

subtest 'MUSIC_AUTH_LISTEN=1: the triggers installed, music_auth_listen on, a password change seen at once' => sub {
    ($rc, $out) = run_in($s, { MUSIC_AUTH_LISTEN => 1 }, 'start');
    is($rc, 0, 'start with MUSIC_AUTH_LISTEN=1') or return diag $out;
    like(slurp("$s->{area}/run/conf/nginx.conf"), qr/^\s*music_auth_listen on;$/m, 'the config has music_auth_listen on');
    my $sql = sub {
        my ($q) = @_;
        my ($qrc, $qout) = run_env({ PGCONNECT_TIMEOUT => 5 }, $PSQL, '-X', '-q', '-A', '-t', '-w', '-d', $s->{url}, '-c', $q);
        is($qrc, 0, "psql: $q") or diag $qout;
        return $qout =~ s/\s+$//r;
    };
    is($sql->(q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ngx_music_auth%' AND NOT tgisinternal}) > 0, 1,
        'the auth triggers are in the database');
    my ($user, $pass) = ($s->{env}{ADMIN_USER} // 'admin', $s->{env}{ADMIN_PASSWORD} // 'admin1234');
    my $url = "http://127.0.0.1:$s->{port}/api/musics/";
    my %auth = (headers => { Authorization => 'Basic ' . MIME::Base64::encode_base64("$user:$pass", '') });
    is($http->get($url, \%auth)->{status}, 200, 'Basic GET: 200 (and cached)');
    my $hash = $sql->("SELECT password FROM auth_user WHERE username = '$user'");
    $sql->("UPDATE auth_user SET password = 'pbkdf2_sha256\$1\$x\$y' WHERE username = '$user'");
    my ($t0, $status) = (Time::HiRes::time(), 0);
    while (Time::HiRes::time() - $t0 < 3) {
        $status = $http->get($url, \%auth)->{status};
        last if $status == 403;
        Time::HiRes::sleep(0.01);
    }
    my $took = Time::HiRes::time() - $t0;
    is($status, 403, 'the old password is refused after the change');
    ok($took < 1, sprintf('...within 1 s, not the 5 s cache bound (%.0f ms)', $took * 1000));
    $sql->("UPDATE auth_user SET password = '$hash' WHERE username = '$user'");
    ($rc, $out) = run_in($s, {}, 'stop');
    ($rc, $out) = run_in($s, {}, 'start');
    is($rc, 0, 'start again without it') or return diag $out;
    unlike(slurp("$s->{area}/run/conf/nginx.conf"), qr/music_auth_listen/, 'no music_auth_listen then');
    is($http->get($url, \%auth)->{status}, 200, 'the password restored: 200');
    ($rc, $out) = run_in($s, {}, 'stop');
};

################################################################################ 5. failed start

subtest 'a start that fails (nginx cannot bind) says so and stops its PostgreSQL' => sub {
    my $f = new_stack();
    my $taken = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => $f->{port}, ReuseAddr => 1)
        or die "cannot hold 127.0.0.1:$f->{port}: $!";
    ($rc, $out) = run_in($f, {}, 'start');
    close $taken;
    isnt($rc, 0, 'build/run start exits non-zero');
    like($out, qr/bind\(\)/, 'nginx\'s own message is shown') or diag $out;
    like($out, qr/^\[run\] error: /m, 'a "[run] error" summary') or diag $out;
    ok(-e "$f->{area}/pgdata/PG_VERSION", 'the embedded PostgreSQL had been started (initdb done)');
    ok(!alive(postmaster_pid($f)), 'no PostgreSQL left running');
    ok(!port_open($f->{pg_port}), "nothing listens on the PostgreSQL port $f->{pg_port}");
    unlike($out, qr/ngx-music is running/, 'no banner');
};

################################################################################ 6. Ctrl-C

subtest 'Ctrl-C before the banner stops the PostgreSQL already started' => sub {
    my $c = new_stack();
    my $outf = "$c->{area}/foreground.out";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        setpgrp(0, 0);    # its own process group, as a terminal's foreground job
        $ENV{$_} = $c->{env}{$_} for grep { defined $c->{env}{$_} } keys %{ $c->{env} };
        delete $ENV{DATABASE_URL};
        open STDIN, '<', '/dev/null' or die $!;
        open STDOUT, '>', $outf or die $!;
        open STDERR, '>&', \*STDOUT or die $!;
        exec "$ROOT/build/run" or POSIX::_exit(127);
    }
    # as soon as build/pg has started the server (pg_ctl has returned: Ctrl-C while pg_ctl
    # still waits is pg_ctl's to handle), with the bootstrap, nginx and the API check to come
    my $t0 = time;
    until (slurp($outf) =~ /^\[pg\] PostgreSQL on 127\.0\.0\.1:/m || time - $t0 > 120 || waitpid($pid, WNOHANG) > 0) {
        sleep 0.02;
    }
    my $pg = postmaster_pid($c);
    ok(alive($pg), "PostgreSQL started (pid " . ($pg // 'none') . ')') or return diag slurp($outf);
    kill 'INT', -$pid;
    waitpid $pid, 0;
    my $code = $? >> 8;
    my $text = slurp($outf);
    unlike($text, qr/ngx-music is running/, 'interrupted before the banner') or return;
    isnt($code, 0, "build/run exits non-zero ($code)");
    like($text, qr/^\[run\] error: interrupted/m, 'it says it was interrupted') or diag $text;
    ok(gone($pg), "PostgreSQL (pid $pg) is gone");
    ok(!port_open($c->{pg_port}), 'nothing listens on the PostgreSQL port');
    ok(!alive(slurp("$c->{area}/run/nginx.pid") =~ s/\s+//gr), 'no nginx left running');
};

################################################################################ 7. private checkout

subtest 'a checkout only root can enter: a build area under /var/tmp, static files served' => sub {
    plan skip_all => 'needs root (the checkout is in a 0700 directory of root\'s)' unless $IS_ROOT;
    my $home = tempdir('ngx-music-home.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0700, $home;
    my $co = "$home/ngx";
    mkdir $co or die $!;
    # the checkout's files, the module's cargo target shared: no rebuild, as cargo builds
    # against the same nginx tree (NGINX_BUILD_DIR as in this checkout, .cargo/config.toml's)
    system('cp', '-a', (map { "$ROOT/$_" } qw(Cargo.toml Cargo.lock src build nginx-conf .cargo)), $co) == 0
        or die 'cp failed';
    symlink "$ROOT/target", "$co/target" or die $!;
    my %env = (NGX_MUSIC_BUILD_AREA => undef, NGX_MUSIC_PORT => t::Nginx::free_port(),
        NGX_MUSIC_PG_PORT => t::Nginx::free_port(), NGX_MUSIC_WORKERS => 1, DATABASE_URL => undef,
        NGINX_BUILD_DIR => $ENV{NGINX_BUILD_DIR} // "$ROOT/.build/nginx-src/objs");
    my $p = { root => $co, env => \%env, port => $env{NGX_MUSIC_PORT}, pg_port => $env{NGX_MUSIC_PG_PORT} };

    ($rc, $out) = run_in($p, {}, 'status');
    my ($area) = $out =~ m{build area (/var/tmp/ngx-music-[0-9a-f]+)} or return fail('build/run says where its build area is') || diag $out;
    pass("build/run says where its build area is: $area");
    $p->{area} = $area;
    push @cleanup, $p;
    my @st = stat $area;
    ok(-d $area && !-l $area && $st[4] == 0 && ($st[2] & 07777) == 0755, 'a directory of root\'s, mode 0755');
    is(system('runuser', '-u', 'nobody', '--', 'test', '-x', $area), 0, 'user nobody can enter it');
    my ($rc2, $out2) = run_in($p, {}, 'status');
    like($out2, qr/build area \Q$area\E /, 'the same one next time');

    symlink "$AREA0/nginx", "$area/nginx" or die $!;
    symlink "$AREA0/nginx-src", "$area/nginx-src" or die $!;
    ($rc, $out) = run_in($p, {}, 'start');
    is($rc, 0, 'build/run start in the private checkout') or diag $out;
    like($out, qr/logs\s+\Q$area\E\/run\/logs\//, 'the banner\'s logs are in that build area');
    my $r = $http->get("http://127.0.0.1:$p->{port}/api/");
    is($r->{status}, 200, 'GET /api/: 200');
    $r = $http->get("http://127.0.0.1:$p->{port}/static/hello.txt");
    is($r->{status}, 200, 'GET /static/hello.txt: 200 (read by the workers, user nobody)');
    is($r->{content}, slurp("$ROOT/nginx-conf/static/hello.txt"), '...the shipped file');
    my $pg = postmaster_pid($p);
    ok(alive($pg), 'its PostgreSQL runs');
    ($rc, $out) = run_in($p, {}, 'stop');
    is($rc, 0, 'build/run stop');
    ok(gone($pg), 'its PostgreSQL is gone');
};

# Whatever a failed check left running, stopped by its pid files; the /var/tmp area removed.
END {
    for my $x (@cleanup) {
        next unless $x->{area} && -d $x->{area};
        run_env({ %{ $x->{env} }, NGX_MUSIC_BUILD_AREA => $x->{area} }, "$x->{root}/build/run", 'stop');
        run_env({}, "$ROOT/build/pg", 'stop', "$x->{area}/pgdata") if alive(postmaster_pid($x));
        remove_tree($x->{area}) if $x->{area} =~ m{^/var/tmp/ngx-music-};
    }
}

done_testing;
