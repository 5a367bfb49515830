# bench/summarize.py: the composed ceiling and the targets of build/bench's report, from a
# results directory written here (the raw files build/bench leaves: manifest.tsv, wrk and
# pgbench outputs, instructions.txt, keepalive.tsv):
#   - composed ceiling = 1/(1/nginx return + 1/pgbench), ratio module / composed, PASS/MISS
#     against each workload's target (single-row GET >= 1.0, list, POST, PATCH >= 0.9);
#     GET /api/ against nginx alone (>= 0.9); at every concurrency measured;
#   - a workload with a non-2xx answer is ERR and fails its targets whatever its ratio;
#   - pgbench capped at BENCH_PG_MAX_CONNS clients says so in the table;
#   - p99 at 32 connections <= 5 ms; no non-2xx in any run; instructions per single-row GET
#     <= 40,000; 10,000 idle keep-alive connections cost no throughput.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $d = tempdir('ngx-music-summarize.XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub put {
    my ($name, $text) = @_;
    open my $fh, '>', "$d/$name" or die $!;
    print $fh $text;
    close $fh;
}
my @manifest;
sub wrk {
    my ($id, $stack, $conns, $rps, %o) = @_;
    my $p99 = $o{p99} // '4.00ms';
    my $non2xx = $o{non2xx} ? "  Non-2xx or 3xx responses: $o{non2xx}\n" : '';
    put("$id.run1.txt", "Running 8s test @ http://127.0.0.1/\n  Latency Distribution\n     50%    1.00ms\n"
        . "     99%    $p99\n  " . int($rps * 8) . " requests in 8.00s, 10.00MB read\n$non2xx"
        . "Requests/sec:  $rps\nCPU wall=8.0 busy=2.0 load=0.2 nginx=0.9 rest=0.1 cores=2\n");
    push @manifest, join("\t", $id, $stack, $o{desc} // $id, $conns, 'wrk');
}
sub pgbench {
    my ($id, $conns, $tps, $desc) = @_;
    put("$id.run1.txt", "number of transactions actually processed: " . int($tps * 8) . "\ntps = $tps (without initial connection time)\n");
    push @manifest, join("\t", $id, 'pgbench', $desc // $id, $conns, 'pgbench');
}

for my $c (32, 512) {
    wrk("root-c$c", 'ours', $c, 60000);
    wrk("static-root-c$c", 'static', $c, 80000);
    wrk("get1-c$c", 'ours', $c, 30000);
    wrk("static-get1-c$c", 'static', $c, 100000);
    pgbench("pg-single-c$c", $c, 40000, $c > 128 ? 'pgbench RETRIEVE, 128 clients (BENCH_PG_MAX_CONNS)' : undef);
    wrk("list-c$c", 'ours', $c, 9000, p99 => '6.00ms');
    wrk("static-list-c$c", 'static', $c, 50000);
    pgbench("pg-list-c$c", $c, 14000);
    wrk("post-c$c", 'ours', $c, 20000, non2xx => ($c == 512 ? 3 : 0));
    wrk("static-post-c$c", 'static', $c, 90000);
    pgbench("pg-insert-c$c", $c, 20000);
}
wrk('keepalive-none-c32', 'ours', 32, 30000);
wrk('keepalive-idle-c32', 'ours', 32, 29000);
put('keepalive.tsv', "keepalive\tconns=10000\theld=10000\tok=10000\tfailed=0\tseconds=0.6\twaiting_before=10000\t"
    . "waiting_after=10000\tstill_open=10000\tclosed_by_server=0\trefreshed=0\tworker_connections=12000\n");
put('instructions.txt', "single instructions_per_request=39000 ir_warm=1 ir_total=2 count=2000\n");
put('manifest.tsv', join("\n", @manifest) . "\n");

my $out = `python3 $ROOT/bench/summarize.py $d 2>&1`;
is($? >> 8, 0, 'summarize.py runs') or diag($out);

# 1/(1/100000 + 1/40000) = 28571; 30000 / 28571 = 1.05
like($out, qr/^\| GET \/api\/musics\/1\/ Basic \| 32 \| \*\*30000\*\* \(30000\) \| 100000 \| 40000 \| 28571 \| \*\*1\.05\*\* \| >= 1\.0 \| PASS \|$/m,
    'single-row GET: the composed ceiling, its ratio, PASS at >= 1.0');
# 1/(1/50000 + 1/14000) = 10938; 9000 / 10938 = 0.82
like($out, qr/^\| GET \/api\/musics\/ \(list\) \| 32 \| .* \| 50000 \| 14000 \| 10938 \| \*\*0\.82\*\* \| >= 0\.9 \| MISS \|$/m,
    'list: ratio 0.82, MISS at >= 0.9');
like($out, qr/^\| GET \/api\/ .*\| 32 \| .* \| 80000 \| - \| 80000 \| \*\*0\.75\*\* \| >= 0\.9 \| MISS \|$/m,
    'GET /api/: against nginx alone');
# 1/(1/90000 + 1/20000) = 16364; 20000 / 16364 = 1.22
like($out, qr/^\| POST \/api\/musics\/ \| 32 \| .* \| \*\*1\.22\*\* \| >= 0\.9 \| PASS \|$/m, 'POST at 32: PASS');
like($out, qr/^\| POST \/api\/musics\/ \| 512 \| \*\*ERR\*\* .* \| \*\*1\.22\*\* \| >= 0\.9 \| MISS \|$/m,
    'POST at 512 with non-2xx answers: ERR and MISS whatever the ratio');
like($out, qr/^- \*\*MISS\*\* post-c512: .*; errors in post-c512$/m, 'the target names the workload with errors');
like($out, qr/^\| GET \/api\/musics\/1\/ Basic \| 512 \| .* \| 40000 \(128 clients\) \|/m,
    'at 512 connections the table says pgbench ran 128 clients');
like($out, qr/^- \*\*PASS\*\* get1-c512: GET \/api\/musics\/1\/ Basic, 512 conns: module \/ composed ceiling >= 1\.0/m,
    'the ceiling is judged at every concurrency');
like($out, qr/^- \*\*PASS\*\* get1-c32: p99 at 32 conns <= 5 ms: 4\.00 ms$/m, 'p99 4 ms: PASS');
like($out, qr/^- \*\*MISS\*\* list-c32: p99 at 32 conns <= 5 ms: 6\.00 ms$/m, 'p99 6 ms: MISS');
unlike($out, qr/p99 at 32 conns.*keepalive/, 'p99 is judged on the API\'s workloads only');
like($out, qr/^- \*\*MISS\*\* no non-2xx answer .*: post-c512 3$/m, 'no non-2xx in any run: MISS, naming the run');
like($out, qr/^- \*\*PASS\*\* instructions per single-row GET .* <= 40,000: 39,000$/m, 'instructions: PASS at 39,000');
like($out, qr/^- \*\*PASS\*\* keepalive-idle-c32: 10,000 idle keep-alive connections cost no throughput .*= 0\.97 x; held 10,000 of 10,000$/m,
    'idle keep-alive connections: 0.97 x within the noise allowance, all held');

# no idle connection held: the same throughput does not pass
put('keepalive.tsv', "keepalive\tconns=10000\theld=10000\twaiting_before=10000\twaiting_after=40\tstill_open=40\n");
$out = `python3 $ROOT/bench/summarize.py $d 2>&1`;
like($out, qr/^- \*\*MISS\*\* keepalive-idle-c32: .*held 40 of 10,000$/m,
    'idle keep-alive connections closed by nginx during the runs: MISS');

done_testing();
