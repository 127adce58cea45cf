using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Training;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Cli;

/// <summary><c>smf logits</c>: what bench/pytorch/check_logits.py compares the PyTorch port against.</summary>
public sealed class LogitsCommandTests
{
    [Fact]
    public void Logits_file_holds_the_tokens_and_the_models_logits_of_each_sequence()
    {
        string root = Fixtures.TempDir("logits");
        string run = Path.Combine(root, "run");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 4), run, NullObserver.Instance);
        string file = Path.Combine(root, "logits.safetensors");
        var (code, _, err) = Smf.Run("logits", "--model", run, "--text", "Ada lives in", "--tokens", "256, 5,7", "--out", file);
        Assert.True(code == 0, err);

        var loaded = Checkpoint.Load(run);
        var (tensors, meta) = SafeTensors.Load(file);
        try
        {
            Assert.Equal("2", meta["count"]);
            Assert.Equal("Ada lives in", meta["text.0"]);
            Assert.False(meta.ContainsKey("text.1"));
            Assert.Equal(Checkpoint.Fingerprint(run), meta["model_sha256"]);
            Assert.Equal(loaded.Tokenizer.Encode("Ada lives in").Select(t => (long)t), tensors["tokens.0"].data<long>().ToArray());
            Assert.Equal([256L, 5, 7], tensors["tokens.1"].data<long>().ToArray());
            for (int i = 0; i < 2; i++)
            {
                using var _ = torch.no_grad();
                var expected = loaded.Model.forward(tensors[$"tokens.{i}"].unsqueeze(0)).squeeze(0);
                TensorAssert.Identical(expected, tensors[$"logits.{i}"], $"logits of sequence {i}");
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
            loaded.Model.Dispose();
        }
    }

    [Fact]
    public void Bad_token_ids_are_one_line_errors_and_write_nothing()
    {
        string root = Fixtures.TempDir("logits");
        string run = Path.Combine(root, "run");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2), run, NullObserver.Instance);
        string file = Path.Combine(root, "logits.safetensors");
        foreach (var (ids, expected) in new[] { ("1,99999", "outside [0,"), ("1,x", "not an integer"), ("", "empty") })
        {
            var (code, _, err) = Smf.Run("logits", "--model", run, "--tokens", ids, "--out", file);
            Assert.Equal(2, code);
            Assert.Contains(expected, err);
            Assert.False(File.Exists(file));
        }
        var (code2, _, err2) = Smf.Run("logits", "--model", run, "--out", file);
        Assert.Equal(2, code2);
        Assert.Contains("--text or --tokens", err2);
    }
}
