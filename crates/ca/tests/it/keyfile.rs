//! The CA key file is private from its first byte.

use std::os::unix::fs::PermissionsExt as _;

use airlock_ca::write_key_file;

use crate::util::*;

#[test]
fn key_file_is_mode_0600_and_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.key");
    let ca = ca();
    write_key_file(&path, &ca.key_pkcs8_pem()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ca.key_pkcs8_pem());

    // Overwriting a file that had looser permissions leaves a 0600 file.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_key_file(&path, "second").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");

    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left behind");
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    let err = write_key_file(std::path::Path::new("/nonexistent-dir/ca.key"), "x").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot write /nonexistent-dir/ca.key:"),
        "{err}"
    );
}
