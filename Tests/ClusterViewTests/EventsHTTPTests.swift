import ClusterView
import Testing

@Suite("The event stream's format")
struct EventStreamFormatTests {
    @Test("the stream parser: fields, multi-line data, comments, CRLF, pieces split anywhere, an overlong line dropped")
    func parser() {
        let text = ": hello\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\nid: 8\ndata: one\ndata: two\n\nevent: error\ndata: broken\n\n"
        var parser = EventsHTTP.StreamParser()
        var messages: [EventsHTTP.StreamParser.Message] = []
        for byte in text.utf8 { messages += parser.feed([byte]) }
        #expect(messages.map(\.id) == ["7", "8", nil])
        #expect(messages.map(\.data) == ["{\"a\":1}", "one\ntwo", "broken"])
        #expect(messages.last?.event == "error")
        var overlong = EventsHTTP.StreamParser()
        let long = "data: " + String(repeating: "x", count: EventsHTTP.StreamParser.maxLineBytes + 10) + "\n\nid: 9\ndata: ok\n\n"
        #expect(overlong.feed(long.utf8).map(\.data) == ["ok"])
    }
}
