//! What the container target asks of Docker beyond starting a container
//! (which testcontainers does): the label every conformance container
//! carries, removal by that label, image checks, `docker exec` with an
//! exit code and stdin, and logs. All through the `docker` CLI, like
//! testcontainers 0.15's `clients::Cli`, so any daemon API version works.
//!
//! Labels: testcontainers 0.15 cannot set container labels, so the label
//! is set on the images (`docker import --change 'LABEL ...'`, see
//! `ci/images/`) and every container inherits it. Container names carry
//! the owning process' pid (`mta-conformance-<pid>-<n>`), so one run's
//! cleanup never removes the containers of another run still going.

use std::io::Write;
use std::process::{Command, Stdio};

use super::super::TargetError;

/// The label on every image the suite builds, hence on its containers.
pub const LABEL: &str = "org.mta.conformance=1";
/// Prefix of every container name the suite gives.
pub const NAME_PREFIX: &str = "mta-conformance-";

/// `docker ARGS...`: (exit status, stdout, stderr).
fn docker(args: &[&str], stdin: Option<&[u8]>) -> Result<(i32, Vec<u8>, Vec<u8>), TargetError> {
    let what = format!("running `docker {}`", args.join(" "));
    let mut child = Command::new("docker")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(TargetError::io(what.clone()))?;
    if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
        // A command that exits without reading all of it is not an error
        // here; its exit code says what happened.
        let _ = w.write_all(input);
    }
    let out = child.wait_with_output().map_err(TargetError::io(what))?;
    Ok((out.status.code().unwrap_or(-1), out.stdout, out.stderr))
}

/// The Docker engine's version, or why no engine answers.
pub fn server_version() -> Result<String, TargetError> {
    let (code, out, err) = docker(&["version", "--format", "{{.Server.APIVersion}}"], None)?;
    if code != 0 {
        return Err(TargetError::Failed(format!(
            "no Docker engine answers: {}",
            String::from_utf8_lossy(&err).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Fails with a clear message when `image` is not present locally (there
/// is no registry to pull from; testcontainers would try one).
pub fn require_image(image: &str, build_hint: &str) -> Result<(), TargetError> {
    let (code, _, _) = docker(&["image", "inspect", "--format", "{{.Id}}", image], None)?;
    if code == 0 {
        Ok(())
    } else {
        Err(TargetError::Failed(format!(
            "image {image} is not present (no registry here to pull from); build it with {build_hint}"
        )))
    }
}

/// The owning pid in a container name `mta-conformance-<pid>-<n>`.
pub fn owner(name: &str) -> Option<u32> {
    let rest = name.trim_start_matches('/').strip_prefix(NAME_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Which labelled containers to remove: those owned by `mine` (at the
/// end of this run), or (at the start) those whose owner is gone: a run
/// that crashed or was killed before its cleanup.
pub fn to_remove(listing: &str, mine: Option<u32>, is_alive: impl Fn(u32) -> bool) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, name)| match (owner(name), mine) {
            (Some(pid), Some(me)) => pid == me,
            (Some(pid), None) => !is_alive(pid),
            // Not named by the suite (started by hand from one of its
            // images): left alone.
            (None, _) => false,
        })
        .map(|(id, _)| id)
        .collect()
}

/// Removes labelled containers (see [`to_remove`]); returns how many.
pub fn remove_labelled(mine: Option<u32>) -> Result<usize, TargetError> {
    let filter = format!("label={LABEL}");
    let (code, out, err) = docker(
        &[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.ID}} {{.Names}}",
        ],
        None,
    )?;
    if code != 0 {
        return Err(TargetError::Failed(format!(
            "docker ps: {}",
            String::from_utf8_lossy(&err).trim()
        )));
    }
    let listing = String::from_utf8_lossy(&out).into_owned();
    let ids = to_remove(&listing, mine, alive);
    if ids.is_empty() {
        return Ok(0);
    }
    let mut args = vec!["rm", "-f", "-v"];
    args.extend(ids.iter().copied());
    docker(&args, None)?;
    Ok(ids.len())
}

/// `docker exec -i ID sh -c SCRIPT` with `stdin`: (exit code, output).
pub fn exec(id: &str, script: &str, stdin: &[u8]) -> Result<(i32, String), TargetError> {
    let (code, out, err) = docker(&["exec", "-i", id, "/bin/sh", "-c", script], Some(stdin))?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(&String::from_utf8_lossy(&err));
    Ok((code, text))
}

/// The last `n` lines of the container's stdout and stderr.
pub fn logs(id: &str, n: usize) -> String {
    match docker(&["logs", "--tail", &n.to_string(), id], None) {
        Ok((_, out, err)) => format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ),
        Err(e) => format!("(no logs: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_comes_from_the_name() {
        assert_eq!(owner("mta-conformance-123-4"), Some(123));
        assert_eq!(owner("/mta-conformance-7-0"), Some(7));
        assert_eq!(owner("mta-conformance-x-1"), None);
        assert_eq!(owner("postfix"), None);
    }

    #[test]
    fn removes_own_containers_at_the_end_and_orphans_at_the_start() {
        let listing = "a1 mta-conformance-10-1\nb2 mta-conformance-20-1\nc3 hand-made\n";
        let alive = |pid: u32| pid == 20;
        assert_eq!(to_remove(listing, Some(10), alive), ["a1"]);
        assert_eq!(to_remove(listing, Some(20), alive), ["b2"]);
        // At the start: 10 is gone (its run crashed), 20 is still running.
        assert_eq!(to_remove(listing, None, alive), ["a1"]);
    }
}
