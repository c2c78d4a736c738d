//! A tree of named files that a layout reader can open: a directory or a tar.
//!
//! Archives are indexed once (member name → offset and size, seeking over data) and
//! each blob is then read straight from its offset, so parallel layer readers each
//! get their own file handle and nothing is copied to disk.

use crate::image::error::{ImageError, Result};
use crate::image::layer::name_from_bytes;
use crate::image::tarread;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub trait FileTree: Send + Sync {
    fn describe(&self) -> String;
    /// The named file's bytes and size, or `None` when it does not exist.
    fn open(&self, name: &str) -> Result<Option<(Box<dyn Read + Send + '_>, u64)>>;

    /// A file that must exist: a blob a manifest names.
    fn open_required(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        match self.open(name)? {
            Some((r, _)) => Ok(r),
            None => Err(ImageError::MissingFile {
                path: name.to_string(),
                container: format!("`{}` (the blob is missing)", self.describe()),
            }),
        }
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.open(name)?.is_some())
    }

    /// Reads a small file whole; `None` when it does not exist.
    /// Reads a small file whole; `None` when it does not exist. A file over
    /// [`super::MAX_METADATA`] is refused as too large, never cut short (a cut
    /// document would be misreported as truncated JSON).
    fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((r, size)) = self.open(name)? else {
            return Ok(None);
        };
        let too_large = || super::too_large(name, &self.describe());
        if size > super::MAX_METADATA {
            return Err(too_large());
        }
        let mut buf = Vec::new();
        r.take(super::MAX_METADATA + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ImageError::io(name, e))?;
        if buf.len() as u64 > super::MAX_METADATA {
            return Err(too_large());
        }
        Ok(Some(buf))
    }
}

/// Names inside a layout come from JSON we do not trust: they must stay inside.
/// `..` is resolved lexically (legacy `docker save` links layers as
/// `../<id>/layer.tar`); climbing above the root is refused.
fn clean_name(name: &str) -> Option<String> {
    crate::image::layer::normalize(name).filter(|n| !n.is_empty())
}

/// A member named by the image's own JSON (`manifest.json`'s `Config` and
/// `Layers`, blob paths): `clean_name`, and never an absolute path, which
/// runtimes read two ways (`docker load` from the archive's root, skopeo as
/// named, finding nothing).
fn named_member(name: &str, container: &str) -> Result<String> {
    if name.starts_with('/') {
        return Err(ImageError::Invalid(format!(
            "`{name}` is an absolute path: `docker load` reads it from the {container}'s root, skopeo only as a member with exactly that name; name it relative to the {container}"
        )));
    }
    clean_name(name).ok_or_else(|| {
        ImageError::Invalid(format!("`{name}` names a file outside the {container}"))
    })
}

/// An OCI layout directory. Every member is opened beneath the directory's own file
/// descriptor one component at a time with `O_NOFOLLOW`, so neither a symlinked blob
/// nor a symlinked `blobs/` can reach a host file, and with `O_NONBLOCK` so a FIFO
/// where a blob belongs cannot hang the check; only regular files are read.
pub struct DirTree {
    root: PathBuf,
    fd: OwnedFd,
}

impl DirTree {
    pub fn open(root: &Path) -> Result<DirTree> {
        let meta = std::fs::metadata(root).map_err(|e| ImageError::io(root, e))?;
        if !meta.is_dir() {
            return Err(ImageError::Invalid(format!(
                "`{}` is not a directory; an `oci:` reference names an OCI layout directory (use `oci-archive:` for a tar)",
                root.display()
            )));
        }
        // The root itself is what the user named, so a symlink to it is followed.
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(root)
            .map_err(|e| ImageError::io(root, e))?;
        Ok(DirTree {
            root: root.to_path_buf(),
            fd: OwnedFd::from(fd),
        })
    }

    fn refuse(&self, name: &str, what: &str) -> ImageError {
        ImageError::Refused {
            message: format!(
                "`{name}` in the layout `{}` {what}; a layout's files must be regular files inside it, so it was not read",
                self.root.display()
            ),
            hint: "copy the image again with `skopeo copy … oci:DIR`, which writes plain files".into(),
        }
    }
}

