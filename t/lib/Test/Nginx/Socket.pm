package Test::Nginx::Socket;

# Clean-room, data-driven nginx test harness that accepts the .t files of
# OpenResty's Test::Nginx::Socket (same sections, same environment variables,
# same number of assertions per block).  See the POD after __END__.

use Test::Base -base;

use Cwd ();
use File::Path ();
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use HTTP::Response ();
use List::Util ();
use POSIX ();
use Time::HiRes ();
use Test::LongString ();

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle no_long_string log_level
    master_on master_off master_process_enabled workers worker_connections
    env_to_nginx config_preamble add_block_preprocessor add_response_body_check
    add_cleanup_handler add_test_cleanup_handler no_root_location
    check_accum_error_log timeout server_name server_addr server_port
    server_port_for_client server_root html_dir bail_out is_str
    no_nginx_manager use_hup
);

# Project-specific sections (read by add_response_body_check callbacks etc.).
our @ExtraSections;

my %Sections = map { $_ => 1 } qw(
    ONLY SKIP LAST
    config http_config main_config post_main_config user_files init
    post_setup_server_root
    request pipelined_requests more_headers raw_request curl
    error_code error_code_like
    response_body response_body_like response_body_unlike
    response_body_json_sort response_body_filters
    response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike
    error_log no_error_log grep_error_log grep_error_log_out
    access_log no_access_log shutdown_error_log no_shutdown_error_log
    timeout abort wait ignore_response log_level must_die
    skip_nginx skip_eval todo no_check_leak
);

my $TB      = Test::Builder->new;
my $MainPid = $$;

# ---------------------------------------------------------------- settings

my $RepeatEach        = 1;
my $Shuffle           = !$ENV{TEST_NGINX_NO_SHUFFLE};
my $LongString        = 1;
my $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
my $MasterProcess     = ($ENV{TEST_NGINX_MASTER_PROCESS} // 'off') =~ /^(?:on|1)$/i;
my $Workers           = 1;
my $WorkerConnections = 64;
my @EnvToNginx;
my $ConfigPreamble    = '';
my $RootLocation      = 1;
my $AccumErrLog       = 0;
my $Timeout           = _parse_secs($ENV{TEST_NGINX_TIMEOUT}) // 3;
my $Sleep             = $ENV{TEST_NGINX_SLEEP} || 0.015;
my $Verbose           = $ENV{TEST_NGINX_VERBOSE};
my $StrictLog         = $ENV{TEST_NGINX_STRICT_LOG};
my $NginxManager      = 1;
my $Binary            = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $Valgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
my (@BlockPreprocessors, @ResponseBodyChecks, @CleanupHandlers, @TestCleanupHandlers);

# ------------------------------------------------------- port and servroot

my ($ServerPort, $PortLock, $PortIsRandom, %RandPortLocks);

# Bind 127.0.0.1:0 to get a free port, then hold a UDP socket on the same
# number for the life of this process (the nginx-tests lock trick), so that
# concurrent test files never pick the same port.
sub _pick_port {
    for (1 .. 100) {
        my $tcp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                        Proto => 'tcp', Listen => 1) or next;
        my $port = $tcp->sockport;
        my $udp  = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                         Proto => 'udp') or next;
        close $tcp;
        return ($port, $udp);
    }
    die "cannot find a free port on 127.0.0.1\n";
}

if (!$ENV{TEST_NGINX_RANDOMIZE}
    && ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}))
{
    $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
} else {
    ($ServerPort, $PortLock) = _pick_port();
    $PortIsRandom = 1;
}
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
my $ClientPort = (!$PortIsRandom && $ENV{TEST_NGINX_CLIENT_PORT}) || $ServerPort;

sub _file_stem {
    my $rel = File::Spec->abs2rel(File::Spec->rel2abs($0));
    $rel =~ s{^(?:\.\.?/)+}{};
    $rel =~ s{^t/}{};
    $rel =~ s{\.t$}{};
    $rel =~ s{[^\w.-]+}{_}g;
    return length $rel ? $rel : 'default';
}

my $Cwd = Cwd::getcwd();
my $ServRoot = $ENV{TEST_NGINX_SERVROOT}
    ? File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT})
    : $ENV{TEST_NGINX_RANDOMIZE} ? "$Cwd/t/servroot_$ServerPort"
    :                              "$Cwd/t/servroot/" . _file_stem();
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_HTML_DIR}    = "$ServRoot/html";

my $ErrLogFile = "$ServRoot/logs/error.log";
my $AccLogFile = "$ServRoot/logs/access.log";
my $PidFile    = "$ServRoot/logs/nginx.pid";

# state of the running nginx
my $Pid;                          # our direct child
my ($ErrPos, $AccPos) = (0, 0);   # log offsets of the current window

# ---------------------------------------------------------------- exports

