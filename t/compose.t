# The container deployment (Dockerfile, .dockerignore, docker-compose.yml, nginx-conf/docker/,
# nginx-conf/lb/): everything that can be proved without a Docker engine.
#
#   1. the Dockerfile's build stage runs exactly build/run's build step (build/nginx, then
#      cargo build --release), the runtime stage keeps nginx's compiled-in prefix and the
#      module where build/lib.sh says, runs as a non-root user, has a HEALTHCHECK;
#   2. the load balancer's template has the original's weights 4:6 and passive failover; no
#      "user" directive in any template;
#   3. the entrypoint renders both (the app's is the shipped nginx-conf/nginx.conf, with the
#      container's differences only) from sample environments, quotes and backslashes in the
#      password included, into configs that the project's own nginx accepts (nginx -t, with the
#      module);
#   4. docker-compose.yml as docker-compose (v1, from PyPI) parses and validates it: skipped,
#      with the reason, when docker-compose is not installed (env DOCKER_COMPOSE, PATH, or
#      .build/docker-compose/bin/docker-compose);
#   5. with the test PostgreSQL of build/test (TEST_NGINX_PG_URL): the entrypoint run for real,
#      outside a container: two apps bootstrapping a fresh database (one from PG* variables,
#      one from DATABASE_URL), a restart that keeps the data, and the load balancer in front
#      of them (weights 4:6 measured, failover, /static, /nginx/status, the PV/UV log, and the
#      live PV/UV of /nginx/stats counted by the balancer: every request, whichever app served it);
#   6. X-Real-IP: the app as the image renders it, a client on this machine's non-loopback
#      address playing a LAN client or the balancer: believed only from the configured
#      balancer (access log, PV/UV), and never granting the brute-force limit's exemption.
#
#   prove -I t/lib -I . t/compose.t
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use File::Spec;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use t::Music ();
use t::Nginx ();

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $ENTRYPOINT = "$ROOT/nginx-conf/docker/entrypoint";
# where build/lib.sh (so the entrypoint) finds them
my $NGINX = ($ENV{NGX_MUSIC_BUILD_AREA} // "$ROOT/.build") . '/nginx/sbin/nginx';
my $MODULE = "$ROOT/target/release/libngx_music.so";

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    my $s = <$fh>;
    return $s;
}

sub spew {
    my ($f, $s) = @_;
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh $s;
    close $fh or die "$f: $!";
}

# Runs a command (list form, no shell), stdin from /dev/null, optional environment changes
# (undef deletes a variable); returns (exit code, stdout+stderr).
sub run {
    my ($env, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        open(STDIN, '<', '/dev/null');
        for my $k (keys %{ $env || {} }) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k} } else { delete $ENV{$k} }
        }
        exec { $cmd[0] } @cmd or do { print "exec $cmd[0]: $!\n"; POSIX::_exit(127) };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# The variables the entrypoint reads: none may leak in from the caller (build/test exports some).
my @ENTRYPOINT_VARS = qw(DATABASE_URL PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE
    PGPASSFILE ADMIN_USER ADMIN_PASSWORD ADMIN_EMAIL LOG_DIR DB_WAIT_SECONDS NGX_MUSIC_PORT
    NGX_MUSIC_RUN_DIR NGX_MUSIC_WORKERS NGX_MUSIC_ERROR_LOG_LEVEL NGX_MUSIC_REAL_IP_FROM
    LB_APP1 LB_APP2 LB_RESOLVER PSQL DJANGO_SECRET_KEY DJANGO_SECRET_KEY_FILE NGX_MUSIC_DATA_DIR);

sub entrypoint_env {
    my (%set) = @_;
    my %env = map { $_ => undef } @ENTRYPOINT_VARS;
    return { %env, %set };
}

# Non-comment lines of an nginx config, trimmed, blank ones dropped.
sub conf_lines {
    my ($text) = @_;
    my @out;
    for my $l (split /\n/, $text) {
        next if $l =~ /^\s*#/;
        $l =~ s/^\s+|\s+$//g;
        push @out, $l if length $l;
    }
    return @out;
}

sub log_format_main {
    my ($text) = @_;
    my ($fmt) = join("\n", conf_lines($text)) =~ /(log_format\s+main\s.*?;)/s;
    return defined $fmt ? join(' ', split /\s+/, $fmt) : undef;
}

############################################################################ 1. Dockerfile

# Instructions as [KEYWORD, arguments], continuation lines joined, comment lines dropped (as
# Docker does, also inside a continued instruction).
sub dockerfile {
    my ($file) = @_;
    my (@ins, $cur);
    for my $line (split /\n/, slurp($file)) {
        next if $line =~ /^\s*#/;
        next if !defined $cur && $line =~ /^\s*$/;
        $cur = defined $cur ? "$cur $line" : $line;
        next if $cur =~ s/\\\s*$//;
        $cur =~ s/^\s+//;
        my ($kw, $args) = $cur =~ /^(\S+)\s*(.*?)\s*$/;
        push @ins, [uc $kw, $args];
        undef $cur;
    }
    return @ins;
}

# Each shell command of a RUN (split at && ; ||), whitespace-normalized, "./" dropped.
sub shell_commands {
    my ($run) = @_;
    my @c;
    for my $c (split /\s*(?:&&|\|\||;)\s*/, $run) {
        $c =~ s/^\s+|\s+$//g;
        $c =~ s/\s+/ /g;
        $c =~ s{^\./}{};
        push @c, $c if length $c;
    }
    return @c;
}

# build/run's build step, as the commands it runs from the checkout's root.
sub serve_features {
    my ($words) = slurp("$ROOT/build/lib.sh") =~ /^SERVE_FEATURES=\((.*)\)$/m;
    return $words // '';
}

sub build_run_step {
    my ($text) = @_;
    my ($body) = $text =~ /^build\(\)\s*\{\n(.*?)^\}/ms or return;
    my @c;
    for my $l (split /\n/, $body) {
        $l =~ s/^\s+|\s+$//g;
        next unless length $l;
        $l =~ s/^\((.*)\)$/$1/;
        $l =~ s/"\$ROOT\/([^"]*)"/$1/g;
        $l =~ s/^cd "\$ROOT" && //;
        $l =~ s/ --quiet\b//;
        # the serving build's features, as build/lib.sh names them
        $l =~ s/"\$\{SERVE_FEATURES\[@\]\}"/serve_features()/e;
        push @c, $l;
    }
    return @c;
}