fn openat(dir: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let c = CString::new(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a name"))?;
    // SAFETY: `dir` is a live descriptor and `c` a NUL-terminated string; the result
    // is a fresh descriptor that we own, or -1.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symlink",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "not a regular file",
    }
}

fn fstat(fd: BorrowedFd<'_>) -> std::io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is live and `st` is a valid, writable `stat`.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

/// Opens a path the user named (an archive) without blocking on a FIFO or device,
/// and requires a regular file.
pub fn open_regular_file(path: &Path) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| ImageError::io(path, e))?;
    let st = fstat(f.as_fd()).map_err(|e| ImageError::io(path, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(ImageError::Refused {
            message: format!(
                "`{}` is {}, not a regular file; an archive reference names a tar file",
                path.display(),
                kind_of(st.st_mode)
            ),
            hint: "write the image to a file first, e.g. `skopeo copy … oci-archive:image.tar`"
                .into(),
        });
    }
    clear_nonblock(f.as_fd()).map_err(|e| ImageError::io(path, e))?;
    Ok(f)
}

fn clear_nonblock(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: fcntl on a live descriptor with integer arguments only.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl FileTree for DirTree {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn open(&self, name: &str) -> Result<Option<(Box<dyn Read + Send + '_>, u64)>> {
        let clean = named_member(name, "layout")?;
        let io = |e| ImageError::io(self.root.join(&clean), e);
        let parts: Vec<&str> = clean.split('/').collect();
        let (last, dirs) = parts.split_last().unwrap_or((&"", &[]));
        let mut dir: Option<OwnedFd> = None;
        for (i, d) in dirs.iter().enumerate() {
            let at = dir.as_ref().map(|f| f.as_fd()).unwrap_or(self.fd.as_fd());
            match openat(at, d, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW) {
                Ok(f) => dir = Some(f),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    let prefix = parts[..=i].join("/");
                    return Err(self.refuse(
                        &prefix,
                        "is a symlink or not a directory, where a directory of the layout belongs",
                    ));
                }
                Err(e) => return Err(io(e)),
            }
        }
        let at = dir.as_ref().map(|f| f.as_fd()).unwrap_or(self.fd.as_fd());
        let fd = match openat(
            at,
            last,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        ) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(self.refuse(&clean, "is a symlink"))
            }
            Err(e) => return Err(io(e)),
        };
        let st = fstat(fd.as_fd()).map_err(io)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(self.refuse(&clean, &format!("is {}", kind_of(st.st_mode))));
        }
        clear_nonblock(fd.as_fd()).map_err(io)?;
        Ok(Some((Box::new(File::from(fd)), st.st_size.max(0) as u64)))
    }
}

#[derive(Debug, Clone)]
struct Member {
    offset: u64,
    size: u64,
    /// Symlinks: the target joined to the member's directory (absolute ones
    /// as written); hard links: the target as written.
    link: Option<String>,
    hard: bool,
    /// Named with a leading `/` in the archive.
    absolute: bool,
}

pub struct TarTree {
    path: PathBuf,
    members: HashMap<String, Member>,
    /// Members are found by their exact names, as skopeo's docker-archive
    /// reader finds them (its oci-archive reader extracts the tar instead,
    /// where a leading `/` is dropped).
    exact: bool,
}

