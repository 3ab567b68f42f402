//! Shell code for `llm-router env`: which shell we are talking to, and how to set and unset an
//! environment variable in it with the value quoted so the shell reads back exactly the bytes
//! we meant.
//!
//! Invariants:
//! - Every value is emitted inside the shell's single quotes (never bare, never double quotes),
//!   so nothing in it is expanded: no `$VAR`, no `` `cmd` ``, no globbing, no history `!`.
//! - A value that no shell variable can hold (a NUL byte) and a name that is not a plain
//!   identifier are errors, never silently altered output.
//! - Pure: no environment reads (detection takes a lookup function), no printing, no I/O.
//!
//! Quoting is written by hand rather than with `shell-escape`/`shlex` because we need fish and
//! PowerShell rules too, and because always quoting (those crates leave "safe" words bare)
//! keeps the output one predictable shape per shell.

use std::fmt::Write as _;

/// The shells `env` can print for. `--shell` takes these names (and the aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    /// PowerShell 5 and 7 (alias: pwsh)
    #[value(alias = "pwsh")]
    Powershell,
    /// Any POSIX shell: sh, dash, ash, ksh (alias: posix)
    #[value(name = "sh", alias = "posix")]
    Posix,
}

/// The `--shell` choices as shown in error messages.
pub const SHELL_CHOICES: &str = "bash, zsh, fish, powershell (pwsh), sh (posix)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// Nushell sets `NU_VERSION`; it cannot `eval` text, but loads a JSON record natively.
    #[error(
        "nushell is not supported for shell code (detected from $NU_VERSION); in nushell run `llm-router env --json | from json | load-env`, or pass --shell with one of: {SHELL_CHOICES}"
    )]
    Nushell,

    /// `--shell`-less detection found a shell we have no syntax for.
    #[error("unknown shell `{value}` (from {from}); pass --shell with one of: {SHELL_CHOICES}")]
    Unknown { value: String, from: &'static str },

    /// Nothing to detect from (no `$SHELL`, no shell-specific variable).
    #[error(
        "could not detect the shell ($SHELL is not set); pass --shell with one of: {SHELL_CHOICES}"
    )]
    Undetected,

    /// A value containing NUL: the C environment block cannot represent it.
    #[error("the value for {name} contains a NUL byte, which no environment variable can hold")]
    Nul { name: String },

    /// Names are ours, never user input; this guards against a future caller passing one.
    #[error("`{0}` is not a valid environment variable name (letters, digits and `_` only)")]
    BadName(String),
}

impl Shell {
    /// Detect the shell from the environment, for when `--shell` is not given.
    ///
    /// Order matters because `$SHELL` is the *login* shell, not the one running us:
    /// `$FISH_VERSION` (set inside fish, if exported) and `$NU_VERSION` (exported by nushell)
    /// say more about the current shell. PowerShell on Windows sets `PSModulePath` and no
    /// `SHELL`; on Unix `PSModulePath` leaks into child shells started from pwsh, so it only
    /// counts when `SHELL` is absent.
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ShellError> {
        let is_set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
        if is_set("FISH_VERSION") {
            return Ok(Self::Fish);
        }
        if is_set("NU_VERSION") {
            return Err(ShellError::Nushell);
        }
        match env("SHELL").filter(|s| !s.trim().is_empty()) {
            Some(program) => Self::from_program(&program).ok_or(ShellError::Unknown {
                value: program,
                from: "$SHELL",
            }),
            None if is_set("PSModulePath") => Ok(Self::Powershell),
            None => Err(ShellError::Undetected),
        }
    }

    /// The shell a program path names: `/bin/zsh`, `zsh`, `C:\...\pwsh.exe`, `-bash`.
    pub fn from_program(program: &str) -> Option<Self> {
        // Windows paths use `\`; `$0` of a login shell starts with `-`.
        let base = program
            .trim()
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .trim_start_matches('-')
            .to_ascii_lowercase();
        let base = base.strip_suffix(".exe").unwrap_or(&base);
        match base {
            "bash" => Some(Self::Bash),
            "zsh" => Some(Self::Zsh),
            "fish" => Some(Self::Fish),
            "pwsh" | "powershell" => Some(Self::Powershell),
            // All of these read `export NAME='value'` and `unset NAME` the POSIX way.
            "sh" | "dash" | "ash" | "ksh" | "mksh" | "ksh93" | "posix" => Some(Self::Posix),
            _ => None,
        }
    }

