using System.Text;
using SparseMemory.Data.Documents;
using Xunit;

namespace SparseMemory.Tests.Documents;

public sealed class DocumentReaderTests
{
    static string Dir() => Fixtures.TempDir("docs");

    [Fact]
    public void Jsonl_text_and_markdown_files_and_a_folder_are_read_in_order()
    {
        string dir = Dir();
        File.WriteAllText(Path.Combine(dir, "b.jsonl"), "{\"text\": \"First doc.\", \"title\": \"One\", \"id\": \"d1\"}\n\n{\"text\": \"Second doc.\"}\n");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "Plain text.\n\nSecond paragraph.");
        Directory.CreateDirectory(Path.Combine(dir, "c"));
        File.WriteAllText(Path.Combine(dir, "c", "notes.md"), "# Notes\n\nMarkdown body.");
        File.WriteAllText(Path.Combine(dir, "ignored.csv"), "x,y");
        var docs = DocumentReader.Read(dir);
        Assert.Equal(["a.txt", "d1", "b.jsonl:3", "notes.md"], docs.Select(d => d.Id));
        Assert.Equal("One", docs[1].Title);
        Assert.Equal("Second doc.", docs[2].Text);
        Assert.EndsWith("b.jsonl:3", docs[2].Source);
        Assert.Single(DocumentReader.Read(Path.Combine(dir, "a.txt")));
    }

    public static TheoryData<string, byte[], string, string> BadFiles() => new()
    {
        { "empty.txt", " \n\t\n"u8.ToArray(), ":1:", "empty document" },
        { "empty.jsonl", "{\"text\": \"ok.\"}\n{\"text\": \"  \"}\n"u8.ToArray(), ":2:", "empty document" },
        { "nul.txt", Encoding.UTF8.GetBytes("line one\nline two\0\nthree"), ":2:", "binary" },
        { "nul.jsonl", "{\"text\": \"ok.\"}\n{\"text\": \"a\\u0000b\"}\n"u8.ToArray(), ":2:", "binary" },
        { "latin1.txt", [(byte)'o', (byte)'k', (byte)'\n', (byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'\n'], ":2:", "not UTF-8" },
        { "latin1.jsonl", [.. "{\"text\": \"ok.\"}\n{\"text\": \"caf"u8.ToArray(), 0xE9, .. "\"}\n"u8.ToArray()], ":2:", "not UTF-8" },
        { "big.txt", Encoding.UTF8.GetBytes(new string('a', DocumentReader.MaxDocumentBytes + 1)), ":1:", "over the limit" },
        { "notjson.jsonl", "{\"text\": \"ok.\"}\n[1, 2]\n"u8.ToArray(), ":2:", "not a document object" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_bad_document_is_a_one_line_error_naming_file_and_line(string name, byte[] bytes, string line, string what)
    {
        string path = Path.Combine(Dir(), name);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => DocumentReader.Read(path));
        Assert.StartsWith(path + line, e.Message);
        Assert.Contains(what, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_utf8_bom_and_crlf_line_ends_are_accepted()
    {
        string path = Path.Combine(Dir(), "bom.txt");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "Caf\u00e9 one.\r\n\r\nTwo."u8.ToArray()]);
        var doc = Assert.Single(DocumentReader.Read(path));
        Assert.Equal(["Café one.", "Two."], TextUnits.Paragraphs(doc.Text));
    }

    [Fact]
    public void The_service_text_check_refuses_nul_and_oversized_text()
    {
        Assert.Contains("binary", Assert.Throws<InvalidDataException>(() => DocumentReader.FromText("a\nb\0", "request", "r")).Message);
        Assert.Contains(DocumentReader.MaxDocumentBytes.ToString("N0"),
            Assert.Throws<InvalidDataException>(() => DocumentReader.FromText(new string('x', DocumentReader.MaxDocumentBytes + 1), "request", "r")).Message);
        Assert.Equal("ok", DocumentReader.FromText("ok", "request", "r").Text);
    }
}
