import CKirokuZlib
import KirokuProtocol
import NIOCore

/// Inflates a request body as RFC 9110 §8.4.1 says: `gzip` (RFC 1952) or `deflate` (the zlib format of
/// RFC 1950, not raw DEFLATE). The stream must end exactly where the body ends, its checksum (CRC-32 and
/// length for gzip, Adler-32 for zlib) must hold, and nothing may follow it: a body cut short, with
/// garbage after it, or not compressed at all is `bad_compression`, never a partial batch.
enum Inflate {
    enum Format {
        case gzip, zlib

        var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }
    }

    static func inflate(_ body: ByteBuffer, format: Format, maxSize: Int) throws(KirokuError) -> ByteBuffer {
        var input = Array(body.readableBytesView)
        var stream = z_stream()
        guard ckiroku_inflateInit2(&stream, format.windowBits) == Z_OK else {
            throw KirokuError(.internalError, "the hub could not start zlib")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(maxSize, input.count * 4))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        enum Outcome { case ended, truncated, corrupt, tooLarge, trailing }
        let outcome: Outcome = input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = UInt32(outBuffer.count)
                    return CKirokuZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > maxSize { return .tooLarge }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    return stream.avail_in == 0 ? .ended : .trailing
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: the input ended before the stream did.
                    return .truncated
                default:
                    return .corrupt
                }
            }
        }
        switch outcome {
        case .ended:
            return ByteBuffer(bytes: output)
        case .tooLarge:
            throw KirokuError(.batchTooLarge, "the batch inflates to more than \(maxSize) bytes")
        case .truncated:
            throw KirokuError(.badCompression, "the compressed body ends before its stream does (cut short?)")
        case .trailing:
            throw KirokuError(.badCompression, "bytes follow the end of the compressed stream")
        case .corrupt:
            throw KirokuError(
                .badCompression,
                format == .gzip
                    ? "the body is not a valid gzip stream (or its CRC-32 or length does not match)"
                    : "the body is not a valid zlib stream (Content-Encoding: deflate is the zlib format, RFC 9110 §8.4.1.2)"
            )
        }
    }
}
