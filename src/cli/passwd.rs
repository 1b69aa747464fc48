//! `keel passwd`: hashes a password read from stdin into a `[[mqtt.users]]` entry, locally (no
//! admin API involved), so a password never appears on a command line.

use super::output::{CliError, Out};

/// Reads one line from stdin and prints a `[[mqtt.users]]` TOML entry with its hash.
pub fn passwd(username: &str, out: &mut Out) -> Result<(), CliError> {
    if username.is_empty() {
        return Err(CliError::failed("the username is empty"));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        return Err(CliError::failed("the password (one line on stdin) is empty"));
    }
    let hash = keel::broker::auth::new_password_hash(password.as_bytes());
    // A JSON string is a valid TOML basic string (same escapes), once DEL is escaped too.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default().replace('\u{7f}', "\\u007f");
    out.line("[[mqtt.users]]")?;
    out.line(&format!("username = {}", quote(username)))?;
    out.line(&format!("password_hash = {}", quote(&hash)))
}
