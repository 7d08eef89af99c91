// How values become object bytes and back: SwiftRay's binary Codable encoding.

import RayCore

enum ValueCoding {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            return try BinaryCoder.encode(value)
        } catch {
            throw Ray.Error.encodingFailed("cannot encode a \(T.self): \(error)")
        }
    }

    /// Decodes a value, or throws the Ray error stored in its place.
    static func decode<T: Decodable>(_ type: T.Type, from value: ObjectValue, object: ObjectID?) throws -> T {
        switch value {
        case .error(let error):
            throw Ray.Error(error)
        case .data(let data):
            guard let bytes = data.bytes else {
                throw Ray.Error.decodingFailed("\(object.map { "\($0)" } ?? "an argument") holds no bytes (a simulated value?)")
            }
            do {
                return try BinaryCoder.decode(type, from: bytes)
            } catch {
                throw Ray.Error.decodingFailed("\(object.map { "\($0)" } ?? "an argument") is not a \(T.self): \(error); "
                    + "the function that produced it returns another type")
            }
        }
    }
}