impl TarTree {
    pub fn open(path: &Path) -> Result<TarTree> {
        let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(ImageError::Invalid(format!(
                "`{}` is a directory; use `oci:` for an OCI layout directory",
                path.display()
            )));
        }
        let members = index_members(std::io::BufReader::new(file)).map_err(|e| match e {
            IndexError::Tar(e) => ImageError::Invalid(format!(
                "`{}` is not a readable tar archive: {e}",
                path.display()
            )),
            IndexError::Invalid(why) => ImageError::Invalid(format!("`{}` {why}", path.display())),
        })?;
        if members.is_empty() {
            return Err(ImageError::Invalid(format!(
                "`{}` is empty or not a tar archive",
                path.display()
            )));
        }
        Ok(TarTree {
            path: path.to_path_buf(),
            members,
            exact: false,
        })
    }

    /// A `docker save` archive: a member named with a leading `/` is refused
    /// when the manifest names it, since `docker load` reads it from the
    /// archive's root and skopeo, matching names exactly, finds it only when the
    /// manifest names it with the `/` too.
    pub fn open_exact(path: &Path) -> Result<TarTree> {
        Ok(TarTree {
            exact: true,
            ..Self::open(path)?
        })
    }

    fn lookup(&self, name: &str) -> Result<Option<Member>> {
        let name = named_member(name, "archive")?;
        let Some(m) = self.members.get(&name) else {
            return Ok(None);
        };
        if self.exact && m.absolute {
            return Err(ImageError::Invalid(format!(
                "the archive's member `/{name}` has an absolute name: `docker load` reads it as `{name}`, skopeo finds it only by its exact name; rebuild the archive with relative names"
            )));
        }
        let Some(target) = &m.link else {
            return Ok(Some(m.clone()));
        };
        // skopeo's two readers disagree on every link but a relative symlink to
        // a regular member: its docker-archive reader follows exactly one
        // symlink (joining even an absolute target to the link's directory)
        // and reads a hard link as empty; its oci-archive reader extracts the
        // tar and follows whatever the file system does.
        let refuse = |why: &str| {
            Err(ImageError::Invalid(format!(
                "`{name}` in `{}` is {why}; skopeo's docker-archive and oci-archive readers would read different bytes",
                self.path.display()
            )))
        };
        if m.hard {
            return refuse("a hard link");
        }
        if target.starts_with('/') {
            return refuse(&format!("a symlink to the absolute path `{target}`"));
        }
        let Some(t) = clean_name(target) else {
            return Ok(None);
        };
        match self.members.get(&t) {
            None => Ok(None),
            Some(m) if m.link.is_none() => Ok(Some(m.clone())),
            Some(_) => refuse("a symlink to another link"),
        }
    }
}

/// Why an archive could not be indexed.
#[derive(Debug)]
pub enum IndexError {
    Tar(std::io::Error),
    /// Said of the archive: the caller puts its path in front.
    Invalid(String),
}

/// Indexes an archive's members (name → data offset, size, link) with the same
/// reader as layers, so the members are the ones Go's archive/tar (skopeo's
/// reader) sees.
fn index_members(r: impl Read + Seek) -> std::result::Result<HashMap<String, Member>, IndexError> {
    let mut archive = tarread::Reader::seekable(r);
    let mut members = HashMap::new();
    while let Some(h) = archive.next_header().map_err(IndexError::Tar)? {
        let raw = name_from_bytes(&h.name);
        let Some(name) = clean_name(&raw) else {
            continue;
        };
        let link = match h.typeflag {
            b'1' | b'2' => {
                let target = name_from_bytes(&h.linkname);
                // Symlinks are relative to the member's directory, hard links to the root.
                Some(if h.typeflag == b'2' && !target.starts_with('/') {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target,
                    }
                } else {
                    target
                })
            }
            b'0' | b'7' => None,
            _ => continue,
        };
        if h.sparse {
            return Err(IndexError::Invalid(format!(
                "holds `{name}` as a sparse file, which no image writer produces"
            )));
        }
        let member = Member {
            offset: archive.data_offset(),
            size: h.size as u64,
            link,
            hard: h.typeflag == b'1',
            absolute: raw.starts_with('/'),
        };
        // skopeo's docker-archive reader takes the first member of a name, its
        // oci-archive reader (which extracts the tar) the last: refuse rather
        // than pick one.
        if members.insert(name.clone(), member).is_some() {
            return Err(IndexError::Invalid(format!(
                "holds two members named `{name}`; skopeo reads the first from a docker-archive and the last from an oci-archive"
            )));
        }
    }
    Ok(members)
}

