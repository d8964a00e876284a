import Testing

// The simulation suite is an executable rather than a test target so that `make test` can build
// it in release (`swift build -c release --product simulation-tests`): it needs GossipCore and the
// simulator only, which take seconds to optimise, and optimised they run the 100- to 200-node
// scenarios in about a minute, where a debug build takes most of an hour. Swift Testing's own
// entry point (the one `swift test` calls) runs the suites and takes the same arguments
// (`--filter`, `--parallel`, ...).
await Testing.__swiftPMEntryPoint() as Never