    /// The `--shell` value naming this shell.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Zsh => "zsh",
            Self::Fish => "fish",
            Self::Powershell => "powershell",
            Self::Posix => "sh",
        }
    }

    /// `value` as one literal word of this shell.
    pub fn quote(self, value: &str) -> Result<String, QuoteError> {
        if value.contains('\0') {
            return Err(QuoteError);
        }
        let mut out = String::with_capacity(value.len() + 2);
        out.push('\'');
        for c in value.chars() {
            match (self, c) {
                // POSIX single quotes end at the next `'`, with no escape inside: close the
                // quote, add an escaped quote, reopen.
                (Self::Bash | Self::Zsh | Self::Posix, '\'') => out.push_str(r"'\''"),
                // fish single quotes do interpret `\\` and `\'` (fish docs, "Quotes"), so a
                // literal backslash must be doubled too (a Windows path would lose them).
                (Self::Fish, '\\' | '\'') => {
                    out.push('\\');
                    out.push(c);
                }
                // PowerShell doubles the quote, and treats the typographic single quotes
                // U+2018..U+201B as quote characters as well (language spec 2.3.5.2).
                (Self::Powershell, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') => {
                    out.push(c);
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out.push('\'');
        Ok(out)
    }

    /// One line that sets and exports `name` to `value`.
    pub fn set_env(self, name: &str, value: &str) -> Result<String, ShellError> {
        check_name(name)?;
        let v = self.quote(value).map_err(|QuoteError| ShellError::Nul {
            name: name.to_string(),
        })?;
        Ok(match self {
            Self::Bash | Self::Zsh | Self::Posix => format!("export {name}={v}"),
            Self::Fish => format!("set -gx {name} {v}"),
            Self::Powershell => format!("$Env:{name} = {v}"),
        })
    }

    /// One line that removes `name`; harmless when it is not set.
    pub fn unset_env(self, name: &str) -> Result<String, ShellError> {
        check_name(name)?;
        Ok(match self {
            Self::Bash | Self::Zsh | Self::Posix => format!("unset {name}"),
            // `-g` so a universal variable of the same name (set -U) survives.
            Self::Fish => format!("set -e -g {name}"),
            Self::Powershell => format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue"),
        })
    }

    /// The trailing comment: how to apply this output, for someone who ran it bare.
    pub fn hint(self, unset: bool) -> String {
        let flag = if unset { " --unset" } else { "" };
        match self {
            Self::Bash | Self::Zsh | Self::Posix => format!("# eval \"$(llm-router env{flag})\""),
            Self::Fish => format!("# llm-router env --shell fish{flag} | source"),
            // Out-String joins the lines first; Invoke-Expression on the bare pipeline would
            // run each line alone and break a quoted value that spans lines.
            Self::Powershell => format!(
                "# llm-router env --shell powershell{flag} | Out-String | Invoke-Expression"
            ),
        }
    }

    /// The whole script that sets `vars`, ending with the hint comment (no final newline).
    pub fn render_set(self, vars: &[(&str, &str)]) -> Result<String, ShellError> {
        let mut out = String::new();
        for (name, value) in vars {
            let _ = writeln!(out, "{}", self.set_env(name, value)?);
        }
        out.push_str(&self.hint(false));
        Ok(out)
    }

    /// The whole script that unsets `names`, ending with the hint comment (no final newline).
    pub fn render_unset(self, names: &[&str]) -> Result<String, ShellError> {
        let mut out = String::new();
        for name in names {
            let _ = writeln!(out, "{}", self.unset_env(name)?);
        }
        out.push_str(&self.hint(true));
        Ok(out)
    }
}

/// The value contains a NUL byte and cannot be quoted for any shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("value contains a NUL byte")]
pub struct QuoteError;

fn check_name(name: &str) -> Result<(), ShellError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ShellError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::process::{Command, Stdio};

    const TRICKY: &str = "it's $HOME \"x\" \\ y `id` $(id) !! * ~ ; | & \n\ttab ‘curly’ é";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn quotes_posix() {
        for sh in [Shell::Bash, Shell::Zsh, Shell::Posix] {
            assert_eq!(sh.quote("").unwrap(), "''");
            assert_eq!(sh.quote("abc").unwrap(), "'abc'");
            assert_eq!(sh.quote("it's").unwrap(), r"'it'\''s'");
            assert_eq!(sh.quote(r"a\b $X `y`").unwrap(), r"'a\b $X `y`'");
            assert_eq!(sh.quote("''").unwrap(), r"''\'''\'''");
        }
    }

    #[test]
    fn quotes_fish() {
        assert_eq!(Shell::Fish.quote("abc").unwrap(), "'abc'");
        assert_eq!(Shell::Fish.quote("it's").unwrap(), r"'it\'s'");
        assert_eq!(Shell::Fish.quote(r"C:\dir\").unwrap(), r"'C:\\dir\\'");
        assert_eq!(Shell::Fish.quote("$X (y) *").unwrap(), "'$X (y) *'");
    }

    #[test]
    fn quotes_powershell() {
        let ps = Shell::Powershell;
        assert_eq!(ps.quote("abc").unwrap(), "'abc'");
        assert_eq!(ps.quote("it's").unwrap(), "'it''s'");
        assert_eq!(ps.quote("‘x’").unwrap(), "'‘‘x’’'");
        assert_eq!(ps.quote("$Env:X `n \"y\"").unwrap(), "'$Env:X `n \"y\"'");
    }

    #[test]
    fn nul_is_an_error_for_every_shell() {
        for sh in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Powershell,
            Shell::Posix,
        ] {
            assert_eq!(sh.quote("a\0b"), Err(QuoteError));
            assert_eq!(
                sh.set_env("K", "a\0b"),
                Err(ShellError::Nul { name: "K".into() })
            );
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "1A", "A-B", "A B", "A;rm", "É"] {
            assert_eq!(
                Shell::Bash.set_env(bad, "v"),
                Err(ShellError::BadName(bad.into()))
            );
            assert_eq!(
                Shell::Fish.unset_env(bad),
                Err(ShellError::BadName(bad.into()))
            );
        }
        assert!(Shell::Bash.set_env("_A1", "v").is_ok());
    }

    #[test]
    fn set_and_unset_lines() {
        assert_eq!(Shell::Bash.set_env("K", "v").unwrap(), "export K='v'");
        assert_eq!(Shell::Posix.set_env("K", "v").unwrap(), "export K='v'");
        assert_eq!(Shell::Fish.set_env("K", "v").unwrap(), "set -gx K 'v'");
        assert_eq!(Shell::Powershell.set_env("K", "v").unwrap(), "$Env:K = 'v'");
        assert_eq!(Shell::Zsh.unset_env("K").unwrap(), "unset K");
        assert_eq!(Shell::Fish.unset_env("K").unwrap(), "set -e -g K");
        assert_eq!(
            Shell::Powershell.unset_env("K").unwrap(),
            "Remove-Item Env:K -ErrorAction SilentlyContinue"
        );
    }

    #[test]
    fn render_ends_with_the_hint() {
        let s = Shell::Bash.render_set(&[("A", "1"), ("B", "2")]).unwrap();
        assert_eq!(
            s,
            "export A='1'\nexport B='2'\n# eval \"$(llm-router env)\""
        );
        let s = Shell::Fish.render_unset(&["A"]).unwrap();
        assert_eq!(
            s,
            "set -e -g A\n# llm-router env --shell fish --unset | source"
        );
    }

    #[test]
    fn program_names() {
        let cases = [
            ("/bin/zsh", Some(Shell::Zsh)),
            ("zsh", Some(Shell::Zsh)),
            ("/usr/local/bin/bash", Some(Shell::Bash)),
            ("-bash", Some(Shell::Bash)),
            ("/opt/homebrew/bin/fish", Some(Shell::Fish)),
            ("pwsh", Some(Shell::Powershell)),
            ("pwsh.exe", Some(Shell::Powershell)),
            (
                r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.EXE",
                Some(Shell::Powershell),
            ),
            ("/bin/sh", Some(Shell::Posix)),
            ("/bin/dash", Some(Shell::Posix)),
            ("/bin/ksh", Some(Shell::Posix)),
            (" /bin/zsh ", Some(Shell::Zsh)),
            ("/bin/tcsh", None),
            ("/usr/bin/nu", None),
            ("", None),
            ("/bin/", None),
        ];
        for (program, want) in cases {
            assert_eq!(Shell::from_program(program), want, "{program:?}");
        }
    }

    #[test]
    fn detection_order() {
        let d = |pairs: &[(&str, &str)]| Shell::detect(&env_of(pairs));
        assert_eq!(d(&[("SHELL", "/bin/zsh")]), Ok(Shell::Zsh));
        // fish and nushell win over the login shell in $SHELL.
        assert_eq!(
            d(&[("SHELL", "/bin/bash"), ("FISH_VERSION", "3.7.0")]),
            Ok(Shell::Fish)
        );
        assert_eq!(
            d(&[("SHELL", "/bin/bash"), ("NU_VERSION", "0.99")]),
            Err(ShellError::Nushell)
        );
        // PSModulePath counts only without $SHELL (it leaks into shells started from pwsh).
        assert_eq!(d(&[("PSModulePath", r"C:\x")]), Ok(Shell::Powershell));
        assert_eq!(
            d(&[("PSModulePath", "/opt/x"), ("SHELL", "/bin/bash")]),
            Ok(Shell::Bash)
        );
        // Empty values count as unset.
        assert_eq!(
            d(&[("FISH_VERSION", ""), ("SHELL", "/bin/zsh")]),
            Ok(Shell::Zsh)
        );
        assert_eq!(d(&[("SHELL", "")]), Err(ShellError::Undetected));
        assert_eq!(d(&[]), Err(ShellError::Undetected));
        assert_eq!(
            d(&[("SHELL", "/bin/tcsh")]),
            Err(ShellError::Unknown {
                value: "/bin/tcsh".into(),
                from: "$SHELL"
            })
        );
    }

    #[test]
    fn errors_name_the_value_and_the_choices() {
        let e = ShellError::Unknown {
            value: "/bin/tcsh".into(),
            from: "$SHELL",
        }
        .to_string();
        assert!(e.contains("`/bin/tcsh`"), "{e}");
        assert!(e.contains("--shell"), "{e}");
        assert!(e.contains("bash, zsh, fish, powershell"), "{e}");
        assert!(ShellError::Nushell.to_string().contains("load-env"));
    }

    #[test]
    fn value_enum_names_and_aliases() {
        use clap::ValueEnum;
        let parse = |s| Shell::from_str(s, false).ok();
        assert_eq!(parse("bash"), Some(Shell::Bash));
        assert_eq!(parse("pwsh"), Some(Shell::Powershell));
        assert_eq!(parse("powershell"), Some(Shell::Powershell));
        assert_eq!(parse("sh"), Some(Shell::Posix));
        assert_eq!(parse("posix"), Some(Shell::Posix));
        assert_eq!(parse("nu"), None);
        for sh in Shell::value_variants() {
            assert_eq!(parse(sh.name()), Some(*sh));
        }
    }

    /// Run `script` in `program args…` with `var` read back; `None` when the shell is missing.
    fn round_trip(program: &str, args: &[&str], script: &str) -> Option<String> {
        let out = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .stdin(Stdio::null())
            .arg(script)
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{program} failed on {script:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8(out.stdout).unwrap())
    }

    /// Quoted values read back byte for byte in the real shells that are installed. The
    /// integration tests cover the whole `env` output; this covers many awkward values.
    #[test]
    fn quoted_values_survive_real_shells() {
        let values = [
            "",
            "plain",
            TRICKY,
            "'",
            "''",
            "\\",
            "\\'",
            "'\\",
            "a\\\\'b",
            "trailing\\",
            "\n",
            "$",
            "%PATH% ${x} $(y)",
        ];
        let shells: [(Shell, &str, &[&str], &str); 4] = [
            (
                Shell::Bash,
                "bash",
                &["--noprofile", "--norc", "-eu", "-c"],
                "printf '%s<END>' \"$V\"",
            ),
            (
                Shell::Zsh,
                "zsh",
                &["--no-rcs", "-eu", "-c"],
                "printf '%s<END>' \"$V\"",
            ),
            (
                Shell::Posix,
                "dash",
                &["-eu", "-c"],
                "printf '%s<END>' \"$V\"",
            ),
            (
                Shell::Fish,
                "fish",
                &["--no-config", "-c"],
                "printf '%s<END>' \"$V\"",
            ),
        ];
        for (shell, program, args, print) in shells {
            let script: String = values
                .iter()
                .map(|v| format!("{}\n{print}\n", shell.set_env("V", v).unwrap()))
                .collect();
            let Some(got) = round_trip(program, args, &script) else {
                eprintln!("note: {program} not installed, skipping its round trip");
                continue;
            };
            let got: Vec<&str> = got.split("<END>").collect();
            assert_eq!(&got[..values.len()], &values[..], "{program}");
        }
    }
}