/// The `archive_index` fuzz target's body, also run on its corpus by `cargo
/// test`: indexing arbitrary bytes never panics, every member it lists lies
/// inside the input, and there are no more members than 512-byte headers.
#[doc(hidden)]
pub fn fuzz_archive_index(data: &[u8]) {
    if let Ok(members) = index_members(std::io::Cursor::new(data)) {
        assert!(members.len() <= data.len() / 512);
        for (name, m) in &members {
            assert!(!name.is_empty() && !name.split('/').any(|c| c == ".." || c.is_empty()));
            if m.link.is_none() {
                assert!(m
                    .offset
                    .checked_add(m.size)
                    .is_some_and(|e| e <= data.len() as u64));
            }
        }
    }
}

impl FileTree for TarTree {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn open(&self, name: &str) -> Result<Option<(Box<dyn Read + Send + '_>, u64)>> {
        let Some(m) = self.lookup(name)? else {
            return Ok(None);
        };
        let mut f = File::open(&self.path).map_err(|e| ImageError::io(&self.path, e))?;
        f.seek(SeekFrom::Start(m.offset))
            .map_err(|e| ImageError::io(&self.path, e))?;
        Ok(Some((Box::new(f.take(m.size)), m.size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker load` reads `/l/layer.tar` from the archive's root, skopeo finds
    /// no such member: an absolute name in the image's JSON is refused, in an
    /// archive and in a layout directory alike; relative names still resolve.
    #[test]
    fn absolute_member_names_are_refused_as_loaders_disagree() {
        use crate::image::tarread::build::{cat, end, file};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, cat(&[file("l/layer.tar", b"bytes"), end()])).unwrap();
        let t = TarTree::open(&path).unwrap();
        assert!(t.open("l/layer.tar").unwrap().is_some());
        assert!(t.open("./x/../l/layer.tar").unwrap().is_some());
        let err = t.open("/l/layer.tar").err().unwrap().to_string();
        assert!(
            err.contains("absolute path") && err.contains("skopeo"),
            "{err}"
        );
        std::fs::create_dir(dir.path().join("l")).unwrap();
        std::fs::write(dir.path().join("l/layer.tar"), b"bytes").unwrap();
        let d = DirTree::open(dir.path()).unwrap();
        assert!(d.open("l/layer.tar").unwrap().is_some());
        let err = d.open("/l/layer.tar").err().unwrap().to_string();
        assert!(err.contains("absolute path"), "{err}");
    }

    #[test]
    fn archive_links_skopeo_readers_disagree_on_are_refused() {
        use crate::image::tarread::build::{cat, end, entry, file, H};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let link = |name: &[u8], t: u8, target: &[u8]| entry(&H::new(name, t, 0).link(target), b"");
        std::fs::write(
            &path,
            cat(&[
                file("real", b"bytes"),
                link(b"hard", b'1', b"real"),
                link(b"d/abs", b'2', b"/real"),
                link(b"one", b'2', b"real"),
                link(b"two", b'2', b"one"),
                end(),
            ]),
        )
        .unwrap();
        let t = TarTree::open(&path).unwrap();
        assert!(t.open("one").unwrap().is_some());
        for (name, why) in [
            ("hard", "hard link"),
            ("d/abs", "absolute"),
            ("two", "another link"),
        ] {
            let err = t.open(name).err().unwrap().to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/archive_index");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/archive_index exists") {
            fuzz_archive_index(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }

    #[test]
    fn tar_members_linked_like_legacy_docker_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "aaa/layer.tar", &b"hello"[..])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "evil", "../../etc/passwd").unwrap();
        b.finish().unwrap();
        drop(b);
        let t = TarTree::open(&path).unwrap();
        let mut s = String::new();
        t.open("bbb/layer.tar")
            .unwrap()
            .unwrap()
            .0
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        assert!(
            t.open("evil").unwrap().is_none(),
            "links never leave the archive"
        );
        assert!(t.open("../aaa/layer.tar").is_err());
    }
}
