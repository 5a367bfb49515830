# Live PV/UV counters (src/stats) across processes and reloads, nginx-tests style (t::Nginx):
# two workers counting at once lose nothing (the zone's lock), a reload (HUP) keeps the
# counters, also when locations change, a refused reload leaves them alone, and a new zone
# size starts from zero (as for any nginx zone).
#
#   prove -I t/lib -I . t/stats_reload.t
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use t::Music ();
use t::Nginx;

plan tests => 25;

sub conf {
    my ($port, %o) = @_;
    my $size = $o{size} // '1m';
    my $extra = $o{extra} // '';
    return <<"EOC";
worker_processes 2;
events { worker_connections 1024; }
http {
    log_format pid '\$pid';
    access_log logs/access.log pid;
    music_stats_zone stats:$size;
    server {
        # reuseport: the kernel spreads the connections over both workers
        listen 127.0.0.1:$port reuseport;
        location /a { music_stats_count stats; return 204; }
        location /b { music_stats_count stats; return 204; }
        $extra
        location /stats { music_stats stats; }
    }
}
EOC
}

my $n = t::Nginx->new(name => 'stats-reload');
$n->write_conf(conf($n->port));
$n->start;

sub get { t::Music::request('GET', $_[0], close => 1) }

sub page {
    my ($r) = $n->parallel(5, get('/stats'));
    return undef unless $r->{status} == 200;
    return decode_json($r->{body});
}

sub today { $_[0]{days}[0] }

# Sends HUP and waits until the old workers are gone and two new ones serve.
sub reload {
    my @old = $n->workers;
    $n->signal('HUP');
    my %old = map { $_ => 1 } @old;
    my $deadline = time + 10;
    while (time < $deadline) {
        my @now = $n->workers;
        last if @now == 2 && !grep { $old{$_} } @now;
        sleep 0.05;
    }
    my @now = $n->workers;
    return @now == 2 && !grep { $old{$_} } @now;
}

{   # two workers counting at once
    my @answers = $n->parallel(20, (get('/a')) x 200, (get('/b')) x 50);
    is(scalar(grep { $_->{status} == 204 } @answers), 250, '250 requests answered');
    my $p = page();
    is(today($p)->{pv}, 250, 'PV: every request of both workers counted');
    is(today($p)->{routes}{'/a'}{pv}, 200, '  /a: 200');
    is(today($p)->{routes}{'/b'}{pv}, 50, '  /b: 50');
    is(today($p)->{uv}, 1, 'UV: one client address');
    is($p->{days_kept}, 7, '1m keeps 7 days');
    open my $fh, '<', $n->root . '/logs/access.log' or die $!;
    my %pids = map { chomp; $_ => 1 } <$fh>;
    cmp_ok(scalar(keys %pids), '>=', 2, 'both workers answered some of them');
}

{   # a reload with the same zone keeps the counters
    ok(reload(), 'HUP: new workers');
    like($n->error_log, qr/music_stats_zone "stats" keeps its counters from the previous configuration \(7 days\)/,
        'the zone was handed over (logged)');
    $n->parallel(5, get('/a')) for 1 .. 5;
    my $p = page();
    is(today($p)->{pv}, 255, 'PV after the reload: 250 + 5');
    is(today($p)->{routes}{'/a'}{pv}, 205, '  /a: 205');
    is(today($p)->{uv}, 1, 'UV still one visitor (the sketch was kept too)');
}

{   # a reload that adds a counted location
    $n->write_conf(conf($n->port, extra => 'location /c { music_stats_count stats; return 204; }'));
    ok(reload(), 'HUP with a new location: new workers');
    $n->parallel(5, get('/c')) for 1 .. 3;
    my $p = page();
    is(today($p)->{pv}, 258, 'PV kept, and the new location counts');
    is(today($p)->{routes}{'/c'}{pv}, 3, '  /c: 3');
    is(today($p)->{routes}{'/b'}{pv}, 50, '  /b: still 50');
}

{   # a refused configuration: nginx keeps the running one, and the counters
    $n->write_conf(conf($n->port, size => '64k'));
    my @before = $n->workers;
    $n->signal('HUP');
    my $deadline = time + 5;
    sleep 0.05 while time < $deadline && $n->error_log !~ /zone "stats" is too small/;
    like($n->error_log, qr/\[emerg\] .*zone "stats" is too small/, 'a zone too small: the reload is refused');
    is_deeply([ $n->workers ], \@before, 'the same workers serve');
    is(today(page())->{pv}, 258, 'with the same counters');
}

{   # a new size is a new zone: counters start from zero
    $n->write_conf(conf($n->port, size => '2m'));
    ok(reload(), 'HUP with a 2m zone: new workers');
    my $p = page();
    is($p->{days_kept}, 14, '2m keeps 14 days');
    is(today($p)->{pv}, 0, 'and starts from zero');
    $n->parallel(5, get('/a'));
    is(today(page())->{pv}, 1, 'and counts');
}

$n->stop;
my $log = $n->error_log;
unlike($log, qr/\[alert\]|\[crit\]/, 'no [alert] or [crit] in the error log');
unlike($log, qr/exited on signal/, 'no worker crashed');
