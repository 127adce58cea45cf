using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using Xunit;

namespace SparseMemory.Tests.Import;

/// <summary>
/// <see cref="HfTokenizer"/> (the Hugging Face tokenizers library) gives the ids a tokenizer.json's own vocabulary
/// and merges define: against the project's byte-level BPE (ML.Tokenizers, an independent implementation) on the same
/// file, and against ids worked out by hand for a byte-fallback (Llama 2 / Mistral style) file.
/// </summary>
public sealed class HfTokenizerTests
{
    static readonly string[] Texts =
    [
        "Ada lives in Arden since 1912.", "  two leading spaces,   three inside and a trailing one ", "digits 0123456789 and 3.14159 and 2026",
        "unicode: naïve café — 東京 🙂 ünïcödé", "tabs\tand\nnew lines\n\n", "x", "", "Ada's and Bela'll: 'quoted' (parens) [brackets]!",
    ];

    static HfTokenizer Load(string dir, HfTokenizerInfo? info = null) =>
        HfTokenizer.Load(Path.Combine(dir, "tokenizer.json"), info ?? new HfTokenizerInfo { EosId = 256 });

    [Fact]
    public void Ids_equal_the_native_byte_level_bpe_on_the_same_file()
    {
        string dir = Fixtures.TempDir("hftok");
        HfFixture.WriteTokenizer(dir, bosTemplate: false);
        using var hf = Load(dir);
        var native = HfFixture.Tokenizer;
        Assert.True(native.MergeCount > 20, "the tokenizer must have merges for the comparison to mean anything");
        foreach (string t in Texts)
        {
            Assert.Equal(native.Encode(t), hf.Encode(t));
            Assert.Equal(t, hf.Decode(hf.Encode(t)));
        }
        Assert.Equal(native.VocabSize, hf.VocabSize);
        Assert.Equal(native.IdToToken(300 - 1), hf.IdToToken(300 - 1));
    }

    [Fact]
    public void The_post_processors_bos_is_not_part_of_encode_but_of_prompts()
    {
        string dir = Fixtures.TempDir("hftok-bos");
        HfFixture.WriteTokenizer(dir, bosTemplate: true);
        using var hf = Load(dir, new HfTokenizerInfo { EosId = 256, BosId = 256, AddBos = true });
        Assert.Equal([256], hf.FramingPrefix);
        foreach (string t in Texts) Assert.Equal(HfFixture.Tokenizer.Encode(t), hf.Encode(t));
        Assert.Equal([256, .. HfFixture.Tokenizer.Encode("Ada")], hf.EncodePrompt("Ada"));
        Assert.Equal([256], hf.EncodePrompt(""));
    }

    /// <summary>
    /// A Llama-2-style file written here: normalizer prepends "▁" and turns spaces into "▁", no pre-tokenizer, byte
    /// fallback to &lt;0xXX&gt; tokens (ids 3 + byte), merges "a b" then "▁ ab", a template adding &lt;s&gt;.
    /// </summary>
    static string ByteFallbackFile()
    {
        var vocab = new System.Text.Json.Nodes.JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        vocab["▁"] = 259; vocab["a"] = 260; vocab["b"] = 261; vocab["ab"] = 262; vocab["▁ab"] = 263;
        string json = """
            {"version":"1.0","truncation":null,"padding":null,
             "added_tokens":[{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                             {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                             {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
             "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
             "pre_tokenizer":null,
             "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                "pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
                "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}},
             "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
             "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false,
                "vocab":VOCAB,"merges":["a b","▁ ab"]}}
            """.Replace("VOCAB", vocab.ToJsonString());
        string dir = Fixtures.TempDir("hftok-sp");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        return dir;
    }

    [Fact]
    public void Byte_fallback_ids_are_the_ones_worked_out_by_hand()
    {
        using var t = Load(ByteFallbackFile(), new HfTokenizerInfo { EosId = 2, BosId = 1, AddBos = true });
        Assert.Equal([1], t.FramingPrefix);
        Assert.Equal([263, 263], t.Encode("ab ab"));                       // ▁ab▁ab: a b → ab, then ▁ ab → ▁ab
        Assert.Equal([263, 259, 3 + 0xC3, 3 + 0xA9], t.Encode("ab é"));    // é has no token: its UTF-8 bytes C3 A9
        Assert.Equal([259, 3 + '1', 3 + '2'], t.Encode("12"));             // digits: bytes
        Assert.Equal([263, 259, 259, 261, 260], t.Encode("ab  ba"));       // two spaces: two ▁; b a has no merge
        Assert.Equal("ab é", t.Decode(t.Encode("ab é")));
        Assert.Equal([1, 263], t.EncodePrompt("ab"));
    }

    [Fact]
    public void Fact_batches_equal_the_native_stream_for_the_native_tokenizer_and_start_with_bos_otherwise()
    {
        var tok = HfFixture.Tokenizer;
        Fact[] facts = [new("f0", "Ada", "home", "Zorn", ["Zorn"], "Where does Ada live?", ["Ada lives in Zorn.", "The home of Ada is Zorn."], "test")];
        var native = new FactStreamData(facts, tok, 4, 2, 1, false, 32);
        var wrapped = FactBatches.Create(facts, tok, 4, 2, 1, false, 32);
        for (int step = 0; step < 3; step++)
        {
            var (a, b) = (native.Get(step), wrapped.Get(step));
            Assert.Equal(a.Inputs.data<long>().ToArray(), b.Inputs.data<long>().ToArray());
            Assert.Equal(a.Targets.data<long>().ToArray(), b.Targets.data<long>().ToArray());
            Assert.Equal(a.ValidMask!.data<bool>().ToArray(), b.ValidMask!.data<bool>().ToArray());
        }
        string dir = Fixtures.TempDir("hftok-fb");
        HfFixture.WriteTokenizer(dir, bosTemplate: true);
        using var hf = Load(dir, new HfTokenizerInfo { EosId = 256, BosId = 256, AddBos = true, PadId = 257 });
        var batch = FactBatches.Pad([[5, 6, 7], [9]], hf, 32);
        Assert.Equal([256, 5, 6, 7, 256, 9, 257, 257], batch.Inputs.data<long>().ToArray());
        Assert.Equal([5, 6, 7, 256, 9, 256, -1, -1], batch.Targets.data<long>().ToArray());
    }

    [Fact]
    public void Tokenizer_info_is_read_strictly()
    {
        string dir = Fixtures.TempDir("hftok-info");
        string path = Path.Combine(dir, Checkpoint.TokenizerInfoFile);
        File.WriteAllText(path, """{"kind":"hugging_face","eos_id":2,"bos_idd":1}""");
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.ReadInfo(path));
        Assert.Contains("bos_idd", e.Message);
        File.WriteAllText(path, """{"kind":"hugging_face","eos_id":2,"add_bos":true}""");
        Assert.Contains("add_bos", Assert.Throws<InvalidDataException>(() => HfTokenizer.ReadInfo(path)).Message);
    }
}