sub repeat_each            { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle             { $Shuffle = 0 }
sub no_long_string         { $LongString = 0 }
sub log_level              { $LogLevel = shift if @_; $LogLevel }
sub master_on              { $MasterProcess = 1 }
sub master_off             { $MasterProcess = 0 }
sub master_process_enabled { $MasterProcess = shift if @_; $MasterProcess }
sub workers                { $Workers = shift if @_; $Workers }
sub worker_connections     { $WorkerConnections = shift if @_; $WorkerConnections }
sub env_to_nginx           { push @EnvToNginx, @_ }
sub config_preamble        { $ConfigPreamble = shift if @_; $ConfigPreamble }
sub add_block_preprocessor { push @BlockPreprocessors, @_ }
sub add_response_body_check { push @ResponseBodyChecks, @_ }
sub add_cleanup_handler    { push @CleanupHandlers, @_ }
sub add_test_cleanup_handler { push @TestCleanupHandlers, @_ }
sub no_root_location       { $RootLocation = 0 }
sub check_accum_error_log  { $AccumErrLog = 1 }
sub timeout                { $Timeout = _parse_secs(shift) if @_; $Timeout }
sub server_name            { 'localhost' }
sub server_addr            { '127.0.0.1' }
sub server_port            { $ServerPort }
sub server_port_for_client { $ClientPort }
sub server_root            { $ServRoot }
sub html_dir               { "$ServRoot/html" }
sub no_nginx_manager       { $NginxManager = 0 }
sub use_hup { die "use_hup() is unsupported here; real Test::Nginx may accept it\n" }

sub bail_out {
    _stop_nginx();
    Test::More::BAIL_OUT(join '', @_);
}

sub is_str {
    local $Test::Builder::Level = _level();
    my ($got, $expected, $desc) = @_;
    return $TB->like($got, $expected, $desc) if ref $expected eq 'Regexp';
    if ($LongString) {
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        return Test::LongString::is_string($got, $expected, $desc);
    }
    return $TB->is_eq($got, $expected, $desc);
}

# ---------------------------------------------------------------- helpers

sub _parse_secs {
    my $v = shift;
    return undef unless defined $v;
    $v =~ /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$/ or die "bad time value '$v'\n";
    return $2 && $2 eq 'ms' ? $1 / 1000 : $1 + 0;
}

# Test::Builder level that makes failures point at the run_tests() call
sub _level {
    my $i = 1;
    $i++ while ((caller $i)[0] // '') eq __PACKAGE__;
    return $i;
}

sub _trim { my $s = shift; return $s unless defined $s; $s =~ s/^\s+|\s+$//g; $s }
sub _pick { my ($v, $i) = @_; ref $v eq 'ARRAY' ? $v->[$i] : $v }
sub _say  { $TB->diag(@_) if $Verbose }

sub _slurp {
    my $file = shift;
    open my $fh, '<:raw', $file or return undef;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _write_file {
    my ($file, $content) = @_;
    (my $dir = $file) =~ s{/[^/]*$}{};
    File::Path::make_path($dir) unless -d $dir;
    open my $fh, '>:raw', $file or die "cannot write $file: $!\n";
    print $fh $content;
    close $fh or die "cannot write $file: $!\n";
}

# $TEST_NGINX_* expansion.  An undefined variable dies; the caller turns this
# into a failure of the block (and so of the file), never into a BAIL_OUT.
sub _expand {
    my $s = shift;
    return $s if !defined $s || ref $s;
    $s =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/_env_value($1)/ge;
    return $s;
}

sub _env_value {
    my $name = shift;
    if (!defined $ENV{$name} && $name =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
        (my $port, $RandPortLocks{$name}) = _pick_port();
        $ENV{$name} = $port;
    }
    die "undefined environment variable \$$name\n" unless defined $ENV{$name};
    return $ENV{$name};
}

# expected values: $TEST_NGINX_* (unless $env is false) and the literal
# $ServerPort / $ServerPortForClient
sub _expand_expected {
    my ($v, $env) = @_;
    return [ map { _expand_expected($_, $env) } @$v ] if ref $v eq 'ARRAY';
    return $v if !defined $v || ref $v;
    $v = _expand($v) if $env;
    $v =~ s/\$ServerPortForClient\b/$ClientPort/g;
    $v =~ s/\$ServerPort\b/$ServerPort/g;
    return $v;
}

my $NginxVersion;
sub _nginx_version {
    return $NginxVersion if defined $NginxVersion;
    my (undef, $out) = _run_capture($Binary, '-v');
    $out =~ m{nginx/(\d+(?:\.\d+)*)} or die "cannot get the nginx version from '$Binary -v': $out\n";
    return $NginxVersion = $1;
}

sub _ver_cmp {
    my @a = split /\./, shift;
    my @b = split /\./, shift;
    for my $i (0 .. ($#a > $#b ? $#a : $#b)) {
        my $c = ($a[$i] // 0) <=> ($b[$i] // 0);
        return $c if $c;
    }
    return 0;
}

# run a command, capturing stdout+stderr; returns (ok, output, exit code)
sub _run_capture {
    my @argv = @_;
    my $pid = open(my $fh, '-|');
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        print "cannot exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? == 0, $out, $? >> 8);
}

sub _nginx_argv {
    return ($Binary, '-p', "$ServRoot/", '-c', 'conf/nginx.conf', '-e', 'logs/error.log');
}

sub _valgrind_argv {
    return () unless $Valgrind;
    my @opts = $Valgrind =~ /^\s*1?\s*$/ ? () : split ' ', $Valgrind;
    my @sup  = -f 'valgrind.suppress' ? ('--suppressions=valgrind.suppress') : ();
    return ('valgrind', '-q', '--tool=memcheck', '--leak-check=full',
            '--show-possibly-lost=no', '--num-callers=50', @sup, @opts);
}

# ------------------------------------------------------------ nginx.conf

sub _gen_conf {
    my $block = shift;
    my %s = map { $_ => _expand(scalar $block->$_) // '' }
            qw(config http_config main_config post_main_config);
    my $level = _trim(scalar $block->log_level) || $LogLevel;
    my $root  = $ServRoot;
    my $conf  = "# generated by t/lib/Test/Nginx/Socket.pm for $0\n";

    for my $mod (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '') {
        $conf .= "load_module " . File::Spec->rel2abs($mod, $Cwd) . ";\n";
    }
    $conf .= "worker_processes $Workers;\n"
           . "daemon off;\n"
           . "master_process " . ($MasterProcess ? 'on' : 'off') . ";\n"
           . "error_log $root/logs/error.log $level;\n"
           . "pid $root/logs/nginx.pid;\n";
    $conf .= "env $_;\n"
        for qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS UBSAN_OPTIONS RUST_BACKTRACE),
            @EnvToNginx;
    my $temp = join '', map { "    ${_}_temp_path $root/${_}_temp;\n" }
                        qw(client_body proxy fastcgi scgi uwsgi);
    my $root_location = $RootLocation ? <<"EOC" : '';
        location / {
            root $root/html;
            index index.html index.htm;
        }
EOC
    $conf .= <<"EOC";

$s{main_config}

http {
    access_log $root/logs/access.log;
$temp
    default_type text/plain;
    keepalive_timeout 68000ms;

$s{http_config}

    server {
        listen 127.0.0.1:$ServerPort;
        server_name 'localhost';
        client_max_body_size 30M;

$ConfigPreamble
$s{config}

$root_location    }
}

$s{post_main_config}

events {
    accept_mutex off;
    worker_connections $WorkerConnections;
}
EOC
    $conf .= "user root;\n" if $> == 0;
    return $conf;
}

sub _write_user_files {
    my $block = shift;
    my $uf = $block->user_files;
    return unless defined $uf;
    my @files;
    if (ref $uf eq 'ARRAY') {
        @files = map { [ $_->[0], _expand($_->[1]) ] } @$uf;
    } else {
        my @parts = split /^>>>[ \t]*(\S+)[^\n]*(?:\n|\z)/m, _expand($uf);
        shift @parts;
        while (@parts) {
            my ($name, $body) = splice @parts, 0, 2;
            push @files, [ $name, $body // '' ];
        }
    }
    for my $f (@files) {
        my $path = File::Spec->canonpath("$ServRoot/html/$f->[0]");
        1 while $path =~ s{/[^/]+/\.\.(?=/|$)}{};
        die "user_files: '$f->[0]' is outside the server root\n"
            unless index($path, "$ServRoot/") == 0;
        _write_file($path, $f->[1]);
    }
}

# ------------------------------------------------------ process control

sub _setup_servroot {
    my $block = shift;
    die "refusing to use server root '$ServRoot'\n" if $ServRoot !~ m{^/.*[^/]};
    File::Path::make_path($ServRoot);
    my @dirs = qw(conf logs html cache client_body_temp proxy_temp fastcgi_temp
                  scgi_temp uwsgi_temp);
    File::Path::remove_tree(map { "$ServRoot/$_" } @dirs);
    File::Path::make_path(map { "$ServRoot/$_" } @dirs);
    _write_file("$ServRoot/html/index.html", "It works!");
    _write_user_files($block);
    _write_file("$ServRoot/conf/nginx.conf", _gen_conf($block));
    if (defined(my $code = $block->post_setup_server_root)) {
        eval "package main; $code; 1" or die "post_setup_server_root failed: $@";
    }
}

# Kill an nginx left over from an earlier run of this file (NO_CLEAN, crash),
# but only if /proc says it really is an nginx using our server root.
sub _kill_stale_nginx {
    my $pid = _trim(_slurp($PidFile));
    return unless $pid && $pid =~ /^\d+$/ && $pid != $$ && kill(0, $pid);
    return if $Pid && $pid == $Pid;
    my $cmd = _slurp("/proc/$pid/cmdline") // '';
    $cmd =~ tr/\0/ /;
    return unless $cmd =~ /nginx/ && index($cmd, $ServRoot) >= 0;
    $TB->diag("killing stale nginx $pid ($cmd)");
    kill 'QUIT', $pid;
    for (1 .. 300) { last unless kill 0, $pid; Time::HiRes::sleep(0.01) }
    kill 'KILL', $pid if kill 0, $pid;
}

sub _port_listening {
    my $port = shift;
    my $tcp = _slurp('/proc/net/tcp');
    if (!defined $tcp) {    # no procfs: fall back to a connect
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1);
        return $s ? 1 : 0;
    }
    my $hex = sprintf '%04X', $port;
    return $tcp =~ /^\s*\d+:\s+(?:0100007F|00000000):$hex\s+\S+\s+0A\s/m ? 1 : 0;
}

sub _emerg_lines {
    my $text = shift // '';
    my @l = grep { /\[(?:emerg|alert|crit)\]/ } split /\n/, $text;
    @l = (grep { /\S/ } split /\n/, $text)[-10 .. -1] unless @l;
    return join "\n", grep { defined } @l;
}

# Start nginx as a direct child.  Returns (1) on success, or
# (0, message, exit code, log text) when it failed to start.
sub _start_nginx {
    my $block = shift;
    my $tries = $PortIsRandom ? 3 : 1;
    ATTEMPT: for my $try (1 .. $tries) {
        _kill_stale_nginx();
        _setup_servroot($block);
        my ($tok, $tout, $tcode) = _run_capture(_nginx_argv(), '-t', '-q');
        if (!$tok) {
            my $log = join "\n", grep { defined } _slurp($ErrLogFile), $tout;
            return (0, "nginx -t failed (exit $tcode):\n" . _emerg_lines($tout || $log),
                    $tcode, $log);
        }
        truncate $ErrLogFile, 0;
        my @argv = (_valgrind_argv(), _nginx_argv());
        _say("starting: @argv");
        my $pid = fork;
        die "fork failed: $!\n" unless defined $pid;
        if (!$pid) {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null' if $ENV{TEST_NGINX_NO_CLEAN};
            { no warnings 'exec'; exec { $argv[0] } @argv; }
            print STDERR "cannot exec $argv[0]: $!\n";
            POSIX::_exit(127);
        }
        my $deadline = Time::HiRes::time() + ($Valgrind ? 60 : 5);
        while (1) {
            if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
                my ($st, $log) = ($?, _slurp($ErrLogFile) // '');
                if ($log =~ /Address already in use/ && $try < $tries) {
                    ($ServerPort, $PortLock) = _pick_port();
                    $ClientPort = $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
                    next ATTEMPT;
                }
                return (0, "nginx exited at startup (status $st):\n" . _emerg_lines($log),
                        $st >> 8, $log);
            }
            if (-s $PidFile && _port_listening($ServerPort)) {
                $Pid = $pid;
                ($ErrPos, $AccPos) = (0, 0);
                return (1);
            }
            if (Time::HiRes::time() > $deadline) {
                kill 'KILL', $pid;
                waitpid $pid, 0;
                return (0, "nginx did not become ready within the time limit:\n"
                           . _emerg_lines(_slurp($ErrLogFile)), -1, _slurp($ErrLogFile) // '');
            }
            Time::HiRes::sleep(0.01);
        }
    }
}

sub _wait_child {
    my ($pid, $secs) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    while (1) {
        my $w = waitpid $pid, POSIX::WNOHANG();
        return $? if $w == $pid || $w == -1;
        return undef if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.01);
    }
}

# QUIT (repeated each second) for up to 5 s, TERM, wait 1 s, KILL.  An abnormal exit and
# [alert]/[crit]/[emerg] lines logged while stopping are reported like the
# ones seen during the requests (WARNING, or a failure under STRICT_LOG).
my ($LastBlock, $LastDesc);    # the block that used the running nginx last
sub _stop_nginx {
    return unless $Pid;
    local $Test::Builder::Level = _level();
    my $pid = $Pid;
    undef $Pid;
    my $problem;
    my $st = _wait_child($pid, 0);
    if (defined $st) {
        $problem = "had already exited with status $st";
    } else {
        # The signal is repeated each second: a single-process nginx checks its quit flag only
        # after epoll_wait returns, so a signal landing just before that call is seen only when
        # the next one interrupts it (rare natively, frequent under valgrind, which delivers
        # signals at syscall boundaries).
        my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT';
        my $until = Time::HiRes::time() + ($Valgrind ? 60 : 5);
        do {
            kill $sig, $pid;
            $st = _wait_child($pid, 1);
        } while (!defined $st && Time::HiRes::time() < $until);
        if (!defined $st) {
            $TB->diag("nginx (pid $pid) did not exit after QUIT; sending TERM");
            kill 'TERM', $pid;
            $st = _wait_child($pid, 1);
        }
        if (!defined $st) {
            $problem = "did not exit after QUIT and TERM; sent KILL";
            kill 'KILL', $pid;
            waitpid $pid, 0;
        } elsif ($st != 0) {
            $problem = "exited with status $st";
        }
    }
    my $desc = $LastDesc // $0;
    if ($problem) {
        $problem = "nginx (pid $pid) $problem"
                 . (($st // 0) & 127 ? " (signal " . ($st & 127) . ")" : '');
        if ($StrictLog) {
            $TB->ok(0, "$desc - $problem (TEST_NGINX_STRICT_LOG)");
        } else {
            $TB->diag("WARNING: $desc - $problem");
        }
    }
    _scan_alerts($LastBlock, "$desc (shutdown)", _read_window($ErrLogFile, \$ErrPos))
        if $LastBlock;
    if (my $all = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (open my $fh, '>>:raw', $all) {
            print $fh "=== $0 ($ServRoot)\n", _slurp($ErrLogFile) // '';
        }
    }
}

# ---------------------------------------------------------- HTTP client

sub _header_lines {
    my $spec = shift;
    return () unless defined $spec;
    return grep { /\S/ && !/^\s*#/ } map { _trim($_) } split /\n/, $spec;
}

# Build one request from "METHOD [URI [HTTP/x]]\nbody".  Returns a hashref.
sub _build_request {
    my ($spec, $more, $keepalive) = @_;
    die "empty request\n" unless defined $spec && $spec =~ /\S/;
    $spec =~ s/\A(?:[ \t]*(?:#[^\n]*)?\r?\n)+//;
    my ($line, $body) = split /\r?\n/, $spec, 2;
    my ($meth, $uri, $ver) = split ' ', $line;
    $uri = '/' unless defined $uri && length $uri;
    $ver ||= 'HTTP/1.1';
    $body //= '';
    $body =~ s/^\s+//;
    $body =~ s/\s+$//;
    my @more = _header_lines($more);
    my $has = sub { my $re = shift; scalar grep { /^$re\s*:/i } @more };
    my $chunked = grep { /^transfer-encoding\s*:\s*chunked/i } @more;
    my @h;
    push @h, 'Host: localhost' unless $has->('host');
    push @h, 'Connection: ' . ($keepalive ? 'keep-alive' : 'close') unless $has->('connection');
    push @h, @more;
    push @h, 'Content-Length: ' . length($body)
        if length $body && !$chunked && !$has->('content-length');
    return { method => uc $meth, uri => $uri, headers => \@h, body => $body,
             data => "$meth $uri $ver\r\n" . join('', map { "$_\r\n" } @h) . "\r\n" . $body };
}

sub _shell_quote { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" }

sub _curl_command {
    my $r = shift;
    my @c = ('curl', '-i', '-sS');
    push @c, '-X', $r->{method} unless $r->{method} eq 'GET' || $r->{method} eq 'HEAD';
    push @c, '-I' if $r->{method} eq 'HEAD';
    push @c, map { ('-H', $_) } grep { !/^(?:host|connection|content-length)\s*:/i }
                                @{ $r->{headers} };
    push @c, '--data-binary', $r->{body} if length $r->{body};
    push @c, "http://127.0.0.1:$ClientPort$r->{uri}";
    return join ' ', map { /^[-\w\/:.=]+$/ ? $_ : _shell_quote($_) } @c;
}

# Returns a list of connections: { packets => [{data, delay}], methods => [...] }
sub _prepare_requests {
    my $block = shift;
    my $more  = $block->more_headers;
    if (defined(my $raw = $block->raw_request)) {
        my @pk = map {
            ref $_ eq 'HASH' ? { data => $_->{value}, delay => $_->{delay_before} || 0 }
                             : { data => $_, delay => 0 }
        } ref $raw eq 'ARRAY' ? @$raw : ($raw);
        $pk[$_]{delay} ||= $Sleep for 1 .. $#pk;
        my ($meth) = ($pk[0]{data} // '') =~ /^\s*(\S+)/;
        return [ { packets => \@pk, methods => [ uc($meth // 'GET') ] } ];
    }
    my @conns;
    if (defined(my $pl = $block->pipelined_requests)) {
        die "pipelined_requests must be an eval array\n" unless ref $pl eq 'ARRAY';
        my @reqs = map { _build_request(_expand($pl->[$_]), _pick($more, $_), $_ < $#$pl) }
                   0 .. $#$pl;
        @conns = { reqs => \@reqs, packets => [ { data => join('', map { $_->{data} } @reqs) } ],
                   methods => [ map { $_->{method} } @reqs ] };
    } else {
        my $req = $block->request;
        die "no request section (--- request, --- pipelined_requests or --- raw_request)\n"
            unless defined $req;
        my @specs = ref $req eq 'ARRAY' ? @$req : ($req);
        for my $i (0 .. $#specs) {
            die "request parts arrays (split writes) are unsupported here; real Test::Nginx may accept them\n"
                if ref $specs[$i];
            my $r = _build_request($specs[$i], _pick($more, $i), 0);
            push @conns, { reqs => [$r], packets => [ { data => $r->{data} } ],
                           methods => [ $r->{method} ] };
        }
    }
    if (defined $block->curl) {
        print STDERR "# ", _curl_command($_), "\n" for map { @{ $_->{reqs} } } @conns;
    }
    return \@conns;
}

# Send the packets and read until EOF; the timeout is per I/O event.
sub _exchange {
    my ($conn, $timeout) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ClientPort,
                                     Proto => 'tcp', Timeout => $timeout)
        or return ('', "cannot connect to 127.0.0.1:$ClientPort: $!", 0);
    binmode $sock;
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my ($data, $err, $timedout) = ('', undef, 0);
    PACKET: for my $pk (@{ $conn->{packets} }) {
        Time::HiRes::sleep($pk->{delay}) if $pk->{delay};
        my $buf = $pk->{data} // '';
        _say("sending: $buf");
        while (length $buf) {
            if (!$sel->can_write($timeout)) { $timedout = 1; last PACKET }
            my $n = syswrite $sock, $buf;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                $err = "write failed: $!";    # the server may have answered already
                last PACKET;
            }
            substr($buf, 0, $n, '');
        }
    }
    if (!$timedout) {
        while (1) {
            if (!$sel->can_read($timeout)) { $timedout = 1; last }
            my $n = sysread $sock, my $chunk, 65536;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                $err //= "read failed: $!" unless $!{ECONNRESET} && length $data;
                last;
            }
            last if $n == 0;
            $data .= $chunk;
        }
    }
    close $sock;
    _say("received: $data");
    return ($data, $err, $timedout);
}

sub _decode_chunked {
    my $buf = shift;
    my ($body, @warn) = ('');
    while (1) {
        if ($buf !~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            push @warn, length $buf ? 'malformed chunk size line' : 'truncated chunked body';
            last;
        }
        my $size = hex $1;
        if ($size == 0) {
            push @warn, 'truncated chunked trailer' unless $buf =~ s/\A(?:[^\r\n]+\r\n)*\r\n//;
            last;
        }
        if (length $buf < $size) {
            push @warn, 'truncated chunked body';
            $body .= $buf;
            $buf = '';
            last;
        }
        $body .= substr $buf, 0, $size, '';
        push @warn, 'missing CRLF after a chunk' unless $buf =~ s/\A\r\n//;
    }
    return ($body, $buf, \@warn);
}

# Parse one response off the front of $data.  Returns (record, rest).
sub _parse_response {
    my ($data, $method, $last) = @_;
    my $hend = index $data, "\r\n\r\n";
    return ({ error => length $data ? 'incomplete response header' : 'no response' }, '')
        if $hend < 0;
    my $head = substr $data, 0, $hend;
    my $rest = substr $data, $hend + 4;
    my ($status, @lines) = split /\r\n/, $head;
    $status =~ m{^HTTP/(\d+\.\d+)\s+(\d{3})(?:\s+(.*))?$}
        or return ({ error => "bad status line: $status" }, '');
    my $res = HTTP::Response->new($2, $3 // '');
    $res->protocol("HTTP/$1");
    for (@lines) {
        $res->push_header($1, $2) if /^([^:\s]+)\s*:\s*(.*?)\s*$/;
    }
    my $code = $res->code;
    return _parse_response($rest, $method, $last) if $code >= 100 && $code < 200 && $code != 101;
    my ($body, @warn) = ('');
    if ($method eq 'HEAD' || $code == 204 || $code == 304) {
        # no body
    } elsif (($res->header('Transfer-Encoding') // '') =~ /chunked/i) {
        ($body, $rest, my $w) = _decode_chunked($rest);
        push @warn, @$w;
    } elsif (defined(my $len = $res->header('Content-Length'))) {
        push @warn, "truncated body: got " . length($rest) . " of $len bytes"
            if length $rest < $len;
        $body = substr $rest, 0, $len, '';
    } else {
        ($body, $rest) = ($rest, '');
    }
    push @warn, length($rest) . " extra bytes after the last response" if $last && length $rest;
    $res->content($body);
    return ({ res => $res, raw_headers => "$head\r\n\r\n", body => $body, warn => \@warn }, $rest);
}

# ---------------------------------------------------------------- checks

sub _patterns {
    my $v = shift;
    return () unless defined $v;
    return map { ref $_ ? $_ : _patterns_from_string($_) } @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return _patterns_from_string($v);
}
sub _patterns_from_string { grep { length } split /\n/, shift // '' }

sub _line_matches {
    my ($line, $p) = @_;
    return ref $p eq 'Regexp' ? $line =~ $p : index($line, $p) >= 0;
}

sub _json_sort {
    my ($body, $desc) = @_;
    my $json = JSON::PP->new->utf8->canonical->allow_nonref;
    my $data = eval { $json->decode($body) };
    if ($@) { $TB->diag("$desc: response_body_json_sort: body is not JSON: $@"); return $body }
    return $json->encode($data) . "\n";
}

my %BodyFilters = (
    md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex(shift) },
    sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex(shift) },
    uc => sub { uc shift }, lc => sub { lc shift },
    ucfirst => sub { ucfirst shift }, lcfirst => sub { lcfirst shift },
    length => sub { length shift },
);

sub _apply_body_filters {
    my ($filters, $body) = @_;
    for my $f (ref $filters eq 'ARRAY' ? @$filters : ref $filters ? ($filters)
                                                   : split ' ', $filters) {
        my $code = ref $f eq 'CODE' ? $f : $BodyFilters{$f}
            or die "unknown response_body_filters filter '$f'\n";
        $body = $code->($body);
    }
    return $body;
}

sub _header_spec {
    my $spec = shift;
    my (%h, @order);
    for my $line (_header_lines($spec)) {
        my ($k, $v) = $line =~ /^(!\s*[^:\s]+)\s*:?\s*$/ ? ($1, undef)
                    : $line =~ /^([^:]+?)\s*:\s*(.*)$/   ? ($1, $2)
                    : die "bad response header spec line '$line'\n";
        $k =~ s/^!\s*/!/;
        push @order, $k unless exists $h{$k};
        $h{$k} = $v;
    }
    return (\%h, \@order);
}

sub _check_response {
    local $Test::Builder::Level = _level();
    my ($block, $desc, $rec, $i, $x) = @_;
    my $res  = $rec->{res};
    my $code = $res ? $res->code : undef;
    $TB->diag("$desc: $rec->{error}") if $rec->{error};
    $TB->diag("$desc: WARNING: $_") for @{ $rec->{warn} || [] };

    # status: always checked
    if (defined(my $like = _pick(scalar $block->error_code_like, $i))) {
        $TB->like($code // '', ref $like ? $like : qr/${\ _trim($like)}/, "$desc - status code ok");
    } else {
        my $exp = _trim(_pick(scalar $block->error_code, $i));
        $exp = 200 unless defined $exp && length $exp;
        $TB->is_eq($code, $exp, "$desc - status code ok");
    }

    # headers: one assertion per distinct name
    if (defined(my $spec = _pick($x->{headers}, $i))) {
        my ($h, $order) = _header_spec($spec);
        for my $k (@$order) {
            if ($k =~ /^!(.*)/) {
                my $got = $res ? $res->header($1) : undef;
                $TB->ok(!defined $got, "$desc - header $1 not present")
                    or $TB->diag("  got: $1: $got");
            } else {
                $TB->is_eq($res ? scalar $res->header($k) : undef, $h->{$k}, "$desc - header $k ok");
            }
        }
    } elsif (defined(my $lspec = _pick(scalar $block->response_headers_like, $i))) {
        my ($h, $order) = _header_spec($lspec);
        for my $k (@$order) {
            my $got = $res ? $res->header($k) : undef;
            $TB->like($got // '', qr/^$h->{$k}$/, "$desc - header $k like ok");
        }
    }
    for my $sec (qw(raw_response_headers_like raw_response_headers_unlike)) {
        my $p = _pick(scalar $block->$sec, $i);
        next unless defined $p;
        my $m = $sec =~ /unlike/ ? 'unlike' : 'like';
        $TB->$m($rec->{raw_headers} // '', ref $p ? $p : qr/$p/s, "$desc - $sec ok");
    }

    # body
    my $body = $rec->{body};
    if (defined $body && defined(my $f = $block->response_body_filters)) {
        $body = _apply_body_filters($f, $body);
    }
    if (defined $block->response_body) {
        my $exp = _pick($x->{body}, $i);
        $body = _json_sort($body, $desc) if defined $body && defined $block->response_body_json_sort;
        is_str($body, $exp, "$desc - response_body - response is expected");
    } elsif (defined(my $p = _pick(scalar $block->response_body_like, $i))) {
        $TB->like($body // '', ref $p ? $p : qr/$p/s, "$desc - response_body_like - response is expected");
    } elsif (defined($p = _pick(scalar $block->response_body_unlike, $i))) {
        $TB->unlike($body // '', ref $p ? $p : qr/$p/s, "$desc - response_body_unlike - response is expected");
    }
    local $Test::Builder::Level = 1;
    $_->($block, $body, $i, $x->{repeat}, 0) for @ResponseBodyChecks;
}

sub _read_window {
    my ($file, $posref) = @_;
    my $from = $AccumErrLog ? 0 : $$posref;
    open my $fh, '<:raw', $file or return [];
    seek $fh, $from, 0;
    local $/;
    my $text = <$fh> // '';
    $$posref = $from + length $text;
    return [ split /\n/, $text ];
}

sub _settle_logs {
    Time::HiRes::sleep(3 * $Sleep);
    my ($last, $deadline) = (-1, Time::HiRes::time() + 0.5);
    while (Time::HiRes::time() < $deadline) {
        my $size = (-s $ErrLogFile // 0) + (-s $AccLogFile // 0);
        last if $size == $last;
        $last = $size;
        Time::HiRes::sleep(0.01);
    }
}

sub _check_patterns {
    local $Test::Builder::Level = _level();
    my ($desc, $lines, $pats, $must, $what) = @_;
    for my $p (_patterns($pats)) {
        my ($hit) = grep { _line_matches($_, $p) } @$lines;
        if ($must) {
            $TB->ok(defined $hit, "$desc - pattern \"$p\" should match a line in $what")
                or $TB->diag("  $what had " . @$lines . " lines in the checked window");
        } else {
            $TB->ok(!defined $hit, "$desc - pattern \"$p\" should not match any line in $what")
                or $TB->diag("  matched: $hit");
        }
    }
}

sub _grep_log {
    my ($lines, $p) = @_;
    my $out = '';
    for my $line (@$lines) {
        if (ref $p eq 'Regexp') {
            while ($line =~ /$p/g) { $out .= "$&\n"; last unless length $& }
        } else {
            my $pos = 0;
            while (($pos = index $line, $p, $pos) >= 0) { $out .= "$p\n"; $pos += length $p || 1 }
        }
    }
    return $out;
}

sub _check_logs {
    local $Test::Builder::Level = _level();
    my ($block, $desc, $err, $acc, $x) = @_;
    _check_patterns($desc, $err, scalar $block->error_log, 1, 'error.log');
    _check_patterns($desc, $err, scalar $block->no_error_log, 0, 'error.log');
    if (defined(my $g = $block->grep_error_log)) {
        my $exp = $x->{grep_out};
        $exp = $exp->[ $x->{repeat} ] if ref $exp eq 'ARRAY';
        is_str(_grep_log($err, ref $g ? $g : _trim($g)), $exp, "$desc - grep_error_log_out");
    }
    _check_patterns($desc, $acc, scalar $block->access_log, 1, 'access.log');
    _check_patterns($desc, $acc, scalar $block->no_access_log, 0, 'access.log');
}

# unexpected [alert]/[crit]/[emerg] lines (and Rust "panicked at" lines): a
# WARNING, a failure under TEST_NGINX_STRICT_LOG=1; "Assertion ... failed" is
# always a failure.
sub _scan_alerts {
    local $Test::Builder::Level = _level();
    my ($block, $desc, $lines) = @_;
    my @pats = map { _patterns(scalar $block->$_) }
               qw(error_log no_error_log grep_error_log shutdown_error_log no_shutdown_error_log);
    for my $line (@$lines) {
        if ($line =~ /Assertion .* failed/) {
            $TB->ok(0, "$desc - assertion failure in error.log");
            $TB->diag("  $line");
        }
        next unless $line =~ /\[(?:alert|crit|emerg)\]|panicked at /;
        next if grep { _line_matches($line, $_) } @pats;
        if ($StrictLog) {
            $TB->ok(0, "$desc - unexpected line in error.log (TEST_NGINX_STRICT_LOG)");
            $TB->diag("  $line");
        } else {
            $TB->diag("WARNING: $desc - unexpected line in error.log: $line");
        }
    }
}

# ------------------------------------------------------------- the blocks

my @SetupSections = qw(config http_config main_config post_main_config user_files
                       log_level post_setup_server_root);

sub _validate {
    my $block = shift;
    my %extra = map { $_ => 1 } @ExtraSections;
    for my $s (@{ $block->_section_order || [] }) {
        die "unknown section '--- $s': unsupported here; real Test::Nginx may accept it\n"
            unless $Sections{$s} || $extra{$s};
    }
    my $has = sub { scalar grep { defined $block->$_ } @_ };
    die "--- response_headers_like is ignored by the real harness when --- response_headers is present; use one\n"
        if $has->('response_headers') && $has->('response_headers_like');
    die "--- response_body cannot be combined with --- response_body_like/_unlike (the real harness ignores one)\n"
        if $has->('response_body') && $has->(qw(response_body_like response_body_unlike));
    die "use only one of --- response_body_like and --- response_body_unlike (the real harness ignores one)\n"
        if $has->('response_body_like') && $has->('response_body_unlike');
    die "use only one of --- request, --- pipelined_requests, --- raw_request\n"
        if $has->(qw(request pipelined_requests raw_request)) > 1;
    die "--- grep_error_log and --- grep_error_log_out go together\n"
        if $has->('grep_error_log') != $has->('grep_error_log_out');
}

sub _count_and_reason {
    my ($sec, $v) = @_;
    $v =~ /^\s*(\d+)\s*:\s*(.*?)\s*$/s or die "bad --- $sec value '$v' (want 'N: ...')\n";
    return ($1, $2);
}

sub _maybe_skip {
    local $Test::Builder::Level = _level();
    my ($block, $desc) = @_;
    my ($n, $why);
    if (defined(my $v = $block->skip_nginx)) {
        ($n, my $cond) = _count_and_reason('skip_nginx', $v);
        my ($op, $ver) = $cond =~ /^(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)$/
            or die "bad --- skip_nginx condition '$cond'\n";
        my $c = _ver_cmp(_nginx_version(), $ver);
        my %ops = ('<' => $c < 0, '<=' => $c <= 0, '>' => $c > 0, '>=' => $c >= 0,
                   '==' => $c == 0, '!=' => $c != 0);
        $why = "nginx version " . _nginx_version() . " $cond" if $ops{$op};
    }
    if (!$why && defined(my $v = $block->skip_eval)) {
        ($n, my $code) = _count_and_reason('skip_eval', $v);
        my $r = eval "package main; $code";
        die "--- skip_eval code failed: $@" if $@;
        $why = "skip_eval: $code" if $r;
    }
    return 0 unless $why;
    $TB->skip("$desc - $why") for 1 .. $n;
    return 1;
}

sub _must_die {
    local $Test::Builder::Level = _level();
    my ($block, $desc, $started, $msg, $code, $log) = @_;
    my $want = _trim($block->must_die);
    if ($started) {
        _stop_nginx();
        $log = _slurp($ErrLogFile) // '';
        $TB->ok(0, "$desc - nginx should fail to start (must_die)");
    } elsif (length $want) {
        $TB->is_num($code, $want, "$desc - nginx failed to start with exit code $want");
    } else {
        $TB->ok(1, "$desc - nginx failed to start (must_die)");
    }
    my $lines = [ split /\n/, $log // '' ];
    _check_patterns($desc, $lines, scalar $block->error_log, 1, 'error.log');
    _check_patterns($desc, $lines, scalar $block->no_error_log, 0, 'error.log');
}

sub _run_block_body {
    local $Test::Builder::Level = _level();
    my ($block, $desc) = @_;
    my $restart = !$Pid || defined $block->must_die
        || grep { defined $block->$_ } @SetupSections;
    if ($restart && $NginxManager) {
        _stop_nginx();
        my ($ok, $msg, $code, $log) = _start_nginx($block);
        ($LastBlock, $LastDesc) = ($block, $desc) if $ok;
        return _must_die($block, $desc, $ok, $msg, $code, $log) if defined $block->must_die;
        if (!$ok) {
            $TB->ok(0, "$desc - nginx failed to start");
            $TB->diag($msg);
            return;
        }
    } else {
        ($ErrPos, $AccPos) = (-s $ErrLogFile // 0, -s $AccLogFile // 0);
        ($LastBlock, $LastDesc) = ($block, $desc);
    }

    my $x = {
        body     => _expand_expected(scalar $block->response_body, 1),
        headers  => _expand_expected(scalar $block->response_headers, 0),
        grep_out => _expand_expected(scalar $block->grep_error_log_out, 1),
    };
    my $conns    = _prepare_requests($block);
    my $n        = List::Util::sum(map { scalar @{ $_->{methods} } } @$conns);
    my $timeout  = _parse_secs(scalar $block->timeout) // $Timeout;
    my $has_logs = grep { defined $block->$_ }
        qw(error_log no_error_log grep_error_log access_log no_access_log);

    if (defined(my $code = $block->init)) {
        eval "package main; $code; 1" or die "--- init failed: $@";
    }

    for my $r (0 .. $RepeatEach - 1) {
        $x->{repeat} = $r;
        my @recs;
        for my $conn (@$conns) {
            my ($data, $err, $timedout) = _exchange($conn, $timeout);
            if ($timedout && !defined $block->abort) {
                $TB->ok(0, "$desc - client socket timed out (timeout ${timeout}s)");
            }
            my @m = @{ $conn->{methods} };
            for my $k (0 .. $#m) {
                my ($rec, $rest) = _parse_response($data, $m[$k], $k == $#m);
                $data = $rest;
                $rec->{error} = $err ? "$err; $rec->{error}" : $err
                    if $err && (!$rec->{res} || $k == $#m);
                push @recs, $rec;
            }
        }
        if (!defined $block->ignore_response) {
            for my $i (0 .. $#recs) {
                _check_response($block, $desc . ($n > 1 ? " (req $i)" : ''), $recs[$i], $i, $x);
            }
        }
        Time::HiRes::sleep(_parse_secs(scalar $block->wait)) if defined $block->wait;
        _settle_logs() if $has_logs;
        my $err = _read_window($ErrLogFile, \$ErrPos);
        my $acc = _read_window($AccLogFile, \$AccPos);
        _scan_alerts($block, $desc, $err);
        # log patterns are counted once per request, as by the real harness
        _check_logs($block, $desc . ($n > 1 ? " (req $_)" : ''), $err, $acc, $x) for 0 .. $n - 1;
    }

    if (defined $block->shutdown_error_log || defined $block->no_shutdown_error_log) {
        my $pos = $ErrPos;
        _stop_nginx();
        my $lines = _read_window($ErrLogFile, \$pos);
        _check_patterns("$desc (shutdown)", $lines, scalar $block->shutdown_error_log, 1, 'error.log');
        _check_patterns("$desc (shutdown)", $lines, scalar $block->no_shutdown_error_log, 0, 'error.log');
    }
}

sub _run_block {
    local $Test::Builder::Level = _level();
    my $block = shift;
    my $desc  = "$0 " . $block->name;
    my $todo  = 0;
    my $ok = eval {
        $_->($block) for @BlockPreprocessors;
        _validate($block);
        return 1 if _maybe_skip($block, $desc);
        if (defined(my $t = $block->todo)) {
            my (undef, $reason) = _count_and_reason('todo', $t);
            $TB->todo_start($reason);
            $todo = 1;
        }
        _run_block_body($block, $desc);
        1;
    };
    if (!$ok) {
        my $e = $@;
        chomp $e;
        $TB->ok(0, "$desc - $e");
    }
    $TB->todo_end if $todo;
    $_->($block) for @TestCleanupHandlers;
}

sub run_tests {
    Test::More::plan('no_plan') unless $TB->has_plan;
    if ($ENV{TEST_NGINX_USE_HUP}) {
        $TB->diag("TEST_NGINX_USE_HUP is not supported by this harness; ignored");
    }
    my @blocks = blocks();
    @blocks = List::Util::shuffle(@blocks) if $Shuffle;
    _run_block($_) for @blocks;
    _stop_nginx() unless $ENV{TEST_NGINX_NO_CLEAN};
}

END {
    if ($$ == $MainPid) {
        local $?;
        if ($ENV{TEST_NGINX_NO_CLEAN}) {
            $TB->diag("TEST_NGINX_NO_CLEAN: nginx (pid $Pid) left running") if $Pid;
        } else {
            _stop_nginx();
            File::Path::remove_tree($ServRoot)
                if $ENV{TEST_NGINX_RANDOMIZE} && !$ENV{TEST_NGINX_SERVROOT}
                   && $ServRoot =~ m{/t/servroot_\d+$};
        }
        $_->() for @CleanupHandlers;
    }
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - clean-room, data-driven nginx test harness compatible
with OpenResty's Test::Nginx::Socket

=head1 SYNOPSIS

    use Test::Nginx::Socket;

    repeat_each(2);
    plan tests => repeat_each() * (3 * blocks());
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "ok\n"; }
    --- request
    GET /t
    --- response_body
    ok
    --- no_error_log
    [error]

Run with C<prove -I t/lib -r t/> (this harness) or
C<prove -I /path/to/test-nginx/lib -r t/> (the real one).  Test files must not
C<use lib>.

=head1 DESCRIPTION

A subclass of L<Test::Base> (C<use Test::Base -base>, lowercase, so no Spiffy
source filter), so C<plan>, C<blocks>, the section filters (C<eval>, C<chomp>,
...), C<ONLY>, C<SKIP> and C<LAST> come from Test::Base unchanged.  Blocks are
shuffled unless C<no_shuffle()> or C<TEST_NGINX_NO_SHUFFLE=1>.

nginx runs as a direct child of the test process (C<daemon off>,
C<nginx -p SERVROOT/ -c conf/nginx.conf -e logs/error.log>), listening on
C<127.0.0.1:PORT>.  It is restarted for every block that has a C<config>,
C<http_config>, C<main_config>, C<post_main_config>, C<user_files>,
C<log_level>, C<post_setup_server_root> or C<must_die> section; a block with
none of these reuses the running nginx.  Before each start C<nginx -t> runs, so
a config error fails that block at once with the C<[emerg]> line (no 30 s retry
loop, no BAIL_OUT).  nginx is ready when its pid file exists and the port is in
LISTEN state (read from F</proc/net/tcp>, so no probe connection shows up in
the logs or shifts the C<*N> connection numbers); polls every 10 ms, 5 s
limit.  Stop: QUIT (repeated each second) for up to 5 s (60 under valgrind), TERM,
wait 1 s, KILL.

The port comes from binding C<127.0.0.1:0> and is reserved for the life of the
file by a UDP socket on the same number, unless C<TEST_NGINX_SERVER_PORT> /
C<TEST_NGINX_PORT> fix it.  The server root is C<t/servroot/FILE-STEM>
(relative to the cwd; C<t/servroot_PORT> under C<TEST_NGINX_RANDOMIZE>,
C<TEST_NGINX_SERVROOT> overrides), so C<prove -j> works without any setting.
C<conf logs html cache *_temp> are wiped before every start and kept after the
run for debugging.

=head1 ASSERTION COUNTS

These follow the real harness, so one C<plan tests =E<gt> ...> line fits
both.  Let N be the number of requests of the block (elements of a
C<request> eval array or of C<pipelined_requests>, otherwise 1) and R the
value of C<repeat_each()>.  A block contributes

    R * N * ( 1                                # status: always checked
              + H_i                            # response_headers: distinct names
                                               #   (or response_headers_like names)
              + raw_response_headers_like/_unlike: 1 each
              + B                              # 1 if response_body, _like or _unlike
              + E + NE                         # error_log / no_error_log patterns
              + G                              # 1 if grep_error_log
              + A + NA )                       # access_log / no_access_log patterns
    + S + NS                                   # (no_)shutdown_error_log patterns, once

=over

=item * With C<ignore_response> the per-request response terms (status,
headers, body) are dropped; the log terms stay.

=item * Log patterns are counted once per request: with N requests each
C<error_log> pattern gives N assertions (the same window is checked N times).
A multi-line section has one pattern per non-empty line; an eval array one per
element (strings are substrings, C<qr//> are regexes matched per line).

=item * C<must_die>: 1 assertion plus one per C<error_log>/C<no_error_log>
pattern (checked against the error log of the failed start), not multiplied by
R or N; no request is sent.

=item * C<skip_nginx: n: E<lt> 1.21.0> and C<skip_eval: n: CODE> emit exactly n
skipped assertions (not multiplied by R).  C<todo: n: reason> marks the
block's assertions TODO.

=item * Additional, unplanned failures: a client timeout without C<abort>
("client socket timed out"), an C<Assertion ... failed> line in error.log,
a failed nginx start (one failure replaces the whole block), an invalid block
(one failure), and, under C<TEST_NGINX_STRICT_LOG=1>, unexpected
C<[alert]>/C<[crit]>/C<[emerg]> or Rust C<panicked at> lines in error.log and
an abnormal exit of nginx (otherwise these are only WARNING diags).

=back

=head1 SECTIONS

Accepted: C<config http_config main_config post_main_config user_files init
post_setup_server_root request pipelined_requests more_headers raw_request curl
error_code error_code_like response_body response_body_like
response_body_unlike response_body_json_sort response_body_filters
response_headers response_headers_like raw_response_headers_like
raw_response_headers_unlike error_log no_error_log grep_error_log
grep_error_log_out access_log no_access_log shutdown_error_log
no_shutdown_error_log timeout abort wait ignore_response log_level must_die
skip_nginx skip_eval todo no_check_leak ONLY SKIP LAST>.

Any other section fails the block with "unsupported here; real Test::Nginx may
accept it" (the real harness silently ignores misspelt sections).  Project
sections read by an C<add_response_body_check> callback can be declared with
C<push @Test::Nginx::Socket::ExtraSections, 'name';> (a harmless no-op under
the real harness).  Combinations where the real harness silently ignores one
section are rejected: C<response_headers> + C<response_headers_like>,
C<response_body> + C<response_body_like>/C<_unlike>, C<response_body_like> +
C<response_body_unlike>.

C<$TEST_NGINX_[A-Z0-9_]+> is expanded from C<%ENV> in C<config>,
C<http_config>, C<main_config>, C<post_main_config>, C<user_files>, each
C<pipelined_requests> entry, the expected C<response_body> and
C<grep_error_log_out> (not in C<request>, C<more_headers> or
C<response_headers>, as in the real harness).  The expected body and header
values also get a literal C<$ServerPort> / C<$ServerPortForClient> replaced.
C<$TEST_NGINX_RAND_PORT_n> gets a free port (stable for the file).  An
undefined variable fails the block (and so the file), it is not a BAIL_OUT.

Requests: C<METHOD [URI [HTTP/x]]> then optional body lines; the body is
stripped of leading and trailing whitespace and gets a Content-Length;
C<Host: localhost> and C<Connection: close> are added unless C<more_headers>
has them.  C<pipelined_requests> sends all on one connection with
C<Connection: keep-alive> on all but the last.  C<response_body_json_sort>
re-encodes the actual body canonically (sorted keys, compact, plus "\n")
before the C<response_body> comparison.

Log checks: after all requests of one repeat, C<--- wait> seconds and a
short settle (3 x C<TEST_NGINX_SLEEP>, then until the log files stop growing,
at most 0.5 s), the lines written to error.log / access.log since the previous
repeat (since the start, with C<check_accum_error_log()>) are read once and
every pattern is checked against them once per request.  After a restart the
window starts at the beginning of the new log (which includes the startup
lines).  C<shutdown_error_log> windows start after the last repeat and include
everything up to the exit of nginx.

=head1 ENVIRONMENT

C<TEST_NGINX_BINARY> (default C<nginx> in PATH), C<TEST_NGINX_SERVER_PORT>,
C<TEST_NGINX_PORT>, C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_RANDOMIZE>,
C<TEST_NGINX_SERVROOT>, C<TEST_NGINX_LOAD_MODULES> (space-separated paths,
each a C<load_module> line at the top of nginx.conf; relative paths are made
absolute), C<TEST_NGINX_NO_CLEAN> (leave nginx running), C<TEST_NGINX_LOG_LEVEL>
(debug), C<TEST_NGINX_MASTER_PROCESS> (off), C<TEST_NGINX_TIMEOUT> (3),
C<TEST_NGINX_SLEEP> (0.015), C<TEST_NGINX_VERBOSE>, C<TEST_NGINX_ERROR_LOG>
(append each error.log there), C<TEST_NGINX_USE_VALGRIND[=opts]> (run nginx
under valgrind memcheck; reports go to stderr and do not fail tests),
C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_FAST_SHUTDOWN>, C<TEST_NGINX_STRICT_LOG>
(ours only).  The harness sets C<TEST_NGINX_SERVER_PORT>,
C<TEST_NGINX_SERVER_ROOT> and C<TEST_NGINX_HTML_DIR>.

=head1 DIFFERENCES FROM THE REAL HARNESS

=over

=item * Random port and per-file server root by default (the real one uses
1984 and C<t/servroot>); listens on 127.0.0.1 only; nginx is a foreground
child, not a daemon; readiness is checked in F</proc/net/tcp> rather than by a
probe connection.

=item * Config errors fail the block at once instead of retrying for 30 s and
bailing out; an undefined C<$TEST_NGINX_*> fails the block instead of bailing
out.

=item * Unknown sections and the ambiguous combinations listed above are
errors (the real harness ignores them silently).

=item * Log checks run after all requests of a repeat (the count is the
same).  Not verified against the real harness: whether C<must_die>,
C<shutdown_error_log> and C<skip_nginx>/C<skip_eval> counts are multiplied by
C<repeat_each>; here they are not (suites with C<must_die> blocks commonly use
C<repeat_each(1)>).

=item * Not supported: C<request> "parts" arrays (split writes), HUP mode
(C<use_hup>, C<TEST_NGINX_USE_HUP>), HTTP/2 and HTTP/3, C<TEST_NGINX_CHECK_LEAK>,
stap/rr, mockeagain, C<TEST_NGINX_IGNORE_MISSING_DIRECTIVES>.

=back

=cut
