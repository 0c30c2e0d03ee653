//! The progress bar of the long-running commands (stderr; hidden when stderr is not a
//! terminal, so logs and tests stay clean).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` units named `unit` (a counter without a bar when `len` is unknown).
pub fn bar(len: Option<u64>, unit: &str) -> ProgressBar {
    let template = match len {
        Some(_) => format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
        ),
        None => format!("{{elapsed_precise}} {{pos}} {unit} ({{per_sec}})"),
    };
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    let style = ProgressStyle::with_template(&template)
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
