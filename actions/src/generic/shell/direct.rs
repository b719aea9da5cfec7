//! Running a simple command line without a shell.
//!
//! `sh -c 'cargo test --workspace'` starts a shell only for it to look the program up
//! on `PATH` and exec it: the shell adds a process start (its own loading, about as
//! much as the command's when the command is small) and changes nothing the step can
//! observe. Like GNU make, which runs a recipe line directly when it holds no shell
//! syntax, a `run:` line that is only plain words naming a program is executed
//! directly. Anything a shell would interpret — quoting, variables, globs, pipes,
//! redirections, `;`, `&&`, assignments, comments, `~` — and every builtin that
//! reads or changes the shell's own state keeps going through the shell, so the
//! step means exactly what it would mean under `sh -c`.

/// Bytes that mean nothing to a POSIX shell inside a word. Everything else (space
/// aside, which separates words) sends the line to the shell.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-./,:=+@%^".contains(&b)
}

/// Reserved words and builtins that read or change the shell's own state (`cd`,
/// `exit`, `export`, `read`, `set`, `.`, …), as dash and bash know them, plus `echo`
/// and `pwd`, whose builtins differ from coreutils' programs (`-e`, logical paths). A
/// line starting with one of these is the shell's business. The builtins `true`,
/// `false`, `printf`, `test` and `kill` are left out on purpose: they compute from
/// their arguments only, exactly as their programs do.
const SHELL_OWNED: &[&str] = &[
    "!", ".", ":", "[", "[[", "alias", "bg", "break", "builtin", "case", "cd", "command",
    "continue", "declare", "disown", "do", "done", "echo", "elif", "else", "enable", "esac",
    "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function", "getopts", "hash", "if",
    "jobs", "let", "local", "mapfile", "newgrp", "pwd", "read", "readonly", "return", "select",
    "set", "shift", "shopt", "source", "then", "time", "times", "trap", "type", "typeset",
    "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

/// The program and its arguments when `line` can run without a shell, else `None`.
pub(super) fn simple_command(line: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let program = *words.first()?;
    let plain = words.iter().all(|w| w.bytes().all(is_plain));
    // `NAME=value cmd` is an assignment; a `/` means a path, which the shell resolves
    // against the working directory and runs even without an exec bit.
    let named = !program.contains(['=', '/']) && !program.starts_with('-');
    (plain && named && !SHELL_OWNED.contains(&program)).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_naming_a_program_run_directly() {
        assert_eq!(simple_command("true"), Some(vec!["true"]));
        assert_eq!(
            simple_command("  cargo test --workspace\t--locked "),
            Some(vec!["cargo", "test", "--workspace", "--locked"])
        );
        assert_eq!(
            simple_command("make -C build VERBOSE=1 all"),
            Some(vec!["make", "-C", "build", "VERBOSE=1", "all"])
        );
        assert_eq!(
            simple_command("git log --format=%H -n1"),
            Some(vec!["git", "log", "--format=%H", "-n1"])
        );
    }

    #[test]
    fn anything_the_shell_interprets_goes_to_the_shell() {
        for line in [
            "",
            "   ",
            "echo $HOME",
            "ls *.rs",
            "cat a | wc -l",
            "make && make install",
            "false; true",
            "run > out.log",
            "printf '%s' x",
            "printf \"%s\" x",
            "grep a\\ b file",
            "sleep 10 &",
            "ls ~",
            "ls ~/src",
            "test a # comment",
            "ls [ab]",
            "echo {a,b}",
            "ls\nrm -rf x",
            "FOO=1 cargo test",
            "./build.sh",
            "bin/tool --flag",
            "cd sub",
            "exit 3",
            "export A=1",
            ". ./env.sh",
            "source env.sh",
            "set -e",
            "read line",
            "echo plain",
            "pwd",
            "wait",
            "if",
            "exec true",
            "command -v git",
            "$(true)",
            "`true`",
            "(true)",
            "-x",
        ] {
            assert_eq!(simple_command(line), None, "{line:?}");
        }
    }

    #[test]
    fn builtins_that_match_their_programs_run_directly() {
        assert_eq!(simple_command("false"), Some(vec!["false"]));
        assert_eq!(
            simple_command("test -d target"),
            Some(vec!["test", "-d", "target"])
        );
    }
}
