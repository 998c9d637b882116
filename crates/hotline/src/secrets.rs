//! The secrets file: seat credentials, kept out of the shipped configuration.
//!
//! ```toml
//! [seats]
//! 1001 = "a long random password"
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sip_gateway::registrar::Credentials;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    #[serde(default)]
    seats: HashMap<String, String>,
}

/// Load seat credentials; the error names the file, line and key.
pub(crate) fn load(path: &Path) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read secrets file: {e}", path.display()))?;
    let parsed: SecretsFile = toml::from_str(&text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
        format!("{}:{line}:{col}: {}", path.display(), e.message())
    })?;
    for (seat, password) in &parsed.seats {
        if password.is_empty() {
            let line = text
                .lines()
                .position(|l| {
                    l.trim_start()
                        .trim_start_matches('"')
                        .starts_with(seat.as_str())
                })
                .map_or(0, |i| i + 1);
            return Err(format!(
                "{}:{line}: seats.{seat}: empty password",
                path.display()
            ));
        }
    }
    Ok(Credentials::new(parsed.seats))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hotline-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let path = write("bad.toml", "[seats]\n1001 = \"x\"\n[extra]\nfoo = 1\n");
        let err = load(&path).expect_err("unknown section");
        assert!(err.contains("bad.toml:3:"), "{err}");
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let path = write("type.toml", "[seats]\n1001 = 5\n");
        let err = load(&path).expect_err("number");
        assert!(err.contains("type.toml:2:"), "{err}");
    }

    #[test]
    fn empty_password_is_refused() {
        let path = write("empty.toml", "[seats]\n1001 = \"\"\n");
        let err = load(&path).expect_err("empty");
        assert!(err.contains("seats.1001"), "{err}");
    }

    #[test]
    fn good_file_loads() {
        let path = write("good.toml", "[seats]\n1001 = \"pw1\"\n\"1002\" = \"pw2\"\n");
        let creds = load(&path).expect("loads");
        assert_eq!(creds.len(), 2);
    }
}
