import Foundation

// `--json` output keeps every key (docs/JSON.md): a Swift optional that is nil is written as
// `null`, never left out. Synthesized `Encodable` conformances call `encodeIfPresent` for optional
// properties, which JSONEncoder answers by writing nothing; this encoder builds a tree instead and
// answers `encodeIfPresent(nil)` with `null`. The tree is then written by JSONEncoder itself, so
// numbers, strings and formatting are exactly JSONEncoder's.

/// A JSON value built by `NullKeepingEncoder`.
indirect enum JSONTree: Encodable {
    case null
    case bool(Bool)
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case array([JSONTree])
    case object([String: JSONTree])
    /// A value JSONEncoder treats specially (Date, Data, URL, Decimal): left to it.
    case leaf(any Encodable)

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        switch self {
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .string(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .int(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .uint(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .double(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .leaf(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in members { try c.encode(v, forKey: Key(k)) }
        }
    }
}

/// A reference node so nested containers can fill in their part after they are handed out.
final class JSONNode {
    enum Storage { case unset, value(JSONTree), array([JSONNode]), object([String: JSONNode]) }
    var storage: Storage = .unset

    var tree: JSONTree {
        switch storage {
        case .unset: return .object([:])
        case .value(let v): return v
        case .array(let nodes): return .array(nodes.map(\.tree))
        case .object(let nodes): return .object(nodes.mapValues(\.tree))
        }
    }

    func child(_ key: String) -> JSONNode {
        var members: [String: JSONNode] = [:]
        if case .object(let m) = storage { members = m }
        let node = JSONNode()
        members[key] = node
        storage = .object(members)
        return node
    }

    func append() -> JSONNode {
        var items: [JSONNode] = []
        if case .array(let a) = storage { items = a }
        let node = JSONNode()
        items.append(node)
        storage = .array(items)
        return node
    }
}

/// Encodes any `Encodable` into a `JSONTree`, writing `null` for absent optionals.
struct NullKeepingEncoder: Encoder {
    let node: JSONNode
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func tree<T: Encodable>(_ value: T) throws -> JSONTree {
        let root = JSONNode()
        try NullKeepingEncoder(node: root).encodeValue(value)
        return root.tree
    }

    func encodeValue<T: Encodable>(_ value: T) throws {
        switch value {
        case is Date, is Data, is URL, is Decimal: node.storage = .value(.leaf(value))
        default: try value.encode(to: self)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = node.storage {} else { node.storage = .object([:]) }
        return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .array = node.storage {} else { node.storage = .array([]) }
        return Unkeyed(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }

    static func scalar<T: Encodable>(_ value: T) -> JSONTree? {
        switch value {
        case let v as Bool: return .bool(v)
        case let v as String: return .string(v)
        case let v as Double: return .double(v)
        case let v as Float: return .double(Double(v))
        case let v as Int: return .int(Int64(v))
        case let v as Int8: return .int(Int64(v))
        case let v as Int16: return .int(Int64(v))
        case let v as Int32: return .int(Int64(v))
        case let v as Int64: return .int(v)
        case let v as UInt: return .uint(UInt64(v))
        case let v as UInt8: return .uint(UInt64(v))
        case let v as UInt16: return .uint(UInt64(v))
        case let v as UInt32: return .uint(UInt64(v))
        case let v as UInt64: return .uint(v)
        default: return nil
        }
    }

    static func put<T: Encodable>(_ value: T, into node: JSONNode, path: [CodingKey]) throws {
        if let s = scalar(value) { node.storage = .value(s); return }
        try NullKeepingEncoder(node: node, codingPath: path).encodeValue(value)
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: JSONNode
        var codingPath: [CodingKey]

        mutating func encodeNil(forKey key: Key) throws { node.child(key.stringValue).storage = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try NullKeepingEncoder.put(value, into: node.child(key.stringValue), path: codingPath + [key])
        }
        // The point of this encoder: an absent optional is a key with null.
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }
        private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            NullKeepingEncoder(node: node.child(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            NullKeepingEncoder(node: node.child(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { NullKeepingEncoder(node: node.child("super"), codingPath: codingPath) }
        mutating func superEncoder(forKey key: Key) -> Encoder {
            NullKeepingEncoder(node: node.child(key.stringValue), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: JSONNode
        var codingPath: [CodingKey]
        var count: Int { if case .array(let a) = node.storage { return a.count } else { return 0 } }

        mutating func encodeNil() throws { node.append().storage = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try NullKeepingEncoder.put(value, into: node.append(), path: codingPath) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            NullKeepingEncoder(node: node.append(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
            NullKeepingEncoder(node: node.append(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { NullKeepingEncoder(node: node.append(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let node: JSONNode
        var codingPath: [CodingKey]
        mutating func encodeNil() throws { node.storage = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try NullKeepingEncoder.put(value, into: node, path: codingPath) }
    }
}
