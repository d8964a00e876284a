import TestSupport
import Foundation
import NodeHealth
import Testing
import NodeHealthTesting
import TestSupport

/// A Python interpreter that can import PyYAML, or `nil`.
func pythonWithYAML() -> String? {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3", "python3"] {
        guard let child = try? ChildProcess("/usr/bin/env", [candidate, "-c", "import yaml"]) else { continue }
        if child.waitUntilExit() == 0 { return candidate }
    }
    return nil
}

/// The manifests under `deploy/kubernetes/`, rehearsed on this machine: the Secret that
/// make-secret.sh prints is installed as the init container would install it, and the node
/// container's own command line (ports, hosts and the Service name swapped for loopback ones) runs
/// three pods that form a sealed, trusted cluster and answer the manifest's probes.
@Suite("The Kubernetes manifests, rehearsed on 127.0.0.1", .serialized)
struct KubernetesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Reads the manifests and the Secret with PyYAML: the documents, as JSON, and the node
    /// container's command split as the shell would (`shlex`).
    static let reader = #"""
        import base64, json, shlex, sys, yaml
        docs = list(yaml.safe_load_all(open(sys.argv[1])))
        secret = yaml.safe_load(open(sys.argv[2]))
        sts = next(d for d in docs if d["kind"] == "StatefulSet")
        node = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "node")
        print(json.dumps({
            "kinds": [d["kind"] for d in docs],
            "services": {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"},
            "serviceName": sts["spec"]["serviceName"],
            "ports": {p["name"]: p["containerPort"] for p in node["ports"]},
            "readiness": node["readinessProbe"]["httpGet"], "liveness": node["livenessProbe"]["httpGet"],
            "startup": node["startupProbe"]["grpc"],
            "argv": shlex.split(node["args"][0]),
            "secretName": secret["metadata"]["name"],
            "volumeSecret": next(v["secret"]["secretName"] for v in sts["spec"]["template"]["spec"]["volumes"] if "secret" in v),
            "files": {k: base64.b64decode(v).decode() for k, v in secret["data"].items()},
        }))
        """#

    @Test("make-secret.sh's Secret and the StatefulSet's node command form a sealed three-pod cluster that passes the health probes")
    func rehearsal() async throws {
        let python = try #require(pythonWithYAML(), "no python3 with PyYAML: apt-get install python3-yaml (make test does)")
        let dir = temporaryDirectory()
        let secret = try ChildProcess(
            "/usr/bin/env", ["bash", Self.root.appendingPathComponent("deploy/kubernetes/make-secret.sh").path, productBinary().path, "3"])
        #expect(secret.waitUntilExit() == 0, "\(secret.output)")
        try secret.output.write(toFile: "\(dir)/secret.yaml", atomically: true, encoding: .utf8)
        let read = try ChildProcess(
            "/usr/bin/env",
            [python, "-c", Self.reader, Self.root.appendingPathComponent("deploy/kubernetes/statefulset.yaml").path, "\(dir)/secret.yaml"])
        #expect(read.waitUntilExit() == 0, "\(read.output)")
        let manifest = try decodeJSON(read.output)

        // The wiring: the health probes on the http port, the Services' ports, the Secret's name.
        #expect(manifest["kinds"] == .array(["Service", "Service", "StatefulSet"]))
        #expect(manifest["readiness"]?["path"] == "/health/ready" && manifest["readiness"]?["port"] == "http")
        #expect(manifest["liveness"]?["path"] == "/health/live" && manifest["liveness"]?["port"] == "http")
        #expect(manifest["ports"]?["http"] == 8081 && manifest["ports"]?["gossip"] == 7946 && manifest["ports"]?["grpc"] == 9081)
        #expect(manifest["startup"]?["port"] == 9081 && manifest["startup"]?["service"] == "", "the gRPC start-up probe")
        let gossipService = try #require(manifest["serviceName"]?.stringValue)
        #expect(manifest["services"]?[gossipService]?["clusterIP"] == "None", "the gossip Service is headless")
        #expect(manifest["services"]?[gossipService]?["publishNotReadyAddresses"] == true)
        #expect(manifest["secretName"] == manifest["volumeSecret"])
        guard case .array(let argv)? = manifest["argv"], case .object(let files)? = manifest["files"] else {
            Issue.record("unexpected manifest: \(manifest)")
            return
        }
        #expect(Set(files.keys) == ["node-0.key", "node-1.key", "node-2.key", "trust", "cluster.key", "admin-token"])

        // The pods: the init container's files (0600), then the node container's command line.
        var pods: [NodeProcess] = []
        defer { for pod in pods { pod.terminate() } }
        var bases: [String] = []
        var seed: String?
        for i in 0..<3 {
            let run = "\(dir)/pod\(i)/run"
            let data = "\(dir)/pod\(i)/data"
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            for (name, file) in [("node.key", "node-\(i).key"), ("cluster.key", "cluster.key"), ("admin-token", "admin-token"), ("trust", "trust")] {
                try (files[file]?.stringValue ?? "").write(toFile: "\(run)/\(name)", atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: name == "trust" ? 0o644 : 0o600], ofItemAtPath: "\(run)/\(name)")
            }
            var arguments = try Self.podArguments(argv, pod: i, run: run, data: data, seed: seed)
            arguments.removeFirst(2)  // "exec chorus-cluster-health": NodeProcess runs the binary itself
            let pod = try NodeProcess(arguments: arguments)
            pods.append(pod)
            if i == 0 { seed = try await pod.waitForGossipAddress() }
            bases.append("http://127.0.0.1:\(try await pod.waitForPort())")
        }
        // HTTP may answer before gossip logs that it is ready: wait for the line, do not race it.
        await eventually(timeout: .seconds(10), "every pod seals its datagrams (cluster_key=on)") {
            pods.allSatisfy { $0.log.contains("cluster_key=on") }
        }

        // What the manifest's probes ask: every pod ready and live, in one cluster of three where
        // none is unhealthy. Not "all healthy": a pub/sub or DHT probe that times out once while
        // the whole suite and the fuzzer hold both cores leaves its node degraded for minutes
        // while the probe's score recovers (ready and live all along), which failed this test
        // beside the suite in 2 of 5 fresh-clone runs; the process and demo tests check "healthy".
        // A safety net, not a bound: passes in ~4 s alone.
        let settled = await eventually(timeout: .seconds(90), "every pod ready and live, seeing three nodes, none unhealthy") {
            for base in bases {
                guard let (ready, _) = try? await httpGet("\(base)/health/ready"), ready == 200,
                    let (live, _) = try? await httpGet("\(base)/health/live"), live == 200,
                    let (code, json) = await ClusterProcessTests.clusterHealth(base), code == 200,
                    json["node_count"] == 3, (json["by_status"]?["unhealthy"]?.intValue ?? 0) == 0,
                    (json["by_status"]?["healthy"]?.intValue ?? 0) + (json["by_status"]?["degraded"]?.intValue ?? 0) == 3
                else { return false }
            }
            return true
        }
        if !settled {
            // What each pod says about itself and the cluster, so that a failure beside the whole
            // suite tells which check or member held it back.
            for base in bases {
                let own = try? await httpGet("\(base)/health")
                let cluster = try? await httpGet("\(base)/cluster/health")
                Issue.record(
                    """
                    \(base)/health: \(own.map { "\($0.0) \(String(decoding: $0.1, as: UTF8.self))" } ?? "no answer")
                    /cluster/health: \(cluster.map { "\($0.0) \(String(decoding: $0.1, as: UTF8.self))" } ?? "no answer")
                    """)
            }
        }
        let view = await ClusterProcessTests.clusterHealth(bases[1])
        let names: Set<String?> = {
            guard case .array(let nodes)? = view?.json["nodes"] else { return [] }
            return Set(nodes.map { $0["node_id"]?.stringValue })
        }()
        #expect(names == ["chorus-0", "chorus-1", "chorus-2"], "pods are named after POD_NAME")
        // The start-up probe as the kubelet asks it: grpc.health.v1.Health/Check of "".
        let client = Self.root.appendingPathComponent("scripts/grpc_health_client.py").path
        for pod in pods {
            let port = try #require(pod.log.firstMatch(of: #/grpc=127\.0\.0\.1:(\d+)/#).map { String($0.1) }, "no grpc ready line")
            let (_, answer) = try await runAsync(URL(fileURLWithPath: "/usr/bin/env"), ["python3", client, "check", "127.0.0.1:\(port)", ""])
            #expect(answer.hasPrefix("SERVING"), "the gRPC probe: \(answer)")
        }
    }

    /// The node container's `argv` for pod `i` on loopback: `$(POD_NAME)` and `$(POD_IP)`
    /// substituted, the Secret's and the volume's paths moved under `run` and `data`, both ports
    /// free ones on 127.0.0.1, no drain delay, and the headless Service replaced by pod 0's address.
    static func podArguments(_ argv: [JSONValue], pod i: Int, run: String, data: String, seed: String?) throws -> [String] {
        var arguments = argv.compactMap(\.stringValue).map { argument in
            argument.replacingOccurrences(of: "$(POD_NAME)", with: "chorus-\(i)").replacingOccurrences(of: "$(POD_IP)", with: "127.0.0.1")
                .replacingOccurrences(of: "/run/chorus", with: run).replacingOccurrences(of: "/data", with: data)
        }
        #expect(Array(arguments.prefix(3)) == ["exec", "chorus-cluster-health", "node"])
        func set(_ flag: String, _ value: String?) {
            guard let at = arguments.firstIndex(of: flag) else {
                Issue.record("the node command has no \(flag): \(arguments)")
                return
            }
            if let value { arguments[at + 1] = value } else { arguments.removeSubrange(at...(at + 1)) }
        }
        set("--http-host", "127.0.0.1")
        set("--http-port", "0")
        set("--grpc-port", "0")
        set("--gossip-host", "127.0.0.1")
        set("--gossip-port", "0")
        set("--advertise", nil)
        set("--drain-delay", "0")
        set("--join", seed)
        return arguments
    }
}
