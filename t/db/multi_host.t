# Several hosts in music_database, libpq's way: a primary and a streaming standby
# (pg_basebackup -R, both private clusters of this test on free 127.0.0.1 ports), and each
# target_session_attrs value must land on the right one, seen in each server's
# pg_stat_activity. A write that reaches the standby anyway is 503 "Database unavailable."
# (never a 500); an authentication failure on a reachable host ends the search; with the
# standby down prefer-standby falls back to the primary and standby finds nothing.
use strict;
use warnings;
use Test::More;
use t::Music;
use t::Fault qw(start_nginx stop_nginx wait_until);
use t::Replica qw(standby_of);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $primary = t::Fault::Pg->new;
$primary->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
my $standby = standby_of($primary);
wait_until(10, sub { ($standby->psql('SELECT count(*) FROM music', allow_fail => 1) // 0) == 1 })
    or BAIL_OUT('the standby did not replay the row');
my ($pass) = $primary->url =~ m{://[^:]+:([^@]+)@} or die 'no password in ' . $primary->url;
my %port = (primary => $primary->port, standby => $standby->port);

my $auth = "$t::Music::admin\r\n";
my $unavailable = '{"detail":"Database unavailable."}';
my $json = "Content-Type: application/json\r\n";

sub url_of {
    my ($attrs, @hosts) = @_;
    my $list = join ',', map { "127.0.0.1:$port{$_}" } @hosts;
    return "postgres://postgres:$pass\@$list/postgres?target_session_attrs=$attrs";
}

# The module's sessions on each server while nginx (one worker) is up after one request;
# returns (answer, "primary N standby M", error log).
sub one_request {
    my ($url, $request, %o) = @_;
    my $n = start_nginx(name => 'multi_host', url => $url, workers => 1,
        http => 'music_connect_timeout 2s; music_pool_timeout 3s;');
    my ($r) = $n->parallel(10, $request);
    my $where = join ' ', map {
        my $pg = $_ eq 'primary' ? $primary : $standby;
        my $count = $o{down} && $o{down} eq $_ ? 0 : $pg->count_backends;
        "$_ $count"
    } qw(primary standby);
    my $log = $n->error_log;
    stop_nginx($n);
    return ($r, $where, $log);
}

my $get = t::Music::request('GET', '/api/musics/1/detail/', headers => $auth, close => 1);
my $post = t::Music::request('POST', '/api/musics/', headers => $auth . $json, close => 1,
    body => '{"song":"written","singer":"w"}');

# Each value with the hosts in the order that makes the choice visible: the first host listed
# does not qualify, so landing on the second is the selection at work.
for my $case (
    ['any', [qw(standby primary)], 'standby'],
    ['read-write', [qw(standby primary)], 'primary'],
    ['primary', [qw(standby primary)], 'primary'],
    ['read-only', [qw(primary standby)], 'standby'],
    ['standby', [qw(primary standby)], 'standby'],
    ['prefer-standby', [qw(primary standby)], 'standby'],
) {
    my ($attrs, $hosts, $want) = @$case;
    my ($r, $where, $log) = one_request(url_of($attrs, @$hosts), $get);
    is($r->{status}, 200, "target_session_attrs=$attrs, hosts @$hosts: 200") or diag $log;
    my $other = $want eq 'primary' ? 'standby' : 'primary';
    like($where, qr/\b$want [1-9]/, "target_session_attrs=$attrs: a session on the $want");
    like($where, qr/\b$other 0\b/, "target_session_attrs=$attrs: none on the $other ($where)");
}

# load_balance_hosts=random: every new connection draws the order again. One worker, its
# session ended after each request, so each request opens a connection: over 12 of them both
# servers get some (all on one: a chance of 1 in 2048), where in order all go to the first.
{
    my $url = url_of('any', qw(standby primary)) . '&load_balance_hosts=random';
    my $n = start_nginx(name => 'multi_host', url => $url, workers => 1,
        http => 'music_connect_timeout 2s; music_pool_timeout 3s; music_pool_size 1;');
    my %on;
    for (1 .. 12) {
        my ($r) = $n->parallel(10, $get);
        my @where = grep { ($_ eq 'primary' ? $primary : $standby)->count_backends } qw(primary standby);
        $on{"$r->{status} @where"}++;
        for my $pg ($primary, $standby) {
            $pg->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ngx-music'});
        }
        wait_until(3, sub { !$primary->count_backends && !$standby->count_backends }, 0.05);
        sleep 0.2;
    }
    my $seen = join ', ', map { "$_: $on{$_}" } sort keys %on;
    ok($on{'200 primary'} && $on{'200 standby'} && $on{'200 primary'} + $on{'200 standby'} == 12,
        "load_balance_hosts=random: the connections spread over both servers ($seen)");
    stop_nginx($n);
}

# The standby is listed first and any server will do: a write reaches it.
{
    my ($r, $where, $log) = one_request(url_of('any', qw(standby primary)), $post);
    is("$r->{status} $r->{body}", "503 $unavailable", 'a write on the standby: 503, not 500');
    like($log, qr/\[error\].*read-only transaction.*a write reached a read-only server/,
        'the error log says the write reached a read-only server');
}

# read-write: the same write goes to the primary.
{
    my ($r, $where, $log) = one_request(url_of('read-write', qw(standby primary)), $post);
    is($r->{status}, 201, 'read-write: the write lands on the primary: 201') or diag $log;
}

# libpq stops at an authentication failure on a reachable host (the next host would refuse
# the same credentials): the standby's pg_hba.conf now rejects TCP sessions.
{
    open my $fh, '>', $standby->dir . '/pg_hba.conf' or die $!;
    print $fh "local all all peer map=ngx_music\nhost all all 127.0.0.1/32 reject\n";
    close $fh;
    my $pid = $standby->postmaster_pid or die 'standby not running';
    kill 'HUP', $pid;
    {
        # psql's own refusal message is expected here, not worth showing
        open my $saved, '>&', \*STDERR or die $!;
        open STDERR, '>', '/dev/null' or die $!;
        my $refused = wait_until(10, sub { !defined $standby->psql('SELECT 1', allow_fail => 1, timeout => 3) }, 0.2);
        open STDERR, '>&', $saved or die $!;
        $refused or die 'the standby still accepts TCP sessions';
    }
    my ($r, $where, $log) = one_request(url_of('any', qw(standby primary)), $get, down => 'standby');
    is("$r->{status} $r->{body}", "503 $unavailable", 'an authentication failure on the first host: 503');
    like($where, qr/\bprimary 0\b/, 'the primary after it was not tried');
    like($log, qr/\[error\].*pg_hba\.conf rejects connection/, 'the error log gives the server\'s refusal');
}

# The standby down: prefer-standby takes the primary; standby finds no server.
$standby->stop('fast');
{
    my ($r, $where, $log) = one_request(url_of('prefer-standby', qw(standby primary)), $get, down => 'standby');
    is($r->{status}, 200, 'prefer-standby with the standby down: 200') or diag $log;
    like($where, qr/\bprimary [1-9]/, 'prefer-standby with the standby down: on the primary');

    ($r, $where, $log) = one_request(url_of('standby', qw(standby primary)), $get, down => 'standby');
    is("$r->{status} $r->{body}", "503 $unavailable", 'standby with no standby up: 503');
    like($log, qr/\[error\].*is a primary, not a server for target_session_attrs=standby/,
        'the error log says the primary does not qualify');
}

done_testing;
