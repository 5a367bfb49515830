# build/memcheck-report, the verdict of build/memcheck, on valgrind logs whose contents are
# known: a memory error or a leak through the module fails the run, a leak of nginx's own is
# reported without failing, and no log at all is an error (nothing was checked).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);

my $report = 'build/memcheck-report';
my $fixtures = 't/fixtures/memcheck';

sub verdict {
    my @logs = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $pid = 1000;
    copy("$fixtures/$_", "$dir/vg." . $pid++ . ".log") or die "copy $_: $!" for @logs;
    my $out = `python3 $report $dir 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = verdict('clean.log', 'clean.log');
is $rc, 0, 'clean logs pass';
like $out, qr/2 nginx processes checked; 0 memory errors, 0 definite leaks through the module/, 'counts processes';

($rc, $out) = verdict('clean.log', 'invalid-read.log');
is $rc, 1, 'an invalid read fails the run';
like $out, qr/--- memory error \(vg\.\d+\.log\)\nInvalid read of size 8\n\s+at .*PendingRequest::finish/, 'and is printed with its stack';

($rc, $out) = verdict('module-leak.log');
is $rc, 1, 'a definite leak through the module fails the run';
like $out, qr/1 definite leaks through the module/, 'and is counted as the module\'s';

($rc, $out) = verdict('distro-module-leak.log');
is $rc, 1, 'a definite leak through the module built for the distro nginx fails the run';

($rc, $out) = verdict('unnamed-leak.log');
is $rc, 1, 'a definite leak through code valgrind cannot name (an unloaded module) fails the run';

($rc, $out) = verdict('nginx-leak.log', 'clean.log');
is $rc, 0, 'a definite leak of nginx\'s own code does not fail the run';
like $out, qr/--- definite leak outside the module .*\n28,160 .*definitely lost/, 'but is printed';
like $out, qr/1 definite leaks elsewhere/, 'and counted';

($rc, $out) = verdict();
is $rc, 2, 'no log at all is an error';
like $out, qr/nothing was checked/, 'saying so';

done_testing;
