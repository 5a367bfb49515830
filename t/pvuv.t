# build/pvuv (docs/api.md): PV per day/hour/minute, UV per day and overall, top URLs/clients and
# slow requests from access logs in the shipped "main" log_format. The samples and their
# hand-computed answers are in t/pvuv/ (two-days.log crosses midnight and has hostile user
# agents, IPv6 clients, a "-" request line and 3 malformed lines; years-*.log cross a year
# and mix 'Mar'/'Apr'/'Dec'/'Jan' so that lexical order would be wrong).
use strict;
use warnings;
use Test::More;
use FindBin;
use File::Temp qw(tempdir);
use IO::Compress::Gzip qw(gzip $GzipError);
use JSON::PP;

my $script  = "$FindBin::Bin/../build/pvuv";
my $samples = "$FindBin::Bin/pvuv";
my $tmp     = tempdir(CLEANUP => 1);
my $json    = JSON::PP->new->utf8;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; return scalar <$fh> }

# run($stdin_file_or_undef, @args) -> (exit code, stdout, stderr); no shell involved
sub run {
    my ($stdin, @args) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN,  '<', $stdin // '/dev/null' or die $!;
        open STDOUT, '>', "$tmp/out"            or die $!;
        open STDERR, '>', "$tmp/err"            or die $!;
        exec $script, @args or exit 127;
    }
    waitpid $pid, 0;
    return ($? >> 8, slurp("$tmp/out"), slurp("$tmp/err"));
}

