//! The Java side of the interop tests: the `interop/java` Maven project
//! (kafka-clients 4.4.0), built once per test process into a runnable jar,
//! and the programs that build and run it. `FERROKAFKA_MVN` and
//! `FERROKAFKA_JAVA` name other `mvn` and `java` executables.
//!
//! This is test support: what goes wrong fails the calling test with a
//! message (a missing JDK or Maven says which and how to get it), never
//! silently passes.

#![allow(clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The program named by `variable` in the environment, else `default`.
pub fn executable(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

/// `java`, or what `FERROKAFKA_JAVA` names.
pub fn java() -> Command {
    Command::new(executable("FERROKAFKA_JAVA", "java"))
}

/// Starts `command`; a program that is not installed fails the test with
/// what is needed (`what`) and how to provide it.
pub fn spawn(command: &mut Command, what: &str) -> Child {
    match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "{what} is needed for the Java client interop tests and was not found \
             ({:?}: {error}); install a JDK 17+ and Maven, or set FERROKAFKA_JAVA / \
             FERROKAFKA_MVN",
            command.get_program()
        ),
        Err(error) => panic!("starting {:?}: {error}", command.get_program()),
    }
}

/// Builds `interop/java` with `mvn -B -q package` once per test process
/// (Maven fetches kafka-clients from Maven Central on first use) and returns
/// the runnable jar.
pub fn jar() -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("java");
        let started = Instant::now();
        let output = spawn(
            Command::new(executable("FERROKAFKA_MVN", "mvn"))
                .args(["-B", "-q", "-f"])
                .arg(project.join("pom.xml"))
                .arg("package")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            "Maven (mvn)",
        )
        .wait_with_output()
        .unwrap_or_else(|error| panic!("waiting for mvn package: {error}"));
        assert!(
            output.status.success(),
            "mvn package failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("mvn package took {:.1?}", started.elapsed());
        let jar = project
            .join("target")
            .join("ferrokafka-java-interop-jar-with-dependencies.jar");
        assert!(jar.is_file(), "mvn package did not make {jar:?}");
        jar
    })
}
