package SelfTest;

# Helpers for the harness self-tests in t/harness/*.t: write generated .t
# files into a scratch directory under /tmp, run them with this project's
# Test::Nginx::Socket (t/lib) as a child process, and parse the TAP.

use strict;
use warnings;

use Cwd ();
use Exporter 'import';
use File::Basename ();
use File::Temp ();
use Time::HiRes ();

our @EXPORT = qw(nginx_binary harness_lib scratch_dir write_file run_cmd run_t
                 per_block_counts);

my $Here = Cwd::abs_path(File::Basename::dirname(__FILE__));
my $Lib  = Cwd::abs_path("$Here/../lib");

sub harness_lib { $Lib }

sub nginx_binary {
    return $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};
    my $built = Cwd::abs_path("$Here/../../.build/nginx/sbin/nginx");
    return $built if $built && -x $built;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/nginx" if -x "$d/nginx";
    }
    return undef;
}

sub scratch_dir { File::Temp::tempdir('ngx-harness-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh $content;
    close $fh;
}

# Run a command in $dir with a clean TEST_NGINX_* environment plus %$env.
# Returns { rc, out, err, elapsed }.
sub run_cmd {
    my ($dir, $cmd, $env) = @_;
    # the binary first: with TEST_NGINX_* cleared, nginx_binary() would fall back to
    # .build/ or PATH (Debian's nginx, without the stream module, when the build area is
    # elsewhere)
    my $binary = nginx_binary();
    local %ENV = %ENV;
    delete $ENV{$_} for grep { /^TEST_NGINX_/ } keys %ENV;
    $ENV{TEST_NGINX_BINARY} = $binary;
    %ENV = (%ENV, %{ $env || {} });
    delete $ENV{$_} for grep { !defined $ENV{$_} } keys %ENV;
    my $t0 = Time::HiRes::time();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        chdir $dir or die "chdir $dir: $!";
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/.out" or die;
        open STDERR, '>', "$dir/.err" or die;
        { no warnings 'exec'; exec @$cmd; }
        print STDERR "exec @$cmd: $!\n";
        require POSIX;
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my $elapsed = Time::HiRes::time() - $t0;
    local $/;
    my ($out, $err) = ('', '');
    if (open my $fh, '<', "$dir/.out") { $out = <$fh> // '' }
    if (open my $fh, '<', "$dir/.err") { $err = <$fh> // '' }
    return { rc => $rc, out => $out, err => $err, elapsed => $elapsed };
}

# Write $content as $dir/$name (default: a fresh scratch dir, name x.t), run
# it with perl -I t/lib, and return the run_cmd result plus TAP details.
sub run_t {
    my ($content, %opt) = @_;
    my $dir  = $opt{dir} || scratch_dir();
    my $name = $opt{name} || 'x.t';
    write_file("$dir/$name", $content);
    my $r = run_cmd($dir, [ $^X, "-I$Lib", $name ], $opt{env});
    $r->{dir}    = $dir;
    $r->{lines}  = [ grep { /^(?:not )?ok \d+/ } split /\n/, $r->{out} ];
    $r->{ok}     = [ grep { /^ok / } @{ $r->{lines} } ];
    $r->{not_ok} = [ grep { /^not ok / } @{ $r->{lines} } ];
    ($r->{plan}) = $r->{out} =~ /^1\.\.(\d+)/m;
    return $r;
}

# { 'TEST 3' => { total => n, not_ok => n, skip => n } } from TAP lines
sub per_block_counts {
    my $r = shift;
    my %c;
    for my $l (@{ $r->{lines} }) {
        my ($blk) = $l =~ /\b(TEST \d+):/ or next;
        $c{$blk}{total}++;
        $c{$blk}{not_ok}++ if $l =~ /^not ok/ && $l !~ /# TODO/;
        $c{$blk}{skip}++ if $l =~ /# skip/i;
    }
    return \%c;
}

1;
