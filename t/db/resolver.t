# Live DNS: music_database names its server "db.test", which only the test's own DNS server
# (a forked Perl UDP server on 127.0.0.1, answering A records with a TTL of 1 s) knows, and
# nginx's `resolver` points at it. Two clusters listen on the same port: A on 127.0.0.1
# (t::Fault::Pg), B on 127.0.0.2 (a copy of A made with pg_basebackup, its own server).
# db.test first says 127.0.0.1, then 127.0.0.2: once A's sessions end, the module's new
# connections go to B, without a reload. Without a `resolver`, a name that does not resolve
# when the configuration is read fails nginx -t, as before.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use File::Temp ();
use POSIX ();
use Time::HiRes qw(time sleep);
use t::Music;
use t::Nginx;
use t::Fault qw(start_nginx stop_nginx wait_until);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $pga = t::Fault::Pg->new;
$pga->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
my $port = $pga->port;
my $pgb = copy_on_127_0_0_2($pga);
$pga->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('on-a', 'a', now(), now())});
$pgb->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('on-b', 'b', now(), now())});

# B: a base backup of A (not a standby: no -R), started on 127.0.0.2 with A's port.
sub copy_on_127_0_0_2 {
    my ($from) = @_;
    my $area = File::Temp::tempdir('ngx-music-dns.XXXXXX', TMPDIR => 1, CLEANUP => 0);
    chmod 0755, $area;
    my $self = bless { area => $area, dir => "$area/pg", port => $from->port, root => $from->{root},
        owner => $$, frozen => [] }, 't::Fault::Pg';
    push @t::Fault::Pg::CLUSTERS, $self;
    open my $fh, '>>', $from->dir . '/pg_hba.conf' or die $!;
    print $fh "host replication all 127.0.0.1/32 scram-sha-256\n";
    close $fh;
    $from->psql('SELECT pg_reload_conf()');
    my ($uid, $gid) = (stat $from->dir)[4, 5];
    my $as = $uid == $> ? '' : 'runuser -u ' . getpwuid($uid) . ' --';
    for my $d ($self->{dir}, "$area/sock") {
        mkdir $d or die "$d: $!";
        chmod 0700, $d;
        chown $uid, $gid, $d;
    }
    my $bin = t::Fault::Pg::pgbin();
    my $out = `cd / && $as $bin/pg_basebackup -d '${\ $from->url}' -D $self->{dir} -X stream -c fast 2>&1`;
    die "pg_basebackup: $out" if $?;
    open $fh, '>', "$self->{dir}.log" or die $!;
    close $fh;
    chown $uid, $gid, "$self->{dir}.log";
    open $fh, '>>', "$self->{dir}/pg_hba.conf" or die $!;
    print $fh "host all all 127.0.0.0/8 scram-sha-256\n";
    close $fh;
    $out = `cd / && $as $bin/pg_ctl -D $self->{dir} -l $self->{dir}.log -w -t 60 -o "-c listen_addresses=127.0.0.2 -p $self->{port} -k $area/sock" start 2>&1`;
    die "pg_ctl start (127.0.0.2): $out" if $?;
    ($self->{url} = $from->url) =~ s/\@127\.0\.0\.1:/\@127.0.0.2:/ or die;
    return $self;
}

# The DNS server: the address of db.test is read from a file on every query.
my $dns_dir = File::Temp::tempdir('ngx-music-dnsd.XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub set_address {
    open my $fh, '>', "$dns_dir/addr.tmp" or die $!;
    print $fh "$_[0]\n";
    close $fh;
    rename "$dns_dir/addr.tmp", "$dns_dir/addr" or die $!;
}
set_address('127.0.0.1');
my $dns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die "udp: $!";
my $dns_port = $dns->sockport;
my $queries = "$dns_dir/queries";
my $dns_pid = fork // die "fork: $!";
if ($dns_pid == 0) {
    dns_server($dns);
    POSIX::_exit(0);
}
close $dns;
END { if ($dns_pid) { kill 'TERM', $dns_pid; waitpid $dns_pid, 0 } }

