//! A content digest of an image tree, so two builds can be compared and a
//! changed image noticed: SHA-256 over every entry in path order (path, type,
//! mode, owner, and file contents or link target).

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The digest (hex) and the number of content bytes.
pub fn tree(root: &Path) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut size = 0;
    walk(root, Path::new(""), &mut h, &mut size)?;
    Ok((hex::encode(h.finalize()), size))
}

fn walk(root: &Path, rel: &Path, h: &mut Sha256, size: &mut u64) -> std::io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let md = fs::symlink_metadata(&path)?;
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(format!("\0{:o}\0{}\0{}\0", md.mode(), md.uid(), md.gid()).as_bytes());
        let ft = md.file_type();
        if ft.is_symlink() {
            h.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
        } else if ft.is_file() {
            *size += md.len();
            hash_file(&path, h)?;
        } else if ft.is_dir() {
            walk(root, &rel, h, size)?;
        }
        h.update(b"\n");
    }
    Ok(())
}

fn hash_file(path: &Path, h: &mut Sha256) -> std::io::Result<()> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_changes_with_content() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/a"), "1").unwrap();
        let (a, size) = tree(d.path()).unwrap();
        assert_eq!(size, 1);
        assert_eq!(tree(d.path()).unwrap().0, a);
        fs::write(d.path().join("etc/a"), "2").unwrap();
        assert_ne!(tree(d.path()).unwrap().0, a);
    }
}
