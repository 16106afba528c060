//! What is on this node: the record each sandbox leaves in its directory,
//! merged with what the runtimes and the cgroup tree know, so sandboxes
//! left by a crash are found and everything of a removed one is accounted.

use std::collections::BTreeMap;
use std::fs;

use airlock_core::IsolationClass;
use serde::{Deserialize, Serialize};

use crate::cgroup;
use crate::config::SandboxSpec;
use crate::error::{Result, SandboxError};
use crate::layout::{NodeLayout, SandboxPaths};

/// `sandbox.json`: what was asked, for listing after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The id.
    pub id: String,
    /// The backend.
    pub class: IsolationClass,
    /// The image name.
    pub image: String,
    /// Unix seconds at creation.
    pub created: i64,
    /// The runtime's host processes right after start (runc's container
    /// init; runsc's sandbox, gofer, stubs). They are this node's children
    /// (it is their subreaper), and removal reaps them even after they
    /// exited and left the cgroup.
    #[serde(default)]
    pub pids: Vec<u32>,
}

impl SandboxRecord {
    /// The record of a spec being created now.
    pub fn new(spec: &SandboxSpec, image: &str) -> Self {
        Self {
            id: spec.id.to_string(),
            class: spec.backend,
            image: image.to_string(),
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
            pids: Vec::new(),
        }
    }
}

/// One sandbox found on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxEntry {
    /// Its id (a directory, container or cgroup name).
    pub id: String,
    /// The backend, if known from the record or a runtime.
    pub class: Option<IsolationClass>,
    /// The image, if the record survives.
    pub image: Option<String>,
    /// Whether its directory exists.
    pub has_dir: bool,
    /// Whether a runtime knows the container.
    pub in_runtime: bool,
}

/// Writes the record into the sandbox's directory.
pub fn write_record(paths: &SandboxPaths, r: &SandboxRecord) -> Result<()> {
    let json = serde_json::to_vec(r).map_err(|e| SandboxError::Io {
        what: "serializing sandbox.json".into(),
        source: std::io::Error::other(e),
    })?;
    fs::write(paths.record(), json).map_err(SandboxError::io(format!(
        "writing {}",
        paths.record().display()
    )))
}

/// Reads a sandbox's record, if it is there and intact.
pub fn read_record(paths: &SandboxPaths) -> Option<SandboxRecord> {
    serde_json::from_slice(&fs::read(paths.record()).ok()?).ok()
}

/// Every record under the node's sandbox directory.
pub fn records(layout: &NodeLayout) -> Vec<SandboxRecord> {
    dir_ids(layout)
        .iter()
        .filter_map(|id| read_record(&layout.sandbox_str(id)))
        .collect()
}

fn dir_ids(layout: &NodeLayout) -> Vec<String> {
    let Ok(entries) = fs::read_dir(layout.sandboxes()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// Merges directories, runtime containers and cgroups into one list.
pub fn entries(layout: &NodeLayout, runtime: Vec<(String, IsolationClass)>) -> Vec<SandboxEntry> {
    let mut map: BTreeMap<String, SandboxEntry> = BTreeMap::new();
    let blank = |id: &str| SandboxEntry {
        id: id.to_string(),
        class: None,
        image: None,
        has_dir: false,
        in_runtime: false,
    };
    for id in dir_ids(layout) {
        let rec = read_record(&layout.sandbox_str(&id));
        let e = map.entry(id.clone()).or_insert_with(|| blank(&id));
        e.has_dir = true;
        e.class = rec.as_ref().map(|r| r.class);
        e.image = rec.map(|r| r.image);
    }
    for (id, class) in runtime {
        let e = map.entry(id.clone()).or_insert_with(|| blank(&id));
        e.in_runtime = true;
        e.class.get_or_insert(class);
    }
    for id in cgroup::sandbox_ids(&layout.cgroup_parent()) {
        map.entry(id.clone()).or_insert_with(|| blank(&id));
    }
    map.into_values().filter(|e| safe_id(&e.id)).collect()
}

/// Ids are used as path components: never act on anything else.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/')
}

/// What of sandbox `id` is still on the host (empty when fully removed):
/// its directory, mounts below it, cgroups, runtime state.
pub fn leftovers(layout: &NodeLayout, id: &str) -> Vec<String> {
    let paths = layout.sandbox_str(id);
    let mut left = Vec::new();
    if paths.dir().exists() {
        left.push(paths.dir().display().to_string());
    }
    let dir = paths.dir().to_string_lossy().into_owned();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        if let Some(mp) = line.split(' ').nth(4)
            && (mp == dir || mp.starts_with(&format!("{dir}/")))
        {
            left.push(format!("mount {mp}"));
        }
    }
    left.extend(
        cgroup::leftovers(&layout.cgroup_parent(), id)
            .iter()
            .map(|p| p.display().to_string()),
    );
    for rt in ["runc", "runsc"] {
        let Ok(entries) = fs::read_dir(layout.runtime_root(rt)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == id
                || name.starts_with(&format!("{id}_"))
                || name.contains(&format!(":{id}."))
            {
                left.push(e.path().display().to_string());
            }
        }
    }
    left
}
