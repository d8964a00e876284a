import ArgumentParser
import ChorusNode

@main
struct ChorusClusterHealth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chorus-cluster-health",
        abstract: "Health checks, probes and metrics for the nodes of a peer-to-peer cluster.",
        version: ProductVersion.current,
        subcommands: [
            NodeCommand.self, DemoCommand.self, StatusCommand.self, EventsCommand.self, HistoryCommand.self, VerifyCommand.self, MaintCommand.self,
            DHTCommand.self,
            KeygenCommand.self,
            SimulateCommand.self,
        ]
    )
}
