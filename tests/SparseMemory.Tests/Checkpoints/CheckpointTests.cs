using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Checkpoints;

public sealed class CheckpointTests
{
    static LanguageModel TinyModel(int seed, bool tied = true)
    {
        torch.manual_seed(seed);
        return new LanguageModel(Fixtures.TinyConfig("unused").Model with { TieEmbeddings = tied });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Save_then_load_gives_identical_logits(bool tied)
    {
        string dir = Fixtures.TempDir("ckpt");
        var a = TinyModel(1, tied);
        Checkpoint.SaveWeights(dir, a);
        var b = TinyModel(2, tied);
        Checkpoint.LoadWeights(b, Path.Combine(dir, Checkpoint.ModelFile));
        var x = torch.randint(0, 300, [2, 10], generator: new torch.Generator(5));
        TensorAssert.Identical(a.forward(x), b.forward(x));
    }

    [Fact]
    public void State_dict_key_list_is_pinned()
    {
        var keys = TinyModel(1).state_dict().Keys.ToArray();
        string[] expected =
        [
            "tok_embeddings.weight",
            "layers.0.attention_norm.weight", "layers.0.attention.wq.weight", "layers.0.attention.wk.weight",
            "layers.0.attention.wv.weight", "layers.0.attention.wo.weight", "layers.0.ffn_norm.weight",
            "layers.0.feed_forward.w1.weight", "layers.0.feed_forward.w2.weight", "layers.0.feed_forward.w3.weight",
            "layers.1.attention_norm.weight", "layers.1.attention.wq.weight", "layers.1.attention.wk.weight",
            "layers.1.attention.wv.weight", "layers.1.attention.wo.weight", "layers.1.ffn_norm.weight",
            "layers.1.memory.query.weight", "layers.1.memory.query.bias", "layers.1.memory.keys",
            "layers.1.memory.gate_proj.weight", "layers.1.memory.gate_proj.bias",
            "layers.1.memory.out_proj.weight", "layers.1.memory.out_proj.bias",
            "memory_values.weight", "norm.weight",
        ];
        Assert.Equal(expected.Order(), keys.Order());
        Assert.Single(keys, k => k.Contains("memory_values"));   // shared table registered once
    }

    [Fact]
    public void Truncated_weights_give_a_clear_error_naming_the_file()
    {
        string dir = Fixtures.TempDir("ckpt");
        Checkpoint.SaveWeights(dir, TinyModel(1));
        string f = Path.Combine(dir, Checkpoint.ModelFile);
        var bytes = File.ReadAllBytes(f);
        File.WriteAllBytes(f, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadWeights(TinyModel(2), f));
        Assert.Contains(f, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Weights_of_another_architecture_are_refused()
    {
        string dir = Fixtures.TempDir("ckpt");
        Checkpoint.SaveWeights(dir, TinyModel(1));
        var other = new LanguageModel(Fixtures.TinyConfig("unused").Model with { Dim = 48 });
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadWeights(other, Path.Combine(dir, Checkpoint.ModelFile)));
        Assert.Contains("shape", e.Message);
    }

    [Fact]
    public void Safetensors_round_trip_keeps_dtypes_and_metadata()
    {
        string f = Path.Combine(Fixtures.TempDir("st"), "x.safetensors");
        var a = torch.randn([3, 4], ScalarType.Float64);
        var b = torch.arange(5, ScalarType.Int64);
        SafeTensors.Save(f, [("a", a), ("b", b)], new Dictionary<string, string> { ["k"] = "v" });
        var (t, meta) = SafeTensors.Load(f);
        TensorAssert.Identical(a, t["a"]);
        TensorAssert.Identical(b, t["b"]);
        Assert.Equal("v", meta["k"]);
        Assert.Equal("v", SafeTensors.ReadMetadata(f)["k"]);
        // The header length is a multiple of 8 so the data section is aligned.
        Assert.Equal(0UL, BitConverter.ToUInt64(File.ReadAllBytes(f), 0) % 8);
    }
}
