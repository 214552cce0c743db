//! Man pages and shell completions, rendered from the clap definitions of both binaries by
//! clap_mangen and clap_complete, so they never drift from the real command lines. The
//! hidden `mailauth-probe generate-assets DIR` calls [`write`]; `contrib/debian/build`
//! packages what it writes.
//!
//! Layout under `DIR` (the names the files get once installed):
//! - `man/<bin>.1`, and `man/<bin>-<subcommand>.1` for each visible subcommand;
//! - `completions/bash/<bin>`, `completions/zsh/_<bin>`, `completions/fish/<bin>.fish`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Writes the man pages and completions of every command in `commands` (each named as its
/// binary) under `dir`, and returns the files written.
pub fn write(dir: &Path, commands: &[clap::Command]) -> io::Result<Vec<PathBuf>> {
    let man = dir.join("man");
    fs::create_dir_all(&man)?;
    let mut written = Vec::new();
    for command in commands {
        let name = command.get_name().to_string();
        let before: Vec<PathBuf> = list(&man)?;
        clap_mangen::generate_to(command.clone(), &man)?;
        written.extend(list(&man)?.into_iter().filter(|p| !before.contains(p)));
        for (shell, sub, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let out = dir.join("completions").join(sub);
            fs::create_dir_all(&out)?;
            let path = out.join(file);
            let mut f = fs::File::create(&path)?;
            clap_complete::generate(shell, &mut command.clone(), &name, &mut f);
            written.push(path);
        }
    }
    Ok(written)
}

fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::CheckArgs;

    #[test]
    fn writes_man_page_and_completions_of_check_mailauth() {
        let dir = tempfile::tempdir().unwrap();
        let files = write(dir.path(), &[CheckArgs::command()]).unwrap();
        let man = fs::read_to_string(dir.path().join("man/check_mailauth.1")).unwrap();
        assert!(man.contains(".TH check_mailauth"), "{man}");
        assert!(man.contains("\\-\\-daemon"), "{man}");
        for f in [
            "completions/bash/check_mailauth",
            "completions/zsh/_check_mailauth",
            "completions/fish/check_mailauth.fish",
        ] {
            let text = fs::read_to_string(dir.path().join(f)).unwrap();
            assert!(text.contains("--daemon"), "{f}: {text}");
            assert!(files.contains(&dir.path().join(f)));
        }
    }
}