subtest 'Dockerfile: the build stage is build/run\'s build step' => sub {
    my @ins = dockerfile("$ROOT/Dockerfile");
    my @stages;
    for my $i (@ins) {
        push @stages, { from => $i->[1], ins => [] } if $i->[0] eq 'FROM';
        push @{ $stages[-1]{ins} }, $i if @stages && $i->[0] ne 'FROM';
    }
    is(scalar @stages, 2, 'two stages: builder and runtime');
    my ($builder, $runtime) = @stages;

    my ($rust_tag, $alias) = $builder->{from} =~ /^rust:(\S+)\s+AS\s+(\S+)$/i;
    ok(defined $rust_tag, "builder FROM an official rust image: $builder->{from}");
    my ($maj, $min) = ($rust_tag // '') =~ /^(\d+)\.(\d+)\.\d+-bookworm(?:\@sha256:[0-9a-f]{64})?$/;
    ok(defined $maj, "the rust image is pinned to a full version on bookworm ($rust_tag)");
    my ($need_maj, $need_min) = slurp("$ROOT/Cargo.toml") =~ /^rust-version\s*=\s*"(\d+)\.(\d+)/m;
    ok(defined $maj && ($maj > $need_maj || ($maj == $need_maj && $min >= $need_min)),
        "rust $maj.$min >= Cargo.toml's rust-version $need_maj.$need_min");

    my @want = build_run_step(slurp("$ROOT/build/run"));
    is_deeply(\@want, ['build/nginx', 'cargo build --release --features mimalloc'],
        'build/run builds with build/nginx, then cargo build --release with the serving features')
        or diag explain \@want;
    my @runs = map { $_->[1] } grep { $_->[0] eq 'RUN' } @{ $builder->{ins} };
    my @got = grep { m{^(?:build/|cargo )} } map { shell_commands($_) } @runs;
    is_deeply(\@got, \@want, 'the builder runs exactly those build commands, in that order')
        or diag explain \@got;
    my @own = grep { /auto\/configure|\bmake\b|--with-|\bcc\b|\bgcc\b/ } @runs;
    is_deeply(\@own, [], 'the Dockerfile builds nothing itself (no configure, make, compiler)');
    my ($bworkdir) = map { $_->[1] } grep { $_->[0] eq 'WORKDIR' } @{ $builder->{ins} };
    ok(defined $bworkdir && $bworkdir =~ m{^/}, "builder WORKDIR is absolute ($bworkdir)");

    # build/lib.sh: where the nginx prefix (compiled into the binary) and the module are
    my $lib = slurp("$ROOT/build/lib.sh");
    like($lib, qr/^BUILD_AREA="\$\{NGX_MUSIC_BUILD_AREA:-\$ROOT\/\.build\}"/m, 'lib.sh: BUILD_AREA is $ROOT/.build');
    like($lib, qr/^NGINX_PREFIX="\$BUILD_AREA\/nginx"/m, 'lib.sh: the nginx prefix is $BUILD_AREA/nginx');
    like($lib, qr/^MODULE_SO="\$ROOT\/target\/release\/libngx_music\.so"/m, 'lib.sh: the module is target/release/libngx_music.so');

    # runtime
    like($runtime->{from}, qr/^debian:(?:12\.\d+-slim|bookworm-\d{8}-slim)(?:\@sha256:[0-9a-f]{64})?$/,
        "runtime FROM a pinned debian bookworm slim ($runtime->{from})");
    my $rworkdir;
    my %copied;    # absolute destination => source (from the builder or the context)
    for my $i (@{ $runtime->{ins} }) {
        $rworkdir = $i->[1] if $i->[0] eq 'WORKDIR';
        next unless $i->[0] eq 'COPY';
        my @a = split ' ', $i->[1];
        my $from;
        $from = $1, shift @a if $a[0] =~ /^--from=(\S+)/;
        my $dest = pop @a;
        $dest = "$rworkdir/$dest" unless $dest =~ m{^/};
        for my $src (@a) {
            my $d = $dest;
            $d .= (File::Spec->splitdir($src))[-1] if $d =~ m{/$};
            $d =~ s{/+$}{};
            $copied{$d} = defined $from ? "$from:$src" : $src;
        }
    }
    is($rworkdir, $bworkdir, 'the runtime WORKDIR is the builder\'s: $ROOT is the same path in both');
    is($copied{"$bworkdir/.build/nginx"}, "$alias:$bworkdir/.build/nginx",
        'the whole nginx prefix is copied to the path compiled into the binary');
    is($copied{"$bworkdir/target/release/libngx_music.so"}, "$alias:$bworkdir/target/release/libngx_music.so",
        'the module is copied to where build/lib.sh (so the entrypoint) looks for it');
    is($copied{"$bworkdir/nginx-conf"}, 'nginx-conf', 'nginx-conf/ (templates, htpasswd, static files, entrypoint)');
    is($copied{"$bworkdir/build/bootstrap-db"}, 'build/bootstrap-db', 'build/bootstrap-db');
    is($copied{"$bworkdir/build/lib.sh"}, 'build/lib.sh', 'build/lib.sh (the entrypoint sources it)');
    is($copied{"$bworkdir/build/sql"}, 'build/sql', 'build/sql (the schema bootstrap-db applies)');

    my ($apt) = grep { /apt-get install/ } map { $_->[1] } grep { $_->[0] eq 'RUN' } @{ $runtime->{ins} };
    my %pkg = map { $_ => 1 } grep { !/^-/ } split ' ', (($apt // '') =~ /apt-get install\s+(.*?)(?:&&|$)/)[0] // '';
    for my $p (qw(libpcre2-8-0 zlib1g libssl3 postgresql-client-15 curl ca-certificates python3)) {
        ok($pkg{$p}, "runtime package $p");
    }
    like($apt // '', qr/--no-install-recommends/, 'no recommended packages');

    my @users = map { $_->[1] } grep { $_->[0] eq 'USER' } @{ $runtime->{ins} };
    ok(@users, 'the runtime stage sets USER');
    is_deeply([grep { /^(?:root|0)(?::|$)/ } @users], [], 'no USER root in the runtime stage');
    my ($ep) = map { $_->[1] } grep { $_->[0] eq 'ENTRYPOINT' } @{ $runtime->{ins} };
    is($ep, qq{["$bworkdir/nginx-conf/docker/entrypoint"]}, 'ENTRYPOINT is nginx-conf/docker/entrypoint');
    my ($hc) = map { $_->[1] } grep { $_->[0] eq 'HEALTHCHECK' } @{ $runtime->{ins} };
    like($hc // '', qr/CMD \["\Q$bworkdir\E\/nginx-conf\/docker\/entrypoint", "health"\]/, 'HEALTHCHECK: entrypoint health (GET /health/ready)');
    like(slurp($ENTRYPOINT), qr{^health\)\n\s+path=/health/ready\n(?:.*\n){0,2}\s+exec curl -fsS .*"http://127\.0\.0\.1:\$PORT\$path"}m, 'entrypoint health is curl GET /health/ready (/health/live on the balancer)');
    ok((grep { $_->[0] eq 'EXPOSE' && $_->[1] eq '8080' } @{ $runtime->{ins} }), 'EXPOSE 8080');
    ok((grep { $_->[0] eq 'ENV' && $_->[1] =~ /NGX_MUSIC_PORT=8080/ } @{ $runtime->{ins} }), 'the port is 8080, not privileged');
    ok((grep { $_->[0] eq 'ENV' && $_->[1] =~ m{NGX_MUSIC_DATA_DIR=/var/lib/ngx-music\b} } @{ $runtime->{ins} }),
        'NGX_MUSIC_DATA_DIR=/var/lib/ngx-music (the generated SECRET_KEY, a volume in docker-compose.yml)');
    my ($uid) = ($users[-1] // '') =~ /^(\d+)/;
    ok((grep { $_->[0] eq 'RUN' && $_->[1] =~ m{install -d -m 0700 -o \Q${\ ($uid // 'none')}\E -g \d+ /var/lib/ngx-music\b} } @{ $runtime->{ins} }),
        '/var/lib/ngx-music: 0700, owned by the USER the server runs as (a new volume takes both)');

    # .dockerignore: a whitelist that lets in every COPY source and keeps .build/ and target/ out
    my @ignore = grep { length && !/^#/ } map { s/^\s+|\s+$//gr } split /\n/, slurp("$ROOT/.dockerignore");
    is($ignore[0], '*', '.dockerignore starts by excluding everything (.build/, target/, log/, .git/)');
    my %allowed = map { (s{^!|/$}{}gr) => 1 } grep { /^!/ } @ignore;
    for my $src (map { $_->[1] } grep { $_->[0] eq 'COPY' && $_->[1] !~ /^--from/ } map { @{ $_->{ins} } } @stages) {
        my @a = split ' ', $src;
        pop @a;
        for my $s (@a) {
            my ($top) = $s =~ m{^([^/]+)};
            ok($allowed{$top} || $allowed{$s}, ".dockerignore lets $s into the context");
        }
    }
    ok(!$allowed{'.build'} && !$allowed{target}, '.build/ and target/ stay out of the context');
};

############################################################################ 2. templates

my $shipped = slurp("$ROOT/nginx-conf/nginx.conf");
my $lb = slurp("$ROOT/nginx-conf/lb/nginx.conf");

subtest 'the load balancer template' => sub {
    my $text = join "\n", conf_lines($lb);
    my ($name, $block) = $text =~ /^upstream\s+(\S+)\s*\{\n(.*?)^\}/ms;
    ok(defined $name, "an upstream block ($name)");
    my @servers = $block =~ /^server\s+([^;]+);/mg;
    is(scalar @servers, 2, 'two backends');
    my @weights = map { /\bweight=(\d+)/ ? $1 : 1 } @servers;
    is_deeply(\@weights, [4, 6], 'weights 4 and 6, as the original');
    is_deeply([map { (split ' ')[0] } @servers], ['@APP1@', '@APP2@'], 'backend addresses are variables (LB_APP1, LB_APP2)');
    for my $s (@servers) {
        like($s, qr/\bmax_fails=\d+/, "max_fails: $s");
        like($s, qr/\bfail_timeout=\d+s?\b/, "fail_timeout: $s");
        like($s, qr/\bresolve\b/, "resolved at run time through Docker's DNS (scaling): $s");
    }
    like($block, qr/^zone\s+\S+\s+\d+k;/m, 'a shared zone (required by resolve; one balancing state for all workers)');
    like($text, qr/^resolver\s+\@RESOLVER\@\s.*valid=\d+s/m, 'a resolver with a re-resolution interval');
    like($text, qr/^proxy_pass\s+http:\/\/\Q$name\E;/m, 'location / proxies to it');
    my ($nu) = $text =~ /^proxy_next_upstream\s+([^;]+);/m;
    is($nu, 'error timeout http_502 http_503', 'proxy_next_upstream error timeout http_502 http_503');
    like($text, qr/^proxy_set_header\s+Host\s+\$music_host;/m, 'the client\'s Host (with its port) reaches the apps');
    like($text, qr/^proxy_set_header\s+X-Real-IP\s+\$remote_addr;/m, 'X-Real-IP (the apps\' realip header)');
    like($text, qr/^location \/static \{\nalias \@STATIC\@;\n\}/m, '/static served by the balancer');
    like($text, qr/^location \/nginx\/status \{\nstub_status;\naccess_log off;\nmusic_stats_count off;\nauth_basic "NginxStatus";\nauth_basic_user_file \@CONF\@\/htpasswd;\n\}/m,
        '/nginx/status served by the balancer, behind auth_basic with the shipped htpasswd');
    # the live PV/UV: counted where every request passes, and served from there
    like($text, qr/^load_module \@MODULE\@;/m, 'the balancer loads the module (its PV/UV counters)');
    my ($zone) = $text =~ /^music_stats_zone\s+(\w+):\d+[km];/m;
    ok(defined $zone, 'a music_stats_zone in http {}');
    my ($server) = $text =~ /^server \{\n(.*)^\}/ms;
    like($server // '', qr/^listen [^\n]*\n(?:(?!location)[^\n]*\n)*music_stats_count \Q$zone\E;/m,
        'every request of the server is counted in it (music_stats_count at server level)');
    like($text, qr/^location \/nginx\/stats \{\nmusic_stats \Q$zone\E;\naccess_log off;\nmusic_stats_count off;\nauth_basic "NginxStatus";\nauth_basic_user_file \@CONF\@\/htpasswd;\n\}/m,
        '/nginx/stats served by the balancer itself (not proxied), behind the same auth_basic');
    is(log_format_main($lb), log_format_main($shipped), 'log_format main is the shipped one (PV/UV)');
    like($text, qr/^access_log\s+\@ACCESS_LOG\@\s+main;/m, 'the access log uses it');
};

subtest 'no "user root", no "user" at all' => sub {
    for my $f (qw(nginx-conf/nginx.conf nginx-conf/lb/nginx.conf)) {
        my @u = grep { /^user\s/ } conf_lines(slurp("$ROOT/$f"));
        is_deeply(\@u, [], "$f has no user directive");
    }
};

############################################################################ 3. rendered + nginx -t

my $have_nginx = -x $NGINX && -f $MODULE;
my $tmp = tempdir('ngx-music-compose.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;    # as root nginx's workers are "nobody": they read htpasswd and static files

sub nginx_t {
    my ($dir, $conf) = @_;
    return run({}, $NGINX, '-p', "$dir/", '-c', $conf, '-e', "$dir/error.log", '-t');
}

# A password with every character that needs escaping somewhere on its way: conninfo quoting
# (' \), nginx string quoting (" \), sed (| & \), the shell ($) and a template variable.
my $PW = q{p"w'x\y&z|q $HOME @DATABASE_URL@};

sub conninfo_value { my $v = shift; $v =~ s/([\\'])/\\$1/g; return "'$v'" }
sub nginx_value { my $v = shift; $v =~ s/([\\"])/\\$1/g; return $v }

subtest 'the entrypoint renders configs that nginx -t accepts' => sub {
    plan skip_all => "no nginx build or module ($NGINX, $MODULE): run build/nginx and cargo build --release"
        unless $have_nginx;

    # app from PG* variables
    my $dir = "$tmp/render-app";
    my ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, PGHOST => '127.0.0.1', PGPORT => '5433',
        PGUSER => 'music', PGPASSWORD => $PW, PGDATABASE => 'musicdb'), $ENTRYPOINT, 'render', 'app');
    is($rc, 0, 'render app (PG* variables)') or diag $out;
    like($out, qr{(?:^\[entrypoint\] .*\n)*\Q$dir\E/conf/nginx\.conf\n\z}m, 'it prints the rendered file (after its log lines, on stderr)');
    my $conf = -f "$dir/conf/nginx.conf" ? slurp("$dir/conf/nginx.conf") : '';
    my $ci = "host='127.0.0.1' port='5433' user='music' password=" . conninfo_value($PW) . " dbname='musicdb'";
    my ($db_line) = grep { /^music_database / } conf_lines($conf);
    is($db_line, 'music_database "' . nginx_value($ci) . '";', 'music_database: the conninfo, quoted for libpq and nginx');
    is_deeply([grep { /\@[A-Z][A-Z0-9_]*\@/ && !/^music_database / } conf_lines($conf)], [], 'no @VAR@ left');
    # the shipped template, filled with the same values, container differences applied
    my %val = (MODULE => $MODULE, WORKERS => 'auto', ERROR_LOG_LEVEL => 'warn', RUN => $dir,
        CONF => "$dir/conf", STATIC => "$dir/static", LISTEN => '8080',
        SECRET_KEY_FILE => "$dir/django_secret_key", DATABASE_URL => nginx_value($ci));
    my @want;
    for my $l (conf_lines($shipped)) {
        $l =~ s{\@LOGS\@/error\.log}{stderr};
        $l =~ s{\@LOGS\@/access\.log}{/dev/stdout};
        $l =~ s{\@([A-Z_]+)\@}{$val{$1} // "\@$1\@"}ge;
        push @want, $l;
        push @want, "include $dir/conf/realip.conf;" if $l =~ /^http\s*\{$/;
        push @want, "include $dir/conf/database.conf;" if $l =~ /^music_database\s/;
    }
    is_deeply([conf_lines($conf)], \@want, 'the rendered config is the shipped nginx-conf/nginx.conf, container differences only')
        or diag $conf;
    like($conf, qr/^load_module \Q$MODULE\E;$/m, 'load_module: the module of build/lib.sh');
    like($conf, qr/^error_log stderr warn;$/m, 'no LOG_DIR: error log to stderr');
    like($conf, qr/^\s*access_log\s+\/dev\/stdout\s+main;$/m, 'no LOG_DIR: access log to stdout');
    like($conf, qr/^\s*listen 8080 default_server;$/m, 'listens on 8080, all addresses');
    like($conf, qr/^pid \Q$dir\E\/nginx\.pid;$/m, 'pid file in the run directory');
    is(sprintf('%04o', (stat "$dir/conf/nginx.conf")[2] & 07777), '0600', 'the rendered file (with the password) is 0600');
    unlike(slurp("$dir/conf/realip.conf"), qr/set_real_ip_from|real_ip_header/,
        'realip.conf: by default no peer is trusted for X-Real-IP');
    my ($ns) = (-r '/etc/resolv.conf' ? slurp('/etc/resolv.conf') : '') =~ /^nameserver\s+(\S+)/m;
    is(slurp("$dir/conf/database.conf") =~ s/^#.*\n//mgr,
        defined $ns ? "resolver " . ($ns =~ /:/ ? "[$ns]" : $ns) . " valid=10s;\n" : '',
        'database.conf: the database names through the first nameserver (a recreated db is found again), no read server');
    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts the app config (module loaded, conninfo parsed)') or diag $out;
    like($out, qr/test is successful/, 'nginx -t: test is successful');

    # app from DATABASE_URL, logs to LOG_DIR, no trusted proxy
    $dir = "$tmp/render-app-url";
    ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, DATABASE_URL => 'postgres://u:p%22w@127.0.0.1:5432/db',
        PGHOST => 'ignored.invalid', LOG_DIR => "$tmp/render-logs", NGX_MUSIC_PORT => '9090',
        NGX_MUSIC_WORKERS => '3', NGX_MUSIC_REAL_IP_FROM => '', DB_RESOLVER => '127.0.0.53',
        DATABASE_READ_URL => 'postgres://r:p%22w@127.0.0.1:5433/db?target_session_attrs=prefer-standby',
        MUSIC_AUTH_LISTEN => 1),
        $ENTRYPOINT, 'render', 'app');
    is($rc, 0, 'render app (DATABASE_URL, LOG_DIR)') or diag $out;
    $conf = slurp("$dir/conf/nginx.conf");
    like($conf, qr{^\s*music_database "postgres://u:p%22w\@127\.0\.0\.1:5432/db";$}m, 'DATABASE_URL wins over PG*');
    like($conf, qr/^error_log \Q$tmp\E\/render-logs\/error\.log warn;$/m, 'LOG_DIR: error.log there');
    like($conf, qr/^\s*access_log\s+\Q$tmp\E\/render-logs\/access\.log\s+main;$/m, 'LOG_DIR: access.log there');
    like($conf, qr/^\s*listen 9090 default_server;$/m, 'NGX_MUSIC_PORT');
    like($conf, qr/^worker_processes 3;$/m, 'NGX_MUSIC_WORKERS');
    unlike(slurp("$dir/conf/realip.conf"), qr/set_real_ip_from|real_ip_header/, 'NGX_MUSIC_REAL_IP_FROM="" trusts no proxy');
    is(slurp("$dir/conf/database.conf") =~ s/^#.*\n//mgr,
        "resolver 127.0.0.53 valid=10s;\nmusic_read_database \"postgres://r:p%22w\@127.0.0.1:5433/db?target_session_attrs=prefer-standby\";\nmusic_auth_listen on;\n",
        'database.conf: DB_RESOLVER, DATABASE_READ_URL (quoted for nginx), MUSIC_AUTH_LISTEN=1');
    is(sprintf('%04o', (stat "$dir/conf/database.conf")[2] & 07777), '0600', 'database.conf (a password in it) is 0600');
    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts it') or diag $out;

    # one trusted proxy, as docker-compose.yml gives the balancer's address
    $dir = "$tmp/render-app-lb";
    ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, PGHOST => '127.0.0.1',
        NGX_MUSIC_REAL_IP_FROM => '172.31.250.10 fd00::10', DB_RESOLVER => 'off'), $ENTRYPOINT, 'render', 'app');
    is($rc, 0, 'render app (NGX_MUSIC_REAL_IP_FROM: two addresses)') or diag $out;
    is(slurp("$dir/conf/realip.conf") =~ s/^#.*\n//mgr,
        "set_real_ip_from 172.31.250.10;\nset_real_ip_from fd00::10;\nreal_ip_header X-Real-IP;\n",
        'realip.conf: exactly those peers, X-Real-IP');
    is(slurp("$dir/conf/database.conf") =~ s/^#.*\n//mgr, '', 'DB_RESOLVER=off: no resolver');
    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts it') or diag $out;

    # the load balancer as docker-compose.yml runs it: service names, Docker's resolver
    $dir = "$tmp/render-lb";
    ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, LB_RESOLVER => '127.0.0.11',
        LOG_DIR => "$tmp/render-lb-logs"), $ENTRYPOINT, 'render', 'lb');
    is($rc, 0, 'render lb (defaults: app1:8080, app2:8080)') or diag $out;
    $conf = slurp("$dir/conf/nginx.conf");
    like($conf, qr/^\s*server app1:8080 weight=4 .*resolve;$/m, 'app1:8080, weight 4');
    like($conf, qr/^\s*server app2:8080 weight=6 .*resolve;$/m, 'app2:8080, weight 6');
    like($conf, qr/^\s*resolver 127\.0\.0\.11 /m, 'resolver 127.0.0.11');
    like($conf, qr/^load_module \Q$MODULE\E;$/m, 'the balancer loads the module of build/lib.sh (PV/UV)');
    is_deeply([grep { /\@[A-Z][A-Z0-9_]*\@/ } conf_lines($conf)], [], 'no @VAR@ left');
    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts the balancer with service names (looked up at run time only)') or diag $out;

    # the load balancer with loopback backends (as part 5 runs it)
    $dir = "$tmp/render-lb-local";
    ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, LB_APP1 => '127.0.0.1:18001',
        LB_APP2 => '127.0.0.1:18002', LB_RESOLVER => '127.0.0.1'), $ENTRYPOINT, 'render', 'lb');
    is($rc, 0, 'render lb (loopback backends)') or diag $out;
    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts it') or diag $out;

    # refusals, each with a message
    my @bad = (
        [{ PGHOST => undef }, qr/no database: set DATABASE_URL/, 'no database at all'],
        [{ PGPASSWORD => "a\nb" }, qr/control character/, 'a newline in a value'],
        [{ NGX_MUSIC_PORT => '80; user root' }, qr/NGX_MUSIC_PORT must be a port number/, 'a port that is not one'],
        [{ NGX_MUSIC_WORKERS => 'auto; user root' }, qr/NGX_MUSIC_WORKERS must be/, 'bad worker count'],
        [{ NGX_MUSIC_REAL_IP_FROM => '10.0.0.0/8; user root' }, qr/is not an address or CIDR/, 'bad trusted proxy'],
        [{ LOG_DIR => '/proc/no-such-dir' }, qr/LOG_DIR .* is not a directory writable/, 'an unwritable LOG_DIR'],
    );
    for my $b (@bad) {
        my ($set, $re, $what) = @$b;
        ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => "$tmp/render-bad", PGHOST => '127.0.0.1',
            PGUSER => 'u', %$set), $ENTRYPOINT, 'render', 'app');
        isnt($rc, 0, "refused: $what");
        like($out, $re, "  with a message: $what");
    }
    ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => "$tmp/render-bad", LB_APP1 => 'app1:8080; user root',
        LB_RESOLVER => '127.0.0.11'), $ENTRYPOINT, 'render', 'lb');
    isnt($rc, 0, 'refused: a backend that is not host:port');
};

subtest 'the entrypoint\'s Django SECRET_KEY: generated once and kept, or DJANGO_SECRET_KEY(_FILE)' => sub {
    plan skip_all => 'no nginx build or module' unless $have_nginx;
    my $data = "$tmp/secret-data";
    my $key_of = sub {
        my ($dir) = @_;
        my ($f) = slurp("$dir/conf/nginx.conf") =~ /^\s*music_django_secret_key_file\s+(\S+);/m;
        return ($f, defined $f ? slurp($f) : undef);
    };
    my %base = (PGHOST => '127.0.0.1', NGX_MUSIC_DATA_DIR => $data);
    my ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-a"), $ENTRYPOINT, 'render', 'app');
    is($rc, 0, 'render app with no key given') or return diag $out;
    like($out, qr/generated Django's SECRET_KEY in \Q$data\E\/django_secret_key/, 'it says it generated one, and where');
    my ($f, $key) = $key_of->("$tmp/secret-a");
    is($f, "$data/django_secret_key", 'the config names the key kept in NGX_MUSIC_DATA_DIR');
    like($key // '', qr/^[a-z0-9!@#\$%^&*(\-_=+)]{50}\n\z/, '50 characters of get_random_secret_key()\'s alphabet');
    is(sprintf('%04o', (stat $f)[2] & 07777), '0600', 'the key file is 0600');
    is(sprintf('%04o', (stat $data)[2] & 07777), '0700', 'NGX_MUSIC_DATA_DIR, created, is 0700');
    ok(index(slurp("$tmp/secret-a/conf/nginx.conf"), $key =~ s/\n//r) < 0, 'the key is not in nginx.conf');
    ($rc, $out) = nginx_t("$tmp/secret-a", "$tmp/secret-a/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts it (the master reads the key)') or diag $out;

    # a restart, and a second app on the same volume: the same key
    ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-a"), $ENTRYPOINT, 'render', 'app');
    is(($key_of->("$tmp/secret-a"))[1], $key, 'rendered again: the same key');
    unlike($out, qr/generated/, '...none generated');
    ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-b"), $ENTRYPOINT, 'render', 'app');
    is(($key_of->("$tmp/secret-b"))[1], $key, 'another app sharing NGX_MUSIC_DATA_DIR: the same key');

    # two apps starting at once on a fresh volume: one key for both, whichever wrote first
    my @split;
    for my $round (1 .. 5) {
        my $d = "$tmp/secret-race-$round";
        my ($rrc, $rout) = run(entrypoint_env(PGHOST => '127.0.0.1', NGX_MUSIC_DATA_DIR => $d, EP => $ENTRYPOINT,
            RACE => "$tmp/race-$round"), 'bash', '-c',
            'NGX_MUSIC_RUN_DIR="$RACE-1" "$EP" render app & NGX_MUSIC_RUN_DIR="$RACE-2" "$EP" render app & wait');
        my ($k1, $k2) = map { ($key_of->("$tmp/race-$round-$_"))[1] // "none $_" } 1, 2;
        # the key each master would read is the one written first: the other app must not
        # write one of its own after it (it would say "generated" too)
        my $generated = () = $rout =~ /generated Django's SECRET_KEY/g;
        push @split, "round $round: $rout" unless $k1 eq $k2 && $k1 eq slurp("$d/django_secret_key") && $generated == 1;
    }
    is_deeply(\@split, [], 'two apps rendering at once on a fresh NGX_MUSIC_DATA_DIR: one key generated, used by both (5 rounds)');

    # without NGX_MUSIC_DATA_DIR: kept in the run directory
    ($rc, $out) = run(entrypoint_env(PGHOST => '127.0.0.1', NGX_MUSIC_RUN_DIR => "$tmp/secret-c"), $ENTRYPOINT, 'render', 'app');
    is(($key_of->("$tmp/secret-c"))[0], "$tmp/secret-c/django_secret_key", 'no NGX_MUSIC_DATA_DIR: kept in NGX_MUSIC_RUN_DIR');

    # DJANGO_SECRET_KEY
    my $given = q{given key $HOME "quoted" 'single' \\ | & @SECRET_KEY_FILE@};
    ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-d", DJANGO_SECRET_KEY => $given),
        $ENTRYPOINT, 'render', 'app');
    is($rc, 0, 'render app with DJANGO_SECRET_KEY') or diag $out;
    ($f, my $k) = $key_of->("$tmp/secret-d");
    is($k, "$given\n", 'the config reads DJANGO_SECRET_KEY\'s value, byte for byte');
    is(sprintf('%04o', (stat $f)[2] & 07777), '0600', "its file ($f) is 0600");
    is(slurp("$data/django_secret_key"), $key, 'the kept key is left as it was');
    ok(index(slurp("$tmp/secret-d/conf/nginx.conf"), 'given key') < 0, 'the key is not in nginx.conf');
    ($rc, $out) = nginx_t("$tmp/secret-d", "$tmp/secret-d/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts it') or diag $out;

    # DJANGO_SECRET_KEY_FILE (a compose secret)
    spew("$tmp/secret-file", "from-a-secret\n");
    ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-e", DJANGO_SECRET_KEY_FILE => "$tmp/secret-file"),
        $ENTRYPOINT, 'render', 'app');
    is(($key_of->("$tmp/secret-e"))[0], "$tmp/secret-file", 'DJANGO_SECRET_KEY_FILE: the config names that file');
    ($rc, $out) = run(entrypoint_env(%base, NGX_MUSIC_RUN_DIR => "$tmp/secret-f", DJANGO_SECRET_KEY_FILE => "$tmp/no-such"),
        $ENTRYPOINT, 'render', 'app');
    isnt($rc, 0, 'DJANGO_SECRET_KEY_FILE naming no file: refused');
    like($out, qr/DJANGO_SECRET_KEY_FILE \S+no-such is not a file/, '...saying why') or diag $out;
};

############################################################################ 4. docker-compose

# Whether an IPv4 address is inside an IPv4 CIDR.
sub in_cidr {
    my ($addr, $cidr) = @_;
    my ($net, $len) = $cidr =~ m{^([\d.]+)/(\d+)$} or return 0;
    my $n = sub { my @o = split /\./, shift; return @o == 4 ? unpack('N', pack('C4', @o)) : undef };
    my ($a, $b) = ($n->($addr), $n->($net));
    return 0 unless defined $a && defined $b;
    my $mask = $len ? (0xffffffff << (32 - $len)) & 0xffffffff : 0;
    return ($a & $mask) == ($b & $mask);
}

sub find_compose {
    return $ENV{DOCKER_COMPOSE} if $ENV{DOCKER_COMPOSE};
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/docker-compose" if length $d && -x "$d/docker-compose";
    }
    my $venv = "$ROOT/.build/docker-compose/bin/docker-compose";
    return -x $venv ? $venv : undef;
}

subtest 'docker-compose.yml, parsed and validated by docker-compose' => sub {
    my $dc = find_compose();
    plan skip_all => 'docker-compose is not installed (pip install docker-compose; or set DOCKER_COMPOSE)'
        unless $dc;
    my ($rc, $ver) = run({}, $dc, 'version', '--short');
    note "docker-compose $ver";
    # the python that runs docker-compose has PyYAML (docker-compose depends on it)
    my ($shebang) = slurp($dc) =~ /\A#!\s*(\S*python\S*)/;
    my $python = $shebang && -x $shebang ? $shebang : 'python3';
    my %clean = (POSTGRES_PASSWORD => undef, ADMIN_USER => undef, ADMIN_PASSWORD => undef,
        NGX_MUSIC_HTTP_PORT => undef, NGX_MUSIC_LOG_UID => undef, NGX_MUSIC_LOG_GID => undef,
        NGX_MUSIC_SUBNET => undef, NGX_MUSIC_LB_ADDRESS => undef,
        COMPOSE_FILE => undef, COMPOSE_PROJECT_NAME => undef);

    my $config = sub {
        my (%env) = @_;
        my ($rc, $out) = run({ %clean, %env }, $dc, '--project-directory', $ROOT, '-f', "$ROOT/docker-compose.yml", 'config');
        return ($rc, $out) if $rc;
        my $yaml = "$tmp/compose-config.yml";
        spew($yaml, $out);
        my ($prc, $json) = run({}, $python, '-c',
            'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)', $yaml);
        return ($prc, $json) if $prc;
        return (0, decode_json($json));
    };

    my ($crc, $c) = $config->();
    is($crc, 0, 'docker-compose config: valid') or return diag $c;
    my $svc = $c->{services};
    is_deeply([sort keys %$svc], [qw(app1 app2 db lb prometheus)], 'services db, app1, app2, lb, prometheus');
    like($svc->{prometheus}{image}, qr/^prom\/prometheus:v\d+\.\d+\.\d+$/, "prometheus: a pinned image ($svc->{prometheus}{image})");
    ok((grep { /prometheus-compose\.yml/ } @{ $svc->{prometheus}{command} || [] }),
        'prometheus: runs nginx-conf/prometheus/prometheus-compose.yml (both apps and the balancer)');

    # db
    my $db = $svc->{db};
    like($db->{image}, qr/^postgres:15\.\d+(?:-bookworm)?(?:\@sha256:[0-9a-f]{64})?$/, "db: a pinned postgres 15 image ($db->{image})");
    my $hc = $db->{healthcheck}{test};
    $hc = join ' ', @$hc if ref $hc;
    like($hc, qr/\bpg_isready\b/, "db healthcheck: pg_isready ($hc)");
    ok(exists $db->{environment}{POSTGRES_PASSWORD}, 'db: POSTGRES_PASSWORD set');
    like(slurp("$ROOT/docker-compose.yml"), qr/POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:-[^}]+\}/, 'db: POSTGRES_PASSWORD from the environment, with a default');
    like(slurp("$ROOT/docker-compose.yml"), qr/^\s+MUSIC_AUTH_LISTEN: \$\{MUSIC_AUTH_LISTEN:-0\}$/m, 'apps: MUSIC_AUTH_LISTEN passed through, off by default');
    my @dbvol = map { ref $_ ? "$_->{source}:$_->{target}" : $_ } @{ $db->{volumes} || [] };
    ok((grep { m{^pgdata:/var/lib/postgresql/data(?::rw)?$} } @dbvol), 'db: data in the named volume pgdata')
        or diag explain \@dbvol;
    ok(exists $c->{volumes}{pgdata}, 'pgdata is a top-level named volume');
    ok(exists $c->{volumes}{'django-secret'}, 'django-secret is a top-level named volume');

    # the balancer's fixed address on the compose network: the one peer the apps trust
    my @subnets = map { $_->{subnet} } @{ $c->{networks}{default}{ipam}{config} || [] };
    is(scalar @subnets, 1, 'the default network has one fixed subnet (' . join(' ', @subnets) . ')');
    my $lb_addr = $svc->{lb}{networks}{default}{ipv4_address};
    ok(defined $lb_addr && defined $subnets[0] && in_cidr($lb_addr, $subnets[0]),
        'lb has a fixed address in it (' . ($lb_addr // 'none') . ')');

    # the apps
    for my $name (qw(app1 app2)) {
        my $a = $svc->{$name};
        is($a->{build}{context}, $ROOT, "$name: build: . (our Dockerfile)");
        is($a->{image}, $svc->{lb}{image}, "$name: the image the balancer runs too");
        is($a->{depends_on}{db}{condition}, 'service_healthy', "$name: depends_on db, condition service_healthy");
        ok(!exists $a->{container_name}, "$name: no container_name (scalable)");
        ok(!exists $a->{ports}, "$name: no host ports (scalable)");
        is($a->{environment}{PGHOST}, 'db', "$name: PGHOST=db");
        is($a->{environment}{PGPASSWORD}, $db->{environment}{POSTGRES_PASSWORD}, "$name: the db password");
        ok(!$a->{command} || (ref $a->{command} ? $a->{command}[0] : $a->{command}) eq 'app', "$name: runs the app");
        is($a->{environment}{NGX_MUSIC_REAL_IP_FROM} // 'unset', $lb_addr // 'no fixed address',
            "$name: believes X-Real-IP from the balancer's address only");
        ok(exists $a->{environment}{DJANGO_SECRET_KEY}, "$name: DJANGO_SECRET_KEY passed on");
        my @avol = map { ref $_ ? "$_->{source}:$_->{target}" : $_ } @{ $a->{volumes} || [] };
        ok((grep { m{^django-secret:/var/lib/ngx-music(?::rw)?$} } @avol),
            "$name: the generated key kept in the shared volume django-secret, on the image's NGX_MUSIC_DATA_DIR")
            or diag explain \@avol;
    }

    # the balancer
    my $l = $svc->{lb};
    is_deeply($l->{command}, ['lb'], 'lb: command lb (nginx-conf/lb/nginx.conf)');
    my @ports = map { ref $_ ? "$_->{published}:$_->{target}" : $_ } @{ $l->{ports} || [] };
    is_deeply(\@ports, ['8080:8080'], 'lb: host port 8080');
    my @lvol = map { ref $_ ? "$_->{source}:$_->{target}" : $_ } @{ $l->{volumes} || [] };
    my $logdir = $l->{environment}{LOG_DIR};
    ok($logdir, "lb: LOG_DIR=$logdir");
    ok((grep { m{^\Q$ROOT\E/log:\Q$logdir\E(?::rw)?$} } @lvol), 'lb: ./log bind-mounted on LOG_DIR')
        or diag explain \@lvol;
    is($l->{environment}{LB_APP1}, 'app1:8080', 'lb: backend 1 is the app1 service (Docker DNS), port 8080');
    is($l->{environment}{LB_APP2}, 'app2:8080', 'lb: backend 2 is the app2 service');
    is($l->{depends_on}{$_}{condition}, 'service_healthy', "lb: depends_on $_ healthy") for qw(app1 app2);

    for my $name (sort keys %$svc) {
        my $u = $svc->{$name}{user} // '';
        unlike($u, qr/^(?:root|0)(?::|$)/, "$name: not user root" . (length $u ? " ($u)" : ''));
    }

    # the variables reach the services
    my ($rc2, $c2) = $config->(POSTGRES_PASSWORD => 'from-env', NGX_MUSIC_HTTP_PORT => '9999',
        NGX_MUSIC_SUBNET => '10.77.0.0/24', NGX_MUSIC_LB_ADDRESS => '10.77.0.5');
    is($rc2, 0, 'docker-compose config with POSTGRES_PASSWORD, NGX_MUSIC_HTTP_PORT, NGX_MUSIC_SUBNET, NGX_MUSIC_LB_ADDRESS set');
    if (!$rc2) {
        is($c2->{services}{db}{environment}{POSTGRES_PASSWORD}, 'from-env', 'db gets POSTGRES_PASSWORD');
        is($c2->{services}{app2}{environment}{PGPASSWORD}, 'from-env', 'the apps get it too');
        is($c2->{services}{lb}{ports}[0]{published}, 9999, 'NGX_MUSIC_HTTP_PORT moves the host port');
        is($c2->{networks}{default}{ipam}{config}[0]{subnet}, '10.77.0.0/24', 'NGX_MUSIC_SUBNET: the network');
        is($c2->{services}{lb}{networks}{default}{ipv4_address}, '10.77.0.5', 'NGX_MUSIC_LB_ADDRESS: the balancer\'s address');
        is($c2->{services}{$_}{environment}{NGX_MUSIC_REAL_IP_FROM}, '10.77.0.5', "  and the one $_ trusts") for qw(app1 app2);
    }

    # the validation is real: a wrong condition is refused
    my $broken = slurp("$ROOT/docker-compose.yml") =~ s/condition: service_healthy/condition: service_bogus/r;
    my $bdir = "$tmp/compose-broken";
    mkdir $bdir;
    spew("$bdir/docker-compose.yml", $broken);
    my ($brc, $bout) = run(\%clean, $dc, '--project-directory', $ROOT, '-f', "$bdir/docker-compose.yml", 'config', '-q');
    isnt($brc, 0, 'control: docker-compose refuses condition: service_bogus');
    like($bout, qr/service_bogus|condition/, '  naming the problem');
};

############################################################################ 5. run for real

my %children;    # pid => name: only the processes this file started

sub start_entrypoint {
    my ($name, $env, @args) = @_;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$tmp/$name.out") or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        for my $k (keys %$env) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k} } else { delete $ENV{$k} }
        }
        { exec { $ENTRYPOINT } $ENTRYPOINT, @args }
        POSIX::_exit(127);
    }
    $children{$pid} = $name;
    return $pid;
}

sub stop_child {
    my ($pid) = @_;
    return unless $pid && $children{$pid};
    kill 'TERM', $pid;
    my $t = time + 15;
    while (time < $t) {
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    if (kill 0, $pid) { kill 'KILL', $pid; waitpid($pid, 0) }
    delete $children{$pid};
}

my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

sub auth { return { Authorization => t::Music::basic_credentials(@_) } }

# Waits (bounded) until GET $url answers 200, or the process has exited.
sub wait_http {
    my ($url, $pid, $secs) = @_;
    my $t = time + ($secs // 30);
    while (time < $t) {
        return 1 if $http->get($url)->{status} == 200;
        if (waitpid($pid, WNOHANG) == $pid) { delete $children{$pid}; return 0 }
        sleep 0.1;
    }
    return 0;
}

sub lines_of { my $f = shift; return 0 unless -f $f; my @l = split /\n/, slurp($f); return scalar @l }

my ($pg_url, $psql, $dbname, $role);

sub psql_admin {
    my ($sql) = @_;
    return run({ PGCONNECT_TIMEOUT => 5 }, $psql, '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $pg_url, '-c', $sql);
}

END {
    local $?;    # the test's exit status
    stop_child($_) for keys %children;
    if ($dbname) {
        psql_admin("DROP DATABASE IF EXISTS $dbname WITH (FORCE)");
        psql_admin("DROP ROLE IF EXISTS $role");
    }
}

subtest 'the entrypoint for real: apps bootstrapping a fresh database, the balancer in front' => sub {
    plan skip_all => 'no nginx build or module' unless $have_nginx;
    $pg_url = $ENV{TEST_NGINX_PG_URL};
    plan skip_all => 'no test PostgreSQL (TEST_NGINX_PG_URL; build/test sets it)' unless $pg_url;
    my ($pg_host, $pg_port) = $pg_url =~ m{^postgres(?:ql)?://[^@/]*@([^:/]+):(\d+)/};
    plan skip_all => "TEST_NGINX_PG_URL is not a TCP URL" unless $pg_port;
    $psql = ($ENV{PGBIN} // '/usr/lib/postgresql/15/bin') . '/psql';
    $psql = 'psql' unless -x $psql;

    # a database of its own (the t/db files share theirs), owned by a role whose password needs
    # every escape
    $dbname = "ngxm_compose_$$";
    $role = "ngxm_compose_$$";
    (my $pw_sql = $PW) =~ s/'/''/g;
    my ($rc, $out) = psql_admin("CREATE ROLE $role LOGIN PASSWORD '$pw_sql'");
    is($rc, 0, 'a role with a hard password') or return diag $out;
    ($rc, $out) = psql_admin("CREATE DATABASE $dbname OWNER $role");
    is($rc, 0, 'an empty database') or return diag $out;

    my ($p1, $p2, $plb) = (t::Nginx::free_port(), t::Nginx::free_port(), t::Nginx::free_port());
    my %common = (NGX_MUSIC_WORKERS => '1', DB_WAIT_SECONDS => '20', ADMIN_USER => $t::Music::admin_login[0],
        ADMIN_PASSWORD => $t::Music::admin_login[1], NGX_MUSIC_ERROR_LOG_LEVEL => 'warn',
        NGX_MUSIC_DATA_DIR => "$tmp/apps-data");    # one volume for both, as docker-compose.yml
    my %app1_env = (%common, NGX_MUSIC_PORT => $p1, NGX_MUSIC_RUN_DIR => "$tmp/app1",
        LOG_DIR => "$tmp/app1-log", PGHOST => $pg_host, PGPORT => $pg_port, PGUSER => $role,
        PGPASSWORD => $PW, PGDATABASE => $dbname);
    (my $pw_url = $PW) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    # app2 without LOG_DIR: its access log goes to stdout, its error log to stderr
    my %app2_env = (%common, NGX_MUSIC_PORT => $p2, NGX_MUSIC_RUN_DIR => "$tmp/app2",
        DATABASE_URL => "postgres://$role:$pw_url\@$pg_host:$pg_port/$dbname");

    # app1: first start on an empty database
    my $app1 = start_entrypoint('app1', entrypoint_env(%app1_env), 'app');
    ok(wait_http("http://127.0.0.1:$p1/api/", $app1), 'app1 (PG* variables) answers GET /api/')
        or return diag slurp("$tmp/app1.out");
    like(slurp("$tmp/app1.out"), qr/created superuser 'admin'/, 'first start: schema and admin user created');
    my $r = $http->post("http://127.0.0.1:$p1/api/musics/", { headers => { %{ auth(@t::Music::admin_login) },
        'Content-Type' => 'application/json' }, content => '{"song":"compose-song","singer":"compose-singer"}' });
    is($r->{status}, 201, 'POST /api/musics/ as admin: 201 (the password reached the module intact)')
        or diag "$r->{status} $r->{content}";

    # app2: same database, from DATABASE_URL
    my $app2 = start_entrypoint('app2', entrypoint_env(%app2_env), 'app');
    ok(wait_http("http://127.0.0.1:$p2/api/", $app2), 'app2 (DATABASE_URL) answers GET /api/')
        or return diag slurp("$tmp/app2.out");
    like(slurp("$tmp/app2.out"), qr/user 'admin' exists, left unchanged/, 'second app: the bootstrap changes nothing');
    $r = $http->get("http://127.0.0.1:$p2/api/musics/", { headers => auth(@t::Music::admin_login) });
    like($r->{content}, qr/"song":"compose-song"/, 'app2 sees what app1 wrote');

    # a session logged in through app1's /api-auth/login/ is accepted by app2: one generated key
    my $login = $http->get("http://127.0.0.1:$p1/api-auth/login/");
    my ($csrf) = ($login->{headers}{'set-cookie'} // '') =~ /csrftoken=(\w+)/;
    my ($form_token) = ($login->{content} // '') =~ /name="csrfmiddlewaretoken" value="(\w+)"/;
    ok($csrf && $form_token, 'app1: GET /api-auth/login/ gives the form and the csrftoken cookie') or diag $login->{content};
    $r = $http->post_form("http://127.0.0.1:$p1/api-auth/login/",
        { username => $t::Music::admin_login[0], password => $t::Music::admin_login[1], csrfmiddlewaretoken => $form_token // '',
          next => '/api/' }, { headers => { Cookie => "csrftoken=" . ($csrf // '') } });
    my ($sid) = join(' ', ref $r->{headers}{'set-cookie'} ? @{ $r->{headers}{'set-cookie'} } : ($r->{headers}{'set-cookie'} // ''))
        =~ /sessionid=(\w+)/;
    is($r->{status}, 302, 'app1: POST /api-auth/login/ logs in (302)') or diag "$r->{status} $r->{content}";
    $r = $http->get("http://127.0.0.1:$p2/api/musics/", { headers => { Cookie => 'sessionid=' . ($sid // 'none') } });
    is($r->{status}, 200, 'app2 accepts the session app1 wrote (both read the one generated key)')
        or diag "$r->{status} $r->{content}";

    # restart app1: the data stays
    stop_child($app1);
    $app1 = start_entrypoint('app1-restart', entrypoint_env(%app1_env), 'app');
    ok(wait_http("http://127.0.0.1:$p1/api/", $app1), 'app1 restarted') or return diag slurp("$tmp/app1-restart.out");
    like(slurp("$tmp/app1-restart.out"), qr/user 'admin' exists, left unchanged/, 'restart: nothing re-created');
    $r = $http->get("http://127.0.0.1:$p1/api/musics/", { headers => auth(@t::Music::admin_login) });
    like($r->{content}, qr/"song":"compose-song"/, 'restart: the data is still there');

    # the balancer in front of them
    my $lbp = start_entrypoint('lb', entrypoint_env(NGX_MUSIC_PORT => $plb, NGX_MUSIC_RUN_DIR => "$tmp/lb",
        LOG_DIR => "$tmp/lb-log", NGX_MUSIC_WORKERS => '1', LB_APP1 => "127.0.0.1:$p1",
        LB_APP2 => "127.0.0.1:$p2", LB_RESOLVER => '127.0.0.1'), 'lb');
    ok(wait_http("http://127.0.0.1:$plb/static/hello.txt", $lbp), 'the balancer serves /static itself')
        or return diag slurp("$tmp/lb.out");
    is($http->get("http://127.0.0.1:$plb/static/hello.txt")->{content}, slurp("$ROOT/nginx-conf/static/hello.txt"),
        '/static/hello.txt: the shipped file');
    is($http->get("http://127.0.0.1:$plb/nginx/status")->{status}, 401, '/nginx/status without credentials: 401');
    $r = $http->get("http://127.0.0.1:$plb/nginx/status", { headers => auth('user1', '123') });
    is($r->{status}, 200, '/nginx/status as user1/123: 200');
    like($r->{content}, qr/^Active connections:/, '  the stub_status page');

    # the live PV/UV page: the balancer's own, behind the same auth_basic
    is($http->get("http://127.0.0.1:$plb/nginx/stats")->{status}, 401, '/nginx/stats without credentials: 401');
    my $lb_total = sub {
        my $r = $http->get("http://127.0.0.1:$plb/nginx/stats", { headers => auth('user1', '123') });
        return undef unless $r->{status} == 200 && $r->{content} =~ /^\{/;
        return decode_json($r->{content})->{total};
    };
    my $stats0 = $lb_total->();
    ok($stats0, '/nginx/stats as user1/123: the counters as JSON') or diag explain $stats0;

    my $app2_api = sub { scalar grep { m{"GET /api/ HTTP/1\.1" 200 } } split /\n/, slurp("$tmp/app2.out") };
    my ($n1, $n2) = (lines_of("$tmp/app1-log/access.log"), $app2_api->());
    my $ok = 0;
    for (1 .. 100) { $ok++ if $http->get("http://127.0.0.1:$plb/api/")->{status} == 200 }
    is($ok, 100, '100 GET /api/ through the balancer: all 200');
    # nginx logs after answering, and app2's stdout reaches its file through a pipe: wait (up
    # to 5 s) until every answered request has its line before counting
    my ($d1, $d2);
    for (1 .. 50) {
        ($d1, $d2) = (lines_of("$tmp/app1-log/access.log") - $n1, $app2_api->() - $n2);
        last if $d1 + $d2 >= 100;
        select undef, undef, undef, 0.1;
    }
    is("$d1:$d2", '40:60', 'weights 4:6: app1 got 40, app2 got 60 (counted in app1\'s LOG_DIR, app2\'s stdout)');
    # counted where every request passes: all 100, whichever app answered, the same every time
    my @seen = map { $lb_total->() } 1 .. 5;
    is_deeply([map { $_ ? $_->{pv} - $stats0->{pv} : 'none' } @seen], [(100) x 5],
        '/nginx/stats through the balancer: PV +100 after 100 balanced requests, in 5 fetches in a row')
        or diag explain \@seen;
    is($seen[-1]{uv}, 1, '  UV 1 (one client, 127.0.0.1)') if $seen[-1];
    $r = $http->get("http://127.0.0.1:$plb/api/");
    is($r->{content}, qq{{"musics":"http://127.0.0.1:$plb/api/musics/"}}, 'the API root names the balancer\'s address (Host passed on)');

    # passive failover: app1 goes away
    stop_child($app1);
    $ok = 0;
    for (1 .. 20) { $ok++ if $http->get("http://127.0.0.1:$plb/api/")->{status} == 200 }
    is($ok, 20, 'app1 stopped: 20 GET /api/ through the balancer, all 200 (app2)');
    $r = $http->get("http://127.0.0.1:$plb/api/musics/", { headers => auth(@t::Music::admin_login) });
    is($r->{status}, 200, 'and authenticated reads too');

    # app1 comes back: once its fail_timeout (10 s) has passed the balancer sends it its share
    $app1 = start_entrypoint('app1-again', entrypoint_env(%app1_env), 'app');
    ok(wait_http("http://127.0.0.1:$p1/api/", $app1), 'app1 started again') or return diag slurp("$tmp/app1-again.out");
    sleep 11;
    my $before = lines_of("$tmp/app1-log/access.log");
    $ok = 0;
    for (1 .. 20) { $ok++ if $http->get("http://127.0.0.1:$plb/api/")->{status} == 200 }
    is($ok, 20, 'all 20 answered with both backends up again');
    cmp_ok(lines_of("$tmp/app1-log/access.log") - $before, '>=', 4, 'app1 rejoined: it served its share again');
    stop_child($app1);

    # the PV/UV log
    my @log = split /\n/, slurp("$tmp/lb-log/access.log");
    ok(@log >= 120, 'the balancer wrote its access log to LOG_DIR (' . scalar(@log) . ' lines)');
    my @bad = grep { !m{^127\.0\.0\.1(?::\d+)? 127\.0\.0\.1 - \S+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "[A-Z]+ \S+ HTTP/1\.[01]" \d{3} \d+ "[^"]*" "[^"]*" \d+\.\d{3}$} } @log;
    is_deeply(\@bad, [], 'every line in the "main" format ($host $remote_addr - $remote_user [$time_local] "$request" ...)');
    ok(!(grep { m{"GET /nginx/status } } @log), '/nginx/status is not logged (access_log off)');
    my $final = $lb_total->();
    is($final ? $final->{pv} : undef, scalar @log, 'the balancer\'s PV counts what its access log has (' . scalar(@log) . ' requests)');

    stop_child($lbp);
    stop_child($app2);
};

############################################################################ 6. X-Real-IP and the limit

# This machine's own non-loopback IPv4 address (the source of the route to a TEST-NET-2
# address; a UDP connect sends nothing), or undef. A client bound to it reaches a server on
# 127.0.0.1 as a peer that is not loopback: a LAN client, seen from the app.
sub non_loopback_address {
    my $s = IO::Socket::INET->new(Proto => 'udp', PeerAddr => '198.51.100.1', PeerPort => 9) or return;
    my $a = $s->sockhost;
    return $a && $a !~ /^127\./ && $a ne '0.0.0.0' ? $a : undef;
}

# Sends $n pipelined "GET $path" from source address $src to 127.0.0.1:$port on one
# connection, with the extra header lines given; returns the answers' status codes.
sub burst {
    my ($src, $port, $path, $n, @headers) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 5) or die "connect from $src to port $port: $!";
    my $req = join '', "GET $path HTTP/1.1\r\nHost: localhost\r\n", map({ "$_\r\n" } @headers), "\r\n";
    my $out = ($req x ($n - 1)) . ($req =~ s/\r\n\r\n$/\r\nConnection: close\r\n\r\n/r);
    my $in = '';
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my $deadline = time + 60;
    while (time < $deadline) {
        my ($r, $w) = IO::Select->select($sel, length $out ? $sel : undef, undef, 1);
        if ($w && @$w) {
            my $k = syswrite($sock, $out);
            substr($out, 0, $k, '') if $k;
        }
        if ($r && @$r) {
            my $k = sysread($sock, $in, 65536, length $in);
            last if defined $k && $k == 0;
        }
    }
    close $sock;
    # (a JSON body ends without a newline: the next status line follows it on the same line)
    return $in =~ m{HTTP/1\.1 (\d{3}) [^\r\n]*\r\n}g;
}

subtest 'X-Real-IP: believed from the configured balancer only, never buying the limit exemption' => sub {
    plan skip_all => 'no nginx build or module' unless $have_nginx;
    my $peer = non_loopback_address();
    plan skip_all => 'this machine has no non-loopback IPv4 address to play a LAN client' unless $peer;
    note "the LAN client: $peer";
    my $n = 1000;    # beyond the shipped limit's burst (400) even at 200 r/s for a whole second

    # The app as the image renders it (no database needed: GET /api/ is answered without one,
    # and so is an anonymous GET /api/musics/, 403, where limit_req acts before), listening on
    # 127.0.0.1 only. Returns its log, stats and stop.
    my $start_app = sub {
        my ($name, %env) = @_;
        my ($dir, $port) = ("$tmp/$name", t::Nginx::free_port());
        my ($rc, $out) = run(entrypoint_env(NGX_MUSIC_RUN_DIR => $dir, LOG_DIR => "$dir-log",
            NGX_MUSIC_PORT => $port, NGX_MUSIC_WORKERS => '1',
            DATABASE_URL => 'postgres://nobody@127.0.0.1:9/none', %env), $ENTRYPOINT, 'render', 'app');
        is($rc, 0, "$name: rendered") or return diag $out;
        my $conf = "$dir/conf/nginx.conf";
        spew($conf, slurp($conf) =~ s/^(\s*listen )(\d+)( default_server;)$/${1}127.0.0.1:$2$3/mr);
        my $pid = fork() // die "fork: $!";
        if (!$pid) {
            open(STDIN, '<', '/dev/null');
            open(STDOUT, '>', "$dir.out") or POSIX::_exit(126);
            open(STDERR, '>&', \*STDOUT);
            { exec { $NGINX } $NGINX, '-p', "$dir/", '-c', $conf, '-e', 'stderr', '-g', 'daemon off;' }
            POSIX::_exit(127);
        }
        $children{$pid} = $name;
        ok(wait_http("http://127.0.0.1:$port/api/", $pid), "$name: answers") or return diag slurp("$dir.out");
        return {
            port => $port,
            realip => slurp("$dir/conf/realip.conf"),
            # the client address of every access-log line ("main": $host $remote_addr - ...)
            clients => sub { [map { (split ' ')[1] } split /\n/, slurp("$dir-log/access.log")] },
            stats => sub {
                my $r = $http->get("http://127.0.0.1:$port/nginx/stats", { headers => auth('user1', '123') });
                return $r->{status} == 200 ? decode_json($r->{content})->{total} : { status => $r->{status} };
            },
            stop => sub { stop_child($pid) },
        };
    };
    my $count = sub { my ($want, @list) = @_; return scalar grep { $_ eq $want } @list };

    # the image's defaults: a client that claims to be this host
    my $app = $start_app->('trust-default') or return;
    unlike($app->{realip}, qr/set_real_ip_from/, 'default: no peer is trusted for X-Real-IP');
    # nginx writes a line after answering: wait (up to 5 s) for $k lines
    my $wait_log = sub { my ($a, $k) = @_; for (1 .. 50) { last if @{ $a->{clients}->() } >= $k; sleep 0.1 } };
    # what came before (the start-up probe), as counted by the time the page is served (the
    # single worker has logged every earlier request by then): PV counts what the log has
    my $base = $app->{stats}->()->{pv} // 0;
    my @st = burst($peer, $app->{port}, '/api/musics/', $n, 'X-Real-IP: 127.0.0.1');
    is(scalar @st, $n, "$n pipelined GET /api/musics/ with X-Real-IP: 127.0.0.1 from $peer: all answered");
    cmp_ok($count->(429, @st), '>', 0, '  still rate-limited: ' . $count->(429, @st) . ' answered 429');
    $wait_log->($app, $base + $n);
    my @clients = @{ $app->{clients}->() }[$base .. $base + $n - 1];
    is($count->($peer, @clients), $n, "  logged as $peer, its real address, all $n");
    @st = burst('127.0.0.1', $app->{port}, '/api/musics/', $n);
    is($count->(403, @st), $n, "control: the same $n from this host itself (127.0.0.1): exempt, all 403 (anonymous)");
    @st = burst($peer, $app->{port}, '/api/', $n);
    is($count->(200, @st), $n, "$n GET /api/ from $peer: the API root, which takes no credentials, is outside the limit, all 200");
    my $t = $app->{stats}->();
    is_deeply($t, { pv => $base + 3 * $n, uv => 2 }, '  /nginx/stats: counted as two visitors, the claimed 127.0.0.1 was not one');
    $app->{stop}->();

    # the balancer's address trusted (as docker-compose.yml does): its X-Real-IP is the client
    $app = $start_app->('trust-lb', NGX_MUSIC_REAL_IP_FROM => $peer) or return;
    $base = $app->{stats}->()->{pv} // 0;
    @st = (burst($peer, $app->{port}, '/api/', 5, 'X-Real-IP: 203.0.113.7'), burst($peer, $app->{port}, '/api/', 5, 'X-Real-IP: 203.0.113.8'));
    is($count->(200, @st), 10, "the trusted balancer ($peer) forwards 5 requests of 203.0.113.7, 5 of 203.0.113.8: 200");
    @st = burst($peer, $app->{port}, '/api/musics/', $n, 'X-Real-IP: 127.0.0.1');
    cmp_ok($count->(429, @st), '>', 0, "  and $n of a client it saw as 127.0.0.1: rate-limited all the same ("
        . $count->(429, @st) . ' answered 429)');
    $wait_log->($app, $base + 10 + $n);
    @clients = @{ $app->{clients}->() }[$base .. $base + 10 + $n - 1];
    is_deeply([map { $count->($_, @clients) } '203.0.113.7', '203.0.113.8', '127.0.0.1', $peer], [5, 5, $n, 0],
        '  logged with the forwarded addresses (203.0.113.7, 203.0.113.8, 127.0.0.1), never the balancer\'s');
    $t = $app->{stats}->();
    is_deeply($t, { pv => $base + 10 + $n, uv => 3 }, '  /nginx/stats: the forwarded addresses are the visitors (127.0.0.1, 203.0.113.7, 203.0.113.8)');
    $app->{stop}->();
};

done_testing();
