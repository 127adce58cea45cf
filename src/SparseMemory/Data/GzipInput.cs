using System.IO.Compression;

namespace SparseMemory.Data;

/// <summary>
/// Decompressing reads of <c>.gz</c> inputs whose errors name the file: a corrupt gzip stream is an
/// <see cref="InvalidDataException"/> "FILE: not a valid gzip file (…)", not the bare message of <see cref="GZipStream"/>.
/// </summary>
internal static class GzipInput
{
    /// <summary>Wraps <paramref name="compressed"/> in a decompressing stream; <paramref name="displayName"/> names it in errors.</summary>
    public static Stream Open(Stream compressed, string displayName, bool leaveOpen) =>
        new Named(new GZipStream(compressed, CompressionMode.Decompress, leaveOpen), displayName);

    sealed class Named(Stream inner, string name) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            try { return inner.Read(buffer); }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
            {
                throw new InvalidDataException($"{name}: not a valid gzip file ({e.Message}); the file is truncated or corrupt", e);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
