using System.IO.Compression;
using System.Text;
using SparseMemory.Data;
using Xunit;

namespace SparseMemory.Tests.Data;

public sealed class TextCorpusTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "smf-corpus-" + Guid.NewGuid().ToString("N"));

    public TextCorpusTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content, bool gzip = false)
    {
        string path = Path.Combine(_dir, name);
        byte[] bytes = Encoding.UTF8.GetBytes(content);
        if (gzip)
        {
            using var f = File.Create(path);
            using var gz = new GZipStream(f, CompressionLevel.Fastest);
            gz.Write(bytes);
        }
        else File.WriteAllBytes(path, bytes);
        return path;
    }

    private const string Text = "First doc line one.\nline two.\n\n\n  \nSecond doc.\r\n\r\nThird — naïve 東京.\n";
    private static readonly string[] TextDocs = ["First doc line one.\nline two.", "Second doc.", "Third — naïve 東京."];
    private const string Jsonl = "{\"text\": \"alpha\\nbeta\", \"source\": \"x\"}\n\n{\"source\": \"y\", \"text\": \"gamma 🎉\"}\n";

    [Theory]
    [InlineData("c.txt", false)]
    [InlineData("c.txt.gz", true)]
    public void Should_read_plain_text_split_on_blank_lines(string name, bool gzip)
    {
        Assert.Equal(TextDocs, TextCorpus.ReadDocuments(Write(name, Text, gzip)));
    }

    [Theory]
    [InlineData("c.jsonl", false)]
    [InlineData("c.jsonl.gz", true)]
    public void Should_read_jsonl_text_fields(string name, bool gzip)
    {
        Assert.Equal(["alpha\nbeta", "gamma 🎉"], TextCorpus.ReadDocuments(Write(name, Jsonl, gzip)));
    }

    [Fact]
    public void Should_report_missing_file_with_a_fix()
    {
        string path = Path.Combine(_dir, "missing.jsonl");
        var e = Assert.Throws<FileNotFoundException>(() => TextCorpus.ReadDocuments(path).ToList());
        Assert.Contains(path, e.Message);
        Assert.Contains("get-data.sh", e.Message);
    }

    [Theory]
    [InlineData("{\"text\": \"ok\"}\n{\"text\": 5}\n", ":2: field \"text\" is a number")]
    [InlineData("{\"text\": \"ok\"}\n\n{\"body\": \"x\"}\n", ":3: missing field \"text\"")]
    [InlineData("[\"text\"]\n", ":1: found a JSON array")]
    [InlineData("{\"text\": \"ok\"\n", ":1: not valid JSON")]
    public void Should_report_malformed_jsonl_lines(string content, string expected)
    {
        string path = Write("bad.jsonl", content);
        var e = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(path).ToList());
        Assert.Contains(path + expected, e.Message);
        Assert.Contains("(expected an object with a string field \"text\")", e.Message);
    }

    [Theory]
    [InlineData("empty.txt", "")]
    [InlineData("blank.txt", "\n\n   \n")]
    [InlineData("empty.jsonl", "\n")]
    public void Should_reject_empty_corpus(string name, string content)
    {
        string path = Write(name, content);
        var e = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(path).ToList());
        Assert.Contains(path, e.Message);
        Assert.Contains("no documents", e.Message);
    }

    [Fact]
    public void Should_reject_unknown_extension()
    {
        string path = Write("c.csv", "a,b");
        var e = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(path).ToList());
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Should_read_from_a_stream_and_leave_it_open()
    {
        using var ms = new MemoryStream(Encoding.UTF8.GetBytes(Jsonl));
        Assert.Equal(2, TextCorpus.ReadDocuments(ms, "mem", gzip: false, jsonl: true).Count());
        Assert.True(ms.CanRead);
    }
}
