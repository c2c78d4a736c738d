//! The one list of finding codes both tools can emit.
//!
//! Codes are the stable contract with users' CI scripts and with JSON consumers:
//! keeping them in a single table makes duplicates and undocumented codes a test
//! failure instead of a surprise.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident => $code:literal, $doc:literal;)*) => {
        /// A stable, kebab-case identifier for a kind of finding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            /// One line on what the code means; the README's list repeats it.
            pub fn doc(self) -> &'static str {
                match self { $(Code::$variant => $doc),* }
            }
        }
    };
}

codes! {
    // could not check
    SpecInvalid => "spec-invalid", "the spec could not be read or has an error (the message names its line); nothing was checked";
    ImageUnreadable => "image-unreadable", "the image, or one platform of it, could not be read (bad reference, corrupt blob, digest mismatch, missing blob); nothing about it was checked";
    RegistryAuth => "registry-auth", "the registry refused the credentials (401) or their access to the repository (403), or none could be found or obtained; the message names the credential source tried";
    RegistryNotFound => "registry-not-found", "the registry has no such repository, tag or digest (the message says which, and lists a few tags)";
    RegistryUnavailable => "registry-unavailable", "the registry could not be reached or kept failing (connection refused, 5xx or 429 after retries, the `--timeout` deadline)";
    // image-check: reading and flattening
    PathEscapesRoot => "path-escapes-root", "a layer entry or hard-link target named with `..` climbs out of the image root: Docker refuses the layer, containerd and umoci write it at the clamped path, where the tree shows it";
    TarGlobalHeader => "tar-global-header", "a layer holds a PAX global header: containerd and Docker skip it, umoci refuses the layer";
    HardlinkDangling => "hardlink-dangling", "a hard link in a layer points at a path that does not exist at that point, or at a directory; runtimes fail to unpack the layer";
    RuntimeDivergence => "runtime-divergence", "a layer goes through a symlink a lower layer made (or links across layers), so umoci/containerd-native and docker/containerd-overlayfs unpack different trees; an error when a check's verdict differs between them";
    PathTooLong => "path-too-long", "a layer entry's path, name or link target is longer than Linux allows; runtimes fail to unpack the layer";
    PlatformMismatch => "platform-mismatch", "the image's only platform is not linux/amd64, so on x86_64 hosts (ECS Fargate's default) it fails with `exec format error`";
    // image-check: files
    FileMissing => "file-missing", "a path the spec requires does not exist in the flattened image";
    FileEmpty => "file-empty", "a file the spec requires to be non-empty has 0 bytes";
    FileTooSmall => "file-too-small", "a file is smaller than the spec's `min_size`";
    FileWrongKind => "file-wrong-kind", "a path exists but is not the kind (file, dir, symlink) the spec names";
    FileMode => "file-mode", "a path's permission bits lack the bits the spec requires";
    DirTooFewEntries => "dir-too-few-entries", "a directory has fewer entries than the spec's `min_entries` (an empty `dist/`)";
    FileNotStatic => "file-not-static", "a file the spec marks `static = true` is not an executable the kernel can start in an empty image: it names a dynamic loader (`PT_INTERP`), is a script or not ELF, or was too large to read (the message says which)";
    GlobNoMatch => "glob-no-match", "a glob in the spec matched fewer paths than required";
    SymlinkDangling => "symlink-dangling", "a path the spec requires is a symlink whose target does not exist, or a link loop";
    // image-check: config
    ConfigUserRoot => "config-user-root", "the image runs as root where the spec requires a non-root user";
    ConfigUserMismatch => "config-user-mismatch", "the image's USER differs from the spec";
    ConfigWorkdirMismatch => "config-workdir-mismatch", "the image's WORKDIR differs from the spec";
    ConfigPortMissing => "config-port-missing", "a port the spec requires is not in EXPOSE";
    ConfigEnvMissing => "config-env-missing", "an environment variable the spec requires is not set in the image config";
    ConfigEnvMismatch => "config-env-mismatch", "an environment variable in the image config has a different value than the spec";
    ConfigEntrypointMismatch => "config-entrypoint-mismatch", "ENTRYPOINT does not start with the spec's prefix";
    ConfigCmdMismatch => "config-cmd-mismatch", "CMD does not start with the spec's prefix";
    // image-check: automatic checks
    CmdMissing => "cmd-missing", "the image has neither ENTRYPOINT nor CMD; the container has nothing to run";
    CmdNotChecked => "cmd-not-checked", "the command is a shell string, so its target could not be determined";
    CmdTargetMissing => "cmd-target-missing", "the script or program ENTRYPOINT+CMD would run does not exist";
    CmdTargetEmpty => "cmd-target-empty", "the script ENTRYPOINT+CMD would run is an empty file";
    CmdTargetNotFile => "cmd-target-not-file", "the script ENTRYPOINT+CMD would run is a directory or other non-file";
    CmdTargetNotExecutable => "cmd-target-not-executable", "the program ENTRYPOINT+CMD would exec directly has no execute bit";
    InterpreterMissing => "interpreter-missing", "the interpreter or program of the command is not on the image's PATH";
    ImportUnresolved => "import-unresolved", "a module the Node server imports (or a dependency a reached package declares) cannot be resolved in the image; an error when Node would throw at start (`ERR_MODULE_NOT_FOUND`, `MODULE_NOT_FOUND`), a warning when only a lazy path fails";
    NodeModuleFormat => "node-module-format", "a `.js` file with `import`/`export` in a package without `\"type\": \"module\"`, on a Node version (`NODE_VERSION`) that runs it as CommonJS";
    PackageJsonInvalid => "package-json-invalid", "a `package.json` Node reads to load an app file is not valid JSON; Node throws `ERR_INVALID_PACKAGE_CONFIG` when it loads that file";
    NodeNotChecked => "node-not-checked", "the Node imports check did not run, or skipped a file (no Node entry, a file over the 16 MiB read limit, a parse failure); the message says why";
    AssetMissing => "asset-missing", "a page (or a stylesheet it loads) references a local file the image does not have; the browser gets a 404";
    WebNotChecked => "web-not-checked", "the frontend-assets check did not run or skipped a file (no web root, no index page, a file not read); the message says why";
    UserUnknown => "user-unknown", "USER names a user that is not in the image's `/etc/passwd`; the container cannot start";
    // image-check: task-definition lint
    TaskdefInvalid => "taskdef-invalid", "the task-definition file could not be read, parsed, or has no task definition or container to check (the message names its line); nothing was checked";
    TaskdefNoSpec => "taskdef-no-spec", "no spec with a `[preflight]` table was given or found, so what the container needs could not be checked (exit 2)";
    TaskdefEnvMissing => "taskdef-env-missing", "a variable the runtime spec requires is in neither the container's `environment`, its `secrets`, nor the image's ENV; preflight would exit at container start";
    TaskdefEnvMalformed => "taskdef-env-malformed", "a literal `environment` value does not fit its `[[preflight.env]]` kind (or is no S3 bucket name); preflight would exit at container start";
    TaskdefEnvMaybe => "taskdef-env-maybe", "a note: a required variable may come from `environmentFiles` (S3, not read) or a list known only at deploy time";
    TaskdefEnvDuplicate => "taskdef-env-duplicate", "a variable is twice in `environment` (the container sees the last), or in both `environment` and `secrets` (which one it sees is not documented)";
    TaskdefSecretInEnvironment => "taskdef-secret-in-environment", "a plain `environment` value is secret-shaped (a Stripe or `sk-` key, a URL or connection string with a password, a PEM private key, a CloudFormation secret dynamic reference) or is a secret in the spec; the value is never shown";
    TaskdefSecretRefInvalid => "taskdef-secret-ref-invalid", "a `secrets[].valueFrom` is not an ARN or parameter name ECS accepts (a wildcard, a partial ARN, a JSON key without its three fields, another service)";
    TaskdefSecretRefPartial => "taskdef-secret-ref-partial", "a `secrets[].valueFrom` is a partial Secrets Manager ARN (no six-character suffix), which matches only while one secret's name fits";
    TaskdefSecretRegion => "taskdef-secret-region", "a secret's ARN is in another region than the task";
    TaskdefExecutionRoleMissing => "taskdef-execution-role-missing", "the task has no `executionRoleArn` but uses `secrets`, an ECR image or `awslogs`, which ECS fetches with it; the task cannot start";
    TaskdefTaskRoleMissing => "taskdef-task-role-missing", "the runtime spec requires the S3 probe but the task has no `taskRoleArn` (nor static keys), so the SDK finds no credentials";
    TaskdefLogsMissing => "taskdef-logs-missing", "the container has no `logConfiguration`, so preflight's report is lost";
    TaskdefPortMissing => "taskdef-port-missing", "a port the spec names or the image EXPOSEs is not in the container's `portMappings`";
    TaskdefHealthcheckMissing => "taskdef-healthcheck-missing", "the container has no `healthCheck`";
    TaskdefHealthcheckPath => "taskdef-healthcheck-path", "the container's `healthCheck` does not call the spec's `health_path`";
    TaskdefNotEssential => "taskdef-not-essential", "the app container has `essential: false`, so the task outlives the server";
    TaskdefReadonlyWorkdir => "taskdef-readonly-workdir", "a note: `readonlyRootFilesystem` is on and no volume is mounted at the image's WORKDIR, where apps often write";
    // preflight: environment and secrets
    EnvMissing => "env-missing", "a required environment variable is not set or empty";
    EnvMalformed => "env-malformed", "a required environment variable does not have the expected shape";
    SecretMissing => "secret-missing", "a secret variable is not set or empty";
    SecretMalformed => "secret-malformed", "a secret does not have the shape of its kind";
    SecretPublishableKey => "secret-publishable-key", "a publishable (`pk_`) key is where a secret key belongs";
    SecretTestKeyInProduction => "secret-test-key-in-production", "a test-mode key is used with `NODE_ENV=production`";
    SecretWholeJson => "secret-whole-json", "a whole Secrets Manager JSON object is where one value was expected";
    SecretFingerprint => "secret-fingerprint", "a keyed fingerprint of a secret, to compare with the value now stored";
    // preflight: postgres
    PgUrlInvalid => "pg-url-invalid", "`DATABASE_URL` cannot be parsed with libpq's rules";
    PgDns => "pg-dns", "the database host name does not resolve";
    PgConnectionRefused => "pg-connection-refused", "nothing listens on the database host and port";
    PgUnreachable => "pg-unreachable", "the database host cannot be reached (no route, network down)";
    PgTimeout => "pg-timeout", "the database did not answer within the deadline";
    PgNoSsl => "pg-no-ssl", "the server does not support SSL but the sslmode requires it";
    TlsUnknownCa => "tls-unknown-ca", "the server's certificate chain is not trusted (self-signed or unknown CA)";
    TlsHostnameMismatch => "tls-hostname-mismatch", "the server's certificate is not valid for the host name";
    TlsExpired => "tls-expired", "the server's certificate has expired";
    TlsNotYetValid => "tls-not-yet-valid", "the server's certificate is not valid yet";
    TlsHandshake => "tls-handshake", "the TLS handshake failed for another reason";
    TlsRevoked => "tls-revoked", "the server's certificate (or one above it) is revoked by the CRL in `sslcrl`/`sslcrldir`";
    PgClientCert => "pg-client-cert", "the client certificate or key cannot be used (missing key, loose permissions, wrong `sslpassword`), or the server wants one";
    PgNoPassword => "pg-no-password", "the server asks for a password and none was supplied (an empty password counts as none)";
    PgPassfileIgnored => "pg-passfile-ignored", "the password file is ignored, as libpq ignores it (group/world access or not a plain file)";
    PgSessionAttrs => "pg-session-attrs", "a server was reached but is not the kind `target_session_attrs` asks for (read-write, standby …)";
    PgAuthFailed => "pg-auth-failed", "the password was rejected (SQLSTATE 28P01)";
    PgDatabaseMissing => "pg-database-missing", "the database does not exist (SQLSTATE 3D000)";
    PgHbaRejected => "pg-hba-rejected", "`pg_hba.conf` has no entry for this connection (SQLSTATE 28000)";
    PgStartingUp => "pg-starting-up", "the database system is starting up (SQLSTATE 57P03)";
    PgTooManyConnections => "pg-too-many-connections", "the server has no free connection slots (SQLSTATE 53300)";
    PgError => "pg-error", "the database returned another error";
    PgDriverDiffers => "pg-driver-differs", "a note: libpq and node-postgres read this connection differently (a default libpq applied, a password that is not UTF-8), so the app's driver may not connect where preflight did";
    PgReplicationNotChecked => "pg-replication-not-checked", "`replication` asks for a replication connection, which preflight cannot open: it checked an ordinary session instead";
    PgGssRequired => "pg-gss-required", "`gssencmode=require` asks for GSSAPI encryption, which preflight cannot check and libpq cannot start without a Kerberos credential cache";
    // preflight: s3
    S3NoCredentials => "s3-no-credentials", "no AWS credentials provider supplied credentials";
    S3NoSuchBucket => "s3-no-such-bucket", "the bucket does not exist";
    S3AccessDenied => "s3-access-denied", "the principal may not access the bucket";
    S3WrongRegion => "s3-wrong-region", "the bucket is in another region than the client uses";
    S3Timeout => "s3-timeout", "S3 did not answer within the deadline";
    S3Unreachable => "s3-unreachable", "the S3 endpoint could not be reached";
    NoCaCertificates => "no-ca-certificates", "the container has no trusted CA certificates, so TLS to AWS cannot be verified";
    S3WriteFailed => "s3-write-failed", "the write probe could not put or delete its object";
    S3Error => "s3-error", "S3 returned another error";
    S3BadCredentials => "s3-bad-credentials", "the credentials were rejected (`SignatureDoesNotMatch`, `InvalidAccessKeyId`, an expired token): wrong keys, not a missing permission";
    AwsProfileMissing => "aws-profile-missing", "`AWS_PROFILE` names a profile that neither the config nor the credentials file defines";
    AwsRegionAssumed => "aws-region-assumed", "no AWS region is configured, so `us-east-1` was assumed";
    CaPathMissing => "ca-path-missing", "`SSL_CERT_FILE` or `SSL_CERT_DIR` names a path that does not exist, so no CA certificates were loaded";
    FileRefused => "file-refused", "a file an AWS or TLS variable names (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_WEB_IDENTITY_TOKEN_FILE`, `SSL_CERT_FILE`) is not a regular file or is too large; it was not read, so nothing can hang or exhaust memory on it";
    // preflight: the run itself
    ProbeTimeout => "probe-timeout", "a probe did not finish within its deadline";
    ExecFailed => "exec-failed", "the server command could not be started";
    UsageInvalid => "usage-invalid", "the command line could not be used (unknown flag, bad value); nothing was checked";
    NothingToCheck => "nothing-to-check", "no spec, flag or variable asked for any probe; nothing was checked";
    RuntimeFailed => "runtime-failed", "preflight could not start its async runtime (out of threads or file descriptors); nothing was checked";
    ProbeCrashed => "probe-crashed", "a library inside a probe failed unexpectedly (the AWS SDK does on credentials holding a control character); that probe could not check";
    StoppedBySignal => "stopped-by-signal", "SIGTERM, SIGINT or SIGQUIT arrived during the probes; preflight stopped and did not start the server";
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_kebab_case_and_documented_in_readme() {
        let readme = include_str!("../../README.md");
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !s.starts_with('-')
                    && !s.ends_with('-'),
                "{s} is not kebab-case"
            );
            assert!(
                readme.contains(&format!("`{s}`")),
                "{s} is missing from the README's list of codes"
            );
            assert!(!code.doc().is_empty());
        }
    }
}
