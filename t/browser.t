# The browser page (nginx-conf/static/index.html) in a real headless Chromium: runs
# build/browser-test (which installs chromium + chromium-driver, starts a throwaway
# PostgreSQL + nginx on free ports, and drives the page through chromedriver).
# Slow-ish and needs apt, so it only runs with NGX_MUSIC_BROWSER_TESTS=1.
#
#   NGX_MUSIC_BROWSER_TESTS=1 prove -I t/lib -I . t/browser.t
use strict;
use warnings;
use Test::More;
use FindBin;

plan skip_all => 'set NGX_MUSIC_BROWSER_TESTS=1 to run the browser test (build/browser-test)'
    unless $ENV{NGX_MUSIC_BROWSER_TESTS};

my $script = "$FindBin::Bin/../build/browser-test";
ok -x $script, 'build/browser-test is executable' or BAIL_OUT("$script missing");

# stdin closed; stderr merged so the log shows where it went wrong
my $pid = open my $out, '-|' // die "fork: $!";
if (!$pid) {
    open STDIN, '<', '/dev/null' or die $!;
    open STDERR, '>&', \*STDOUT or die $!;
    exec $script or exit 127;
}
my (@lines, $skip);
while (my $line = <$out>) {
    chomp $line;
    push @lines, $line;
    $skip = $1 if $line =~ /^SKIP: (.*)/;
    # the scenario's own TAP lines become notes; failures are shown by diag below
    note $line;
}
close $out;
my $rc = $? >> 8;

if (defined $skip) {
    is $rc, 0, 'build/browser-test skipped cleanly';
    done_testing;
    exit 0;
}

my @failed = grep { /^not ok / } @lines;
my ($summary) = grep { /^# \d+ passed, \d+ failed$/ } @lines;
is $rc, 0, 'build/browser-test exits 0'
    or diag join "\n", grep { /^not ok |^#   |^# FAILED|error|FAILED/ } @lines;
ok !@failed, 'no browser check failed' or diag join "\n", @failed;
like $summary // '', qr/^# [1-9]\d* passed, 0 failed$/, 'the scenario ran its checks'
    or $rc or diag join "\n", grep { defined } @lines[ -20 .. -1 ];
done_testing;