sub run_json {
    my ($stdin, @args) = @_;
    my ($rc, $out, $err) = run($stdin, '--json', @args);
    return ($rc, (eval { $json->decode($out) } // { unparsable => $out }), $err, $out);
}

ok -x $script, 'build/pvuv is executable';

my $two_days = "$samples/two-days.log";
my $expected = $json->decode(slurp("$samples/two-days.expected.json"));

# --- the two-day sample against the hand-computed answer
my ($rc, $got, $err) = run_json(undef, $two_days);
is $rc, 0, 'two-days: exit 0';
is_deeply $got, $expected, 'two-days: --json matches t/pvuv/two-days.expected.json';
like $err, qr/^pvuv: skipped 3 malformed lines$/m, 'two-days: malformed lines reported on stderr';
is $got->{malformed}, 3,  'two-days: 3 malformed lines counted';
is $got->{lines},     14, 'two-days: 14 non-blank lines read (the blank one is ignored)';

# key formats: "YYYY-MM-DD", "YYYY-MM-DD HH", "YYYY-MM-DD HH:MM" in the log's own time
is $got->{pv}{by_hour}{'2022-04-05 03'},      3, 'hour key "2022-04-05 03" for [05/Apr/2022:03:45:05 +0800]';
is $got->{pv}{by_minute}{'2022-04-05 03:45'}, 2, 'minute key "2022-04-05 03:45"';
is $got->{pv}{by_hour}{'2022-04-06 00'},      6, 'after midnight: hour "2022-04-06 00"';
is_deeply [ grep { /22:03/ } keys %{ $got->{pv}{by_minute} } ], [],
    'no "22:03"-style keys (the original recipe cut the year into the hour)';
is_deeply $got->{uv}, { total => 5, by_day => { '2022-04-05' => 4, '2022-04-06' => 5 } },
    'UV per day and overall (IPv4 and IPv6 clients)';

# slow requests: the LAST field, whatever the user agent contains
is_deeply [ map { $_->{request_time} } @{ $got->{slow}{requests} } ], [ 3.25, 2.5, 1.204 ],
    'slow requests over 1.0 s, slowest first (exactly 1.000 is not over)';
is $got->{slow}{requests}[0]{status}, 204,
    'status/request_time right despite an unescaped \'" 200 999 "\' in the user agent';
(undef, my $slow, undef) = run_json(undef, '--slow', '0.005', $two_days);
is $slow->{slow}{count}, 5, '--slow 0.005: five requests';
(undef, $slow, undef) = run_json(undef, '--slow', '3.25', $two_days);
is $slow->{slow}{count}, 0, '--slow 3.25: none (strictly over)';

(undef, my $top, undef) = run_json(undef, '--top', '2', $two_days);
is_deeply [ map { $_->{url} } @{ $top->{top_urls} } ], [ '/api/musics/', '/api/musics/1/' ],
    '--top 2 URLs (query strings stripped, ties by name)';
is_deeply [ map { $_->{client} } @{ $top->{top_clients} } ], [ '127.0.0.1', '10.0.0.7' ],
    '--top 2 clients';

# --- stdin and gzip
($rc, $got) = run_json($two_days, '-');
is_deeply $got, $expected, 'reads stdin ("-")';
gzip $two_days => "$tmp/access.log.gz" or die $GzipError;
($rc, $got) = run_json(undef, "$tmp/access.log.gz");
is_deeply $got, $expected, 'reads a .gz file';
($rc, $got) = run_json("$tmp/access.log.gz", '-');
is_deeply $got, $expected, 'reads gzip data on stdin';

# --- several files, out of order, across a year: chronological, not lexical
my @years = ("$samples/years-a.log", "$samples/years-b.log");
($rc, $got, $err, my $raw) = run_json(undef, @years);
is_deeply $got, $json->decode(slurp("$samples/years.expected.json")),
    'years: --json matches t/pvuv/years.expected.json (offsets kept as written)';
is $err, '', 'years: nothing on stderr';
my @days = ('2021-12-31', '2022-01-01', '2022-03-31', '2022-04-01');
is_deeply [ $raw =~ /"(\d{4}-\d\d-\d\d)":/g ], [ @days, @days ],
    'years: JSON keys in chronological order (pv.by_day, then uv.by_day)';
(undef, my $text) = run(undef, @years);
my ($day_table) = $text =~ /^PV and UV per day\n(.*?)\n\n/ms;
is_deeply [ ($day_table // '') =~ /^  (\d{4}-\d\d-\d\d) /mg ], \@days,
    'years: text day rows in chronological order';

# --- text output
($rc, $text, $err) = run(undef, $two_days);
is $rc, 0, 'text: exit 0';
like $text, qr/^11 requests, 5 unique visitors \(2022-04-05 03:45:05 \+0800 \.\. /m, 'text: summary line';
for my $heading ('PV and UV per day', 'PV per hour', 'Top 10 URLs', 'Top 10 clients',
                 'Slow requests (request_time > 1.0 s): 3') {
    like $text, qr/^\Q$heading\E$/m, "text: heading '$heading'";
}
unlike $text, qr/PV per minute/, 'text: no per-minute table by default';
like $text, qr/^  2022-04-05 03 +3$/m, 'text: hour row';
like $err, qr/skipped 3 malformed lines/, 'text: malformed lines reported';

(undef, $text) = run(undef, '--minutes', $two_days);
like $text, qr/^PV per minute\n  minute +PV\n  2022-04-05 03:45 +2$/m, '--minutes adds the per-minute table';
(undef, $text) = run(undef, '--by', 'minute', $two_days);
ok $text =~ /^PV per minute$/m && $text !~ /PV per hour/, '--by minute: only the minute table';
(undef, $text) = run(undef, '--by', 'all', $two_days);
ok 3 == (() = $text =~ /^PV (?:and UV )?per (?:day|hour|minute)$/mg), '--by all: day, hour, minute';

# --- garbage, empty input, missing file
open my $fh, '>', "$tmp/garbage.log" or die $!;
print $fh "garbage\n\x00\xff\xfe not utf-8\n[05/Apr/2022:03:45:05 +0800]\n\n";
close $fh;
($rc, $got, $err) = run_json("$tmp/garbage.log", '-');
is $rc, 0, 'garbage only: exit 0, no crash';
is_deeply [ @$got{qw(lines malformed)}, $got->{pv}{total}, $got->{first} ], [ 3, 3, 0, undef ],
    'garbage only: 3 malformed, 0 requests';
like $err, qr/skipped 3 malformed lines/, 'garbage only: reported';
($rc, $got, $err) = run_json(undef, '/dev/null');
ok $rc == 0 && $got->{pv}{total} == 0 && $err eq '', 'empty input: zero counts, quiet';
($rc, undef, $err) = run(undef, "$tmp/no-such.log");
ok $rc == 2 && $err =~ /no-such\.log/, 'missing file: exit 2 with the file name';

done_testing;
