import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML document reduced to what S3 answers need: elements with their text and children.
/// XMLParser (FoundationXML, libxml2 underneath) does the parsing; this only collects.
final class XMLNode {
    let name: String
    var text = ""
    var children: [XMLNode] = []

    init(name: String) { self.name = name }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    func value(_ name: String) -> String? { child(name)?.text }

    /// The root element, or nil when the data is not well-formed XML.
    static func parse(_ data: Data) -> XMLNode? {
        let collector = Collector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        guard parser.parse(), let root = collector.root else { return nil }
        return root
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var root: XMLNode?
        var stack: [XMLNode] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let node = XMLNode(name: name)
            if let parent = stack.last { parent.children.append(node) } else { root = node }
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = stack.popLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
    }
}

/// The error document S3 sends with a 4xx or 5xx: `<Error><Code>…</Code><Message>…</Message></Error>`.
struct S3ErrorDocument {
    var code: String
    var message: String

    init?(_ data: Data) {
        guard let root = XMLNode.parse(data), root.name == "Error", let code = root.value("Code") else { return nil }
        self.code = code
        self.message = root.value("Message") ?? ""
    }
}

/// Escapes text for an XML element body.
func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
