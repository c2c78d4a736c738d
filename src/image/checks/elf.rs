//! Whether a file is an executable the kernel can start with nothing else in the
//! image: an ELF file with no `PT_INTERP` program header. That header names the
//! dynamic loader (`/lib64/ld-linux-x86-64.so.2`, `/lib/ld-musl-x86_64.so.1`) the
//! kernel maps before the program; in a `scratch` image there is none, and the
//! start fails with a bare `no such file or directory`. Static PIE binaries
//! (`ET_DYN` without `PT_INTERP`, what Rust's musl target builds) are static.
//!
//! The reading follows the kernel's `load_elf_binary`: the ELF magic, a class
//! and byte order, type `ET_EXEC` or `ET_DYN`, program headers of the size the
//! class defines and at most 64 KiB of them; anything else it refuses to run,
//! and so this says it is not a static executable.

/// What a file is, as far as starting it in an empty image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    /// An ELF executable with no interpreter.
    Static,
    /// An ELF executable that needs the loader it names (lossy UTF-8, cut).
    Dynamic(String),
    /// Not something the kernel runs as a static binary; the reason says why.
    NotElf(&'static str),
    /// The headers that decide lie past the part of the file that was read.
    Unread,
}

const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
/// The kernel reads at most this many bytes of program headers.
const MAX_PHDRS_BYTES: u64 = 65536;
/// A loader path longer than this is cut in messages (Linux's PATH_MAX is 4096).
const MAX_INTERP_SHOWN: usize = 200;

struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        let at = usize::try_from(at).ok()?;
        self.b.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, at: u64) -> Option<u16> {
        let a = self.bytes::<2>(at)?;
        Some(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&self, at: u64) -> Option<u32> {
        let a = self.bytes::<4>(at)?;
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
    fn u64(&self, at: u64) -> Option<u64> {
        let a = self.bytes::<8>(at)?;
        Some(if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }
}

/// The ELF machine (`e_machine`), class and byte order an OCI architecture's
/// kernel runs, per the Go/OCI architecture names (`GOARCH`); `None` for one
/// this does not know, which is then not compared.
fn expected_machine(arch: &str) -> Option<(u16, bool, bool)> {
    // (e_machine, 64-bit, big-endian)
    Some(match arch {
        "amd64" => (62, true, false),
        "arm64" => (183, true, false),
        "386" => (3, false, false),
        "arm" => (40, false, false),
        "ppc64le" => (21, true, false),
        "ppc64" => (21, true, true),
        "s390x" => (22, true, true),
        "riscv64" => (243, true, false),
        "loong64" => (258, true, false),
        "mips64le" => (8, true, false),
        "mipsle" => (8, false, false),
        _ => return None,
    })
}

/// The name a `uname -m` would print for an ELF machine, for messages.
fn machine_name(m: u16, wide: bool, big: bool) -> String {
    match (m, wide, big) {
        (62, true, _) => "x86-64".into(),
        (62, false, _) => "x32".into(),
        (183, _, _) => "aarch64".into(),
        (3, _, _) => "i386".into(),
        (40, _, _) => "arm".into(),
        (21, _, false) => "ppc64le".into(),
        (21, _, true) => "ppc64".into(),
        (20, _, _) => "ppc".into(),
        (22, _, _) => "s390x".into(),
        (243, true, _) => "riscv64".into(),
        (243, false, _) => "riscv32".into(),
        (258, _, _) => "loongarch64".into(),
        (8, _, _) => "mips".into(),
        _ => format!("machine {m}"),
    }
}

/// Why an ELF file cannot run on `arch`'s kernel (`exec format error`), when
/// its machine, class or byte order is another's; `None` when they agree, the
/// file is not ELF, or `arch` is one this does not know.
pub fn wrong_machine(b: &[u8], arch: &str) -> Option<String> {
    let (want, want_wide, want_big) = expected_machine(arch)?;
    if b.len() < 20 || &b[..4] != b"\x7fELF" {
        return None;
    }
    let (wide, big) = (b[4] == 2, b[5] == 2);
    let m = if big {
        u16::from_be_bytes([b[18], b[19]])
    } else {
        u16::from_le_bytes([b[18], b[19]])
    };
    (m != want || wide != want_wide || big != want_big).then(|| {
        format!(
            "is built for {}, but the image is `{arch}`: the kernel refuses it (`exec format error`)",
            machine_name(m, wide, big)
        )
    })
}

/// Reads a file's first bytes `b` (all of it when `b` holds `size` bytes) as the
/// kernel would decide how to start it.
pub fn classify(b: &[u8], size: u64) -> Exec {
    // Only the head was read: what lies past it is unknown, not missing.
    let cut = (b.len() as u64) < size;
    if b.starts_with(b"#!") {
        return Exec::NotElf("is a script (`#!`), which needs its interpreter in the image");
    }
    if b.len() < 16 || &b[..4] != b"\x7fELF" {
        return Exec::NotElf("is not an ELF executable");
    }
    let wide = match b[4] {
        1 => false,
        2 => true,
        _ => return Exec::NotElf("is an ELF file of an unknown class"),
    };
    let big = match b[5] {
        1 => false,
        2 => true,
        _ => return Exec::NotElf("is an ELF file of an unknown byte order"),
    };
    let r = Reader { b, big };
    let truncated = if cut {
        Exec::Unread
    } else {
        Exec::NotElf("is a truncated ELF file")
    };
    let Some(ty) = r.u16(16) else {
        return truncated;
    };
    if ty != ET_EXEC && ty != ET_DYN {
        return Exec::NotElf(
            "is an ELF file but not an executable (a relocatable object or core dump)",
        );
    }
    // (offset of e_phoff, its width, e_phentsize's offset, the header size the class defines)
    let (phoff, phentsize, phnum, entsize) = if wide {
        (r.u64(32), r.u16(54), r.u16(56), 56u64)
    } else {
        (r.u32(28).map(u64::from), r.u16(42), r.u16(44), 32u64)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return truncated;
    };
    if u64::from(phentsize) != entsize {
        return Exec::NotElf(
            "is an ELF file whose program headers have the wrong size; the kernel refuses it",
        );
    }
    let total = u64::from(phnum) * entsize;
    if phnum == 0 || total > MAX_PHDRS_BYTES {
        return Exec::NotElf(
            "is an ELF file with no or too many program headers; the kernel refuses it",
        );
    }
    for i in 0..u64::from(phnum) {
        let Some(at) = phoff.checked_add(i * entsize) else {
            return truncated;
        };
        let Some(p_type) = r.u32(at) else {
            return truncated;
        };
        if p_type != PT_INTERP {
            continue;
        }
        let (off, size) = if wide {
            (r.u64(at + 8), r.u64(at + 32))
        } else {
            (r.u32(at + 4).map(u64::from), r.u32(at + 16).map(u64::from))
        };
        let name = off
            .zip(size)
            .and_then(|(o, s)| {
                let o = usize::try_from(o).ok()?;
                let s = usize::try_from(s).ok()?;
                b.get(o..o.checked_add(s)?)
            })
            .map(|n| {
                let n = n.split(|&c| c == 0).next().unwrap_or_default();
                let mut s = String::from_utf8_lossy(n).into_owned();
                if let Some((cut, _)) = s.char_indices().nth(MAX_INTERP_SHOWN) {
                    s.truncate(cut);
                    s.push('…');
                }
                s
            })
            .unwrap_or_else(|| {
                if cut {
                    "a path past the part of the file image-check reads".to_string()
                } else {
                    "an unreadable path".to_string()
                }
            });
        return Exec::Dynamic(name);
    }
    Exec::Static
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole file read.
    fn whole(b: &[u8]) -> Exec {
        classify(b, b.len() as u64)
    }

    /// A minimal ELF header plus program headers, as `ld` would lay it out.
    fn elf(wide: bool, big: bool, ty: u16, phdrs: &[(u32, &[u8])]) -> Vec<u8> {
        let (ehsize, entsize) = if wide { (64usize, 56usize) } else { (52, 32) };
        let data_at = ehsize + entsize * phdrs.len();
        let mut b = vec![0u8; data_at];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = if wide { 2 } else { 1 };
        b[5] = if big { 2 } else { 1 };
        b[6] = 1;
        let put16 = |b: &mut Vec<u8>, at: usize, v: u16| {
            let a = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 2].copy_from_slice(&a);
        };
        let put32 = |b: &mut Vec<u8>, at: usize, v: u32| {
            let a = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 4].copy_from_slice(&a);
        };
        let put64 = |b: &mut Vec<u8>, at: usize, v: u64| {
            let a = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 8].copy_from_slice(&a);
        };
        put16(&mut b, 16, ty);
        if wide {
            put64(&mut b, 32, ehsize as u64);
            put16(&mut b, 54, entsize as u16);
            put16(&mut b, 56, phdrs.len() as u16);
        } else {
            put32(&mut b, 28, ehsize as u32);
            put16(&mut b, 42, entsize as u16);
            put16(&mut b, 44, phdrs.len() as u16);
        }
        for (i, (ty, data)) in phdrs.iter().enumerate() {
            let at = ehsize + i * entsize;
            let off = b.len();
            b.extend_from_slice(data);
            put32(&mut b, at, *ty);
            if wide {
                put64(&mut b, at + 8, off as u64);
                put64(&mut b, at + 32, data.len() as u64);
            } else {
                put32(&mut b, at + 4, off as u32);
                put32(&mut b, at + 16, data.len() as u32);
            }
        }
        b
    }

    #[test]
    fn interpreter_header_decides_in_every_class_and_byte_order() {
        for wide in [true, false] {
            for big in [false, true] {
                let load = (1u32, &b""[..]);
                let interp = (PT_INTERP, &b"/lib/ld-musl-x86_64.so.1\0"[..]);
                assert_eq!(whole(&elf(wide, big, ET_EXEC, &[load])), Exec::Static);
                // Static PIE: ET_DYN without an interpreter.
                assert_eq!(whole(&elf(wide, big, ET_DYN, &[load])), Exec::Static);
                assert_eq!(
                    whole(&elf(wide, big, ET_DYN, &[load, interp])),
                    Exec::Dynamic("/lib/ld-musl-x86_64.so.1".into()),
                    "wide={wide} big={big}"
                );
            }
        }
    }

    #[test]
    fn what_the_kernel_refuses_is_not_static() {
        let load = (1u32, &b""[..]);
        assert!(matches!(whole(b"#!/bin/sh\necho\n"), Exec::NotElf(m) if m.contains("script")));
        assert!(matches!(whole(b""), Exec::NotElf(_)));
        assert!(matches!(whole(b"MZ\x90\0 not elf at all"), Exec::NotElf(_)));
        // A relocatable object (ET_REL) is not an executable.
        assert!(matches!(
            whole(&elf(true, false, 1, &[load])),
            Exec::NotElf(_)
        ));
        // No program headers, or a wrong entry size.
        assert!(matches!(
            whole(&elf(true, false, ET_EXEC, &[])),
            Exec::NotElf(_)
        ));
        let mut odd = elf(true, false, ET_EXEC, &[load]);
        odd[54] = 40;
        assert!(matches!(whole(&odd), Exec::NotElf(_)));
        // Every truncation of a dynamic binary reads as something, never a panic,
        // and never as static once the interpreter's header is gone... or kept.
        let full = elf(true, false, ET_DYN, &[load, (PT_INTERP, b"/lib/ld.so\0")]);
        for n in 0..full.len() {
            assert_ne!(whole(&full[..n]), Exec::Static, "cut at {n}");
        }
        // A program header table pointing past the end, or overflowing.
        let mut far = elf(true, false, ET_EXEC, &[load]);
        far[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(whole(&far), Exec::NotElf(m) if m.contains("truncated")));
    }

    /// This test binary, linked by the host's toolchain against glibc.
    #[test]
    fn the_running_test_binary_is_dynamic() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        match whole(&me) {
            Exec::Dynamic(loader) => {
                assert!(loader.starts_with('/') && loader.contains("ld"), "{loader}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interpreter_names_are_cut_and_lossy() {
        let long = vec![b'a'; 5000];
        match whole(&elf(true, false, ET_DYN, &[(PT_INTERP, &long)])) {
            Exec::Dynamic(s) => assert_eq!(s.chars().count(), MAX_INTERP_SHOWN + 1),
            other => panic!("{other:?}"),
        }
        // An interpreter whose bytes lie past the end is still dynamic.
        let mut b = elf(true, false, ET_DYN, &[(PT_INTERP, b"/x\0")]);
        let at = 64 + 8;
        b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert_eq!(whole(&b), Exec::Dynamic("an unreadable path".into()));
    }

    /// `static = true` reads a file's first bytes only: what they decide is
    /// the same as for the whole file, and what lies past them is never taken
    /// as missing (a cut header is not a truncated file).
    #[test]
    fn a_head_decides_as_the_whole_file_or_says_it_could_not() {
        let load = (1u32, &b""[..]);
        let mut big = elf(true, false, ET_DYN, &[load]);
        let size = big.len() as u64 + (64 << 20);
        assert_eq!(classify(&big, size), Exec::Static);
        let dynamic = elf(true, false, ET_DYN, &[load, (PT_INTERP, b"/lib/ld.so\0")]);
        assert_eq!(classify(&dynamic, size), Exec::Dynamic("/lib/ld.so".into()));
        // Cut anywhere: never static, and a cut header is unread, not truncated.
        for n in 0..dynamic.len() {
            match classify(&dynamic[..n], size) {
                Exec::Static => panic!("static at {n}"),
                Exec::NotElf(m) if m.contains("truncated") => panic!("truncated at {n}"),
                _ => {}
            }
        }
        // Program headers past the head.
        big[32..40].copy_from_slice(&(1u64 << 30).to_le_bytes());
        assert_eq!(classify(&big, size), Exec::Unread);
        assert!(matches!(whole(&big), Exec::NotElf(m) if m.contains("truncated")));
    }

    /// Hostile round 2, H3: a static aarch64 binary in a linux/amd64 image
    /// passed; the kernel refuses it with `exec format error`.
    #[test]
    fn the_machine_must_be_the_images() {
        let load = (1u32, &b""[..]);
        let with_machine = |wide, big, m: u16| {
            let mut b = elf(wide, big, ET_EXEC, &[load]);
            let bytes = if big {
                m.to_be_bytes()
            } else {
                m.to_le_bytes()
            };
            b[18..20].copy_from_slice(&bytes);
            b
        };
        assert_eq!(wrong_machine(&with_machine(true, false, 62), "amd64"), None);
        assert_eq!(
            wrong_machine(&with_machine(true, false, 183), "arm64"),
            None
        );
        assert_eq!(wrong_machine(&with_machine(true, true, 22), "s390x"), None);
        let m = wrong_machine(&with_machine(true, false, 183), "amd64").unwrap();
        assert!(
            m.contains("aarch64") && m.contains("exec format error"),
            "{m}"
        );
        assert!(wrong_machine(&with_machine(true, false, 62), "arm64").is_some());
        // x32 (32-bit class, x86-64 machine) and i386 are not amd64 binaries.
        assert!(wrong_machine(&with_machine(false, false, 62), "amd64").is_some());
        assert!(wrong_machine(&with_machine(false, false, 3), "amd64").is_some());
        // Byte order counts: ppc64 (big) is not ppc64le.
        assert!(wrong_machine(&with_machine(true, true, 21), "ppc64le").is_some());
        // An architecture this does not know, or not ELF: not compared.
        assert_eq!(wrong_machine(&with_machine(true, false, 183), "wasm"), None);
        assert_eq!(wrong_machine(b"#!/bin/sh\n", "amd64"), None);
    }
}
