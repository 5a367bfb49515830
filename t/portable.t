# The data-driven files in t/ must run unchanged under our harness (t/lib) and under the real
# Test::Nginx (openresty/test-nginx, README "Tests"), which CI cannot fetch. This checks, without
# running nginx, the three ways a file has broken on the real one while passing on ours:
#  1. a $TEST_NGINX_ variable that only our harness defines: the real one stops the whole
#     prove run ("No environment ... defined"). A variable must be set by both harnesses, by
#     build/test, or by the test file itself;
#  2. log checks in a block of several requests: the real harness runs them after each
#     request, against only the lines logged since the previous one; ours once per request
#     against the whole block's. error_log then needs check_accum_error_log() in the file
#     (both harnesses then read the whole log since nginx started; the patterns must be logged
#     by the first request), and grep_error_log cannot be used: one block per request instead
#     (a block without config reuses the nginx, its window reading from the nginx's start in
#     the real harness, so grep for the lines of its own request);
#  3. a block of several requests whose expected status, headers or body is one value for
#     all: the real harness wants an array (one element per request) and bails out.
# It also refuses $TEST_NGINX_ variables where neither harness expands them.
use strict;
use warnings;
use Test::More;
use File::Find qw(find);
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');

# Set by both harnesses whatever the environment.
my %by_both = map { $_ => 1 } qw(TEST_NGINX_SERVER_PORT TEST_NGINX_SERVER_ROOT);

# Exported by build/test (and the build/lib.sh functions it calls) before prove runs.
my %by_build;
for my $script ("$ROOT/build/test", "$ROOT/build/lib.sh") {
    open my $fh, '<', $script or die "$script: $!";
    while (my $line = <$fh>) {
        next unless $line =~ /^\s*export\b/;
        $by_build{$1} = 1 while $line =~ /\b(TEST_NGINX_[A-Z0-9_]+)=/g;
    }
}
ok(exists $by_build{TEST_NGINX_PG_URL}, 'build/test exports TEST_NGINX_PG_URL (build/ is parsed)');

# Sections whose $TEST_NGINX_ variables both harnesses expand, and two where neither does.
my %expanded = map { $_ => 1 } qw(config http_config main_config post_main_config user_files
    pipelined_requests response_body grep_error_log_out);
my %literal = map { $_ => 1 } qw(request more_headers);

# Expected per request: with several requests the real harness wants an array and bails out
# of the whole run on anything else; ours also takes one value for all.
my @per_request = qw(error_code error_code_like response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike response_body response_body_like
    response_body_unlike);

# The project's helper modules may set variables for the files that use them.
my $helpers = join '', map { slurp($_) } glob "$ROOT/t/*.pm";

my @files;
find({ no_chdir => 1, wanted => sub {
    $File::Find::prune = 1 if -d && m{/t/(?:lib|harness|servroot[^/]*)$};
    push @files, $_ if -f && /\.t$/ && slurp($_) =~ /^use Test::Nginx::Socket\b/m;
} }, "$ROOT/t");
@files = sort @files;
ok(@files >= 5, scalar(@files) . ' data-driven files found');

for my $file (@files) {
    (my $name = $file) =~ s{^\Q$ROOT\E/}{};
    my $text = slurp($file);
    my ($code, $data) = split /^__DATA__\n/m, $text, 2;
    $data //= '';
    my %by_file = map { $_ => 1 }
        ("$code$helpers" =~ /\$ENV\{\s*(TEST_NGINX_[A-Z0-9_]+)\s*\}\s*(?:\/\/|\|\|)?=[^=~]/g);
    my $accum = $code =~ /^\s*check_accum_error_log\(\)/m;

    my @problems;
    for my $block (split /^(?====\s)/m, $data) {
        my ($title) = $block =~ /^===\s*(.*)/ or next;
        my %sections = sections($block);
        for my $sec (sort keys %sections) {
            for my $var ($sections{$sec} =~ /\$(TEST_NGINX_[A-Z0-9_]+)/g) {
                if ($literal{$sec}) {
                    push @problems, "$title: \$$var in --- $sec is sent as it is by both harnesses";
                } elsif ($expanded{$sec} && !($by_both{$var} || $by_build{$var} || $by_file{$var}
                        || $var =~ /^TEST_NGINX_RAND_PORT_\d+$/)) {
                    push @problems,
                        "$title: \$$var in --- $sec is set by neither harness, build/test nor the file";
                }
            }
        }
        # an eval array of more than one element, or pipelined requests
        my $several = exists $sections{pipelined_requests}
            || ($sections{'request:eval'} // '') =~ /^\s*\[.*,/s;
        for my $sec (grep { exists $sections{$_} } @per_request) {
            push @problems, "$title: --- $sec in a block of several requests must be an eval array"
                if $several && !exists $sections{"$sec:eval"};
        }
        if ($several && exists $sections{error_log} && !$accum) {
            push @problems,
                "$title: error_log in a block of several requests needs check_accum_error_log()";
        }
        if ($several && exists $sections{grep_error_log}) {
            push @problems, "$title: grep_error_log in a block of several requests"
                . " (the real harness compares each request's lines with the whole expected text)";
        }
    }
    ok(!@problems, "$name runs under the real Test::Nginx too") or diag join "\n", @problems;
}

done_testing();

# Section name => text; an eval section is also stored under "name:eval".
sub sections {
    my ($block) = @_;
    my (%s, $cur);
    for my $line (split /\n/, $block) {
        if ($line =~ /^---\s+(\w+)(.*)$/) {
            my ($sec, $rest) = ($1, $2);
            $cur = $sec;
            $s{$cur} = '';
            if ($rest =~ /^\s*:\s*(.*)$/ || $rest =~ /^\s+\S.*?:\s*(.*)$/) {
                $s{$cur} .= "$1\n";
            }
            $s{"$sec:eval"} = $s{$cur} if $rest =~ /\beval\b/;
        } elsif (defined $cur) {
            $s{$cur} .= "$line\n";
            $s{"$cur:eval"} .= "$line\n" if exists $s{"$cur:eval"};
        }
    }
    return %s;
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}