sub dns_server {
    my ($sock) = @_;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $deadline = time + 300;
    while (time < $deadline) {
        my $peer = $sock->recv(my $q, 512) // next;
        next if length $q < 12;
        my ($id, $flags, $qd) = unpack 'n n n', $q;
        my $pos = 12;
        my @labels;
        while ($pos < length $q) {
            my $len = ord substr $q, $pos, 1;
            $pos++;
            last if $len == 0;
            push @labels, substr $q, $pos, $len;
            $pos += $len;
        }
        my ($type, $class) = unpack 'n n', substr $q, $pos, 4;
        my $question = substr $q, 12, $pos + 4 - 12;
        my $name = lc join '.', @labels;
        open my $log, '>>', $queries;
        print $log "$name $type\n";
        close $log;
        my ($rcode, @answers) = (3);
        open my $fh, '<', "$dns_dir/addr";
        chomp(my $ip = <$fh> // '');
        # "none": db.test does not exist (NXDOMAIN)
        if ($name eq 'db.test' && $ip ne 'none') {
            $rcode = 0;
            if ($type == 1) {
                # a pointer to the question's name, A, IN, TTL 1 s, 4 bytes
                push @answers, pack('n n n N n', 0xc00c, 1, 1, 1, 4) . pack('C4', split /\./, $ip);
            }
        }
        my $reply = pack('n n n n n n', $id, 0x8180 | $rcode, 1, scalar @answers, 0, 0) . $question . join '', @answers;
        $sock->send($reply, 0, $peer);
    }
}

my $auth = "$t::Music::admin\r\n";
my ($pass) = $pga->url =~ m{://[^:]+:([^@]+)@} or die;
my $url = "postgres://postgres:$pass\@db.test:$port/postgres";

# Without a resolver, db.test does not resolve when the configuration is read.
{
    my $n = t::Nginx->new(name => 'resolver-none');
    $n->write_conf(t::Fault::nginx_conf(port => $n->port, url => $url, workers => 1));
    eval { $n->start };
    my $out = $@;
    like($out, qr/\[emerg\].*"music_api" in location "\/api\/": host "db\.test" not found: .* \(or set a "resolver" to look it up when connecting\)/,
        'no resolver: a name that does not resolve fails nginx -t');
}

my $n = start_nginx(name => 'resolver', url => $url, workers => 1,
    http => "resolver 127.0.0.1:$dns_port valid=1s ipv6=off; resolver_timeout 2s; music_connect_timeout 2s; music_pool_timeout 3s;");
sub list {
    my ($r) = $n->parallel(10, t::Music::request('GET', '/api/musics/', headers => $auth, close => 1));
    return "$r->{status} " . ($r->{body} =~ /"on-a"/ ? 'A' : $r->{body} =~ /"on-b"/ ? 'B' : '?');
}
is(list(), '200 A', 'db.test is 127.0.0.1: the list comes from A');
ok(-s $queries && `cat $queries` =~ /^db\.test 1$/m, 'nginx asked the test\'s DNS server for db.test');

set_address('127.0.0.2');
sleep 1.5;   # the answer's 1 s validity (valid=1s) runs out
# A's sessions end (as when its container goes away); the next connection looks the name up
$pga->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
my @seen;
# A connection that was being opened while A's sessions were terminated reached A; each
# answer from A ends A's sessions again, so only the name's new address can answer B.
ok(wait_until(10, sub {
        push @seen, list();
        return 1 if $seen[-1] eq '200 B';
        $pga->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
        return 0;
    }, 0.2),
    'db.test is 127.0.0.2 now: the list comes from B, with no reload') or diag "answers: @seen";
my @sessions = $pgb->backends;
ok(@sessions >= 1, 'the module has sessions on B');

# db.test gone from the DNS: new connections fail like an unreachable server (503, the reason
# logged); back again: the module reconnects by itself.
set_address('none');
sleep 1.5;
# As above: a session that was being opened while B's were terminated may still answer; each
# answer from B ends B's sessions again, so only a new connection, which must look the name
# up and not find it, can answer now.
@seen = ();
ok(wait_until(10, sub {
        $pgb->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
        wait_until(3, sub { !$pgb->count_backends }, 0.05);
        push @seen, list();
        return $seen[-1] eq '503 ?';
    }, 0.2),
    'db.test not found: 503') or diag "answers: @seen";
like($n->error_log, qr/\[error\].*music: database unavailable: host "db\.test" not found: Host not found/,
    'the error log says the name was not found');
set_address('127.0.0.2');
@seen = ();
ok(wait_until(10, sub { push @seen, list(); $seen[-1] eq '200 B' }, 0.3),
    'db.test back: the module reconnects without a reload') or diag "answers: @seen";
like($n->error_log, qr/^(?!.*\[(alert|crit|emerg)\])/s, 'no alert in the error log');
stop_nginx($n);

done_testing;
