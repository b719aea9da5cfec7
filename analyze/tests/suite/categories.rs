//! Every category can come out, from the messages real CI systems and tools
//! print (quoted from their documentation and issue trackers, anonymised).

use medic_analyze::read::read_str;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Category, Options};

fn category_of(text: &str) -> (Category, String) {
    let a = triage::analyze(
        &read_str(text, &mut Sanitizer::default()),
        &Options::default(),
    );
    (a.category, a.summary)
}

#[test]
fn each_category_from_typical_messages() {
    let cases: &[(Category, &str)] = &[
        (
            Category::Network,
            "npm ERR! code EAI_AGAIN\nnpm ERR! errno EAI_AGAIN\nnpm ERR! request to https://registry.npmjs.org/left-pad failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org\n",
        ),
        (
            Category::Network,
            "curl: (6) Could not resolve host: downloads.example.com\nError: Process completed with exit code 6.\n",
        ),
        (
            Category::Timeout,
            "Running tests...\n##[error]The job running on runner GitHub Actions 2 has exceeded the maximum execution time of 360 minutes.\n",
        ),
        (
            Category::Oom,
            "[ 87%] Building CXX object src/CMakeFiles/core.dir/big.cpp.o\nc++: fatal error: Killed signal terminated program cc1plus\ncompilation terminated.\nmake[2]: *** [src/CMakeFiles/core.dir/build.make:76: src/CMakeFiles/core.dir/big.cpp.o] Error 1\n##[error]Process completed with exit code 137.\n",
        ),
        (
            Category::Disk,
            "Unhandled exception. System.IO.IOException: No space left on device : '/home/runner/runners/2.300.0/_diag/Worker.log'\n",
        ),
        (
            Category::Permission,
            "remote: Permission to acme/app.git denied to github-actions[bot].\nfatal: unable to access 'https://github.com/acme/app/': The requested URL returned error: 403\n##[error]Process completed with exit code 128.\n",
        ),
        (
            Category::Config,
            "##[error]The workflow is not valid. .github/workflows/ci.yml (Line: 12, Col: 9): Unrecognized named-value: 'secret'. Located at position 1 within expression: secret.TOKEN\n",
        ),
        (
            Category::Infrastructure,
            "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?.\nSee 'docker run --help'.\n",
        ),
        (
            Category::Infrastructure,
            "Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading\n",
        ),
        (
            Category::Cancelled,
            "Running tests...\n##[error]The operation was canceled.\n",
        ),
        (
            Category::Dependency,
            "ERROR: Could not find a version that satisfies the requirement torch==9.9.9 (from versions: 2.0.0, 2.1.0)\nERROR: No matching distribution found for torch==9.9.9\n",
        ),
        (
            Category::Lint,
            "/home/runner/work/app/app/src/app.ts\n  3:7  error  'x' is assigned a value but never used  @typescript-eslint/no-unused-vars\n\n✖ 1 problem (1 error, 0 warnings)\n",
        ),
        (
            Category::Test,
            "=================================== FAILURES ===================================\n___________________________________ test_add ___________________________________\n\n    def test_add():\n>       assert add(1, 1) == 3\nE       assert 2 == 3\n\ntests/test_math.py:4: AssertionError\n=========================== short test summary info ============================\nFAILED tests/test_math.py::test_add - assert 2 == 3\n========================= 1 failed, 3 passed in 0.12s ==========================\n",
        ),
        (
            Category::Flaky,
            "--- FAIL: TestRace (0.20s)\n    race_test.go:14: got 1 want 2\nFLAKY: TestRace failed, retrying (attempt 2 of 3)\nTestRace passed on retry\n",
        ),
        (
            Category::Timeout,
            "$ make test\nRunning 2000 tests\nERROR: Job failed: execution took longer than 1h0m0s seconds\n",
        ),
        (
            Category::Timeout,
            "\nThe job exceeded the maximum time limit for jobs, and has been terminated.\n",
        ),
        (
            Category::Oom,
            "> next build\nCreating an optimized production build...\n\n<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\nerror Command failed with exit code 134.\n",
        ),
        (
            Category::Oom,
            "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.0.0:test (default-test) on project core: java.lang.OutOfMemoryError: Java heap space\n",
        ),
        (
            Category::Infrastructure,
            "ERROR: Job failed (system failure): prepare environment: waiting for pod running: timed out waiting for pod to start\n",
        ),
        (
            Category::Permission,
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n##[error]Process completed with exit code 128.\n",
        ),
        (
            Category::Dependency,
            "go: downloading github.com/acme/lib v1.2.3\ngo: github.com/acme/lib@v1.2.3: reading https://proxy.golang.org/github.com/acme/lib/@v/v1.2.3.mod: 404 Not Found\n\tserver response: not found: unknown revision v1.2.3\n",
        ),
        (
            Category::Cancelled,
            "Running specs...\n# Received cancellation signal, interrupting\n🚨 Error: The command was interrupted by a signal: signal: terminated\n",
        ),
        (
            Category::Config,
            "Error: yaml: line 10: did not find expected key\n",
        ),
        (
            Category::Config,
            "##[error]Unable to resolve action `actions/checkot@v4`, repository not found\n",
        ),
        (
            Category::Compile,
            "src/main.c:3:5: error: implicit declaration of function 'foo' [-Werror=implicit-function-declaration]\nmake: *** [Makefile:2: main] Error 1\n",
        ),
    ];
    let mut wrong = Vec::new();
    for (expected, text) in cases {
        let (got, summary) = category_of(text);
        if got != *expected {
            wrong.push(format!(
                "expected {expected:?}, got {got:?} (summary: {summary})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
