using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Runs;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace SparseMemory.Tests.Import;

/// <summary><c>smf retrofit</c> on a tiny imported checkpoint: exact at insertion, healing moves only the memory, and sparse finetuning runs on the result.</summary>
public sealed class RetrofitTests
{
    static readonly long[] Ids = [256, 5, 17, 100, 299, 3, 42, 42, 7, 200, 150, 1];

    static (string Root, string Run) Imported(string spec = "llama3-scaling-gqa")
    {
        string src = HfFixture.Write(HfFixture.Spec(spec));
        string root = Path.GetDirectoryName(src)!;
        string run = Path.Combine(root, "imported");
        HfImport.Run(src, run, 4096, _ => { });
        return (root, run);
    }

    static RetrofitConfig Tiny(string corpus, int healSteps, int backgroundBatches) =>
        ConfigLoader.Load<RetrofitConfig>("tiny", sets: [$"heal.steps={healSteps}", $"background.batches={backgroundBatches}", "retrofit.layers=[0,1]"],
            presetGroup: ConfigLoader.RetrofitPresets) with { Data = new DataConfig { Corpus = [corpus], HeldoutFraction = 0.1 } };

    /// <summary>Bit-for-bit equality (same shape, every element equal).</summary>
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static Tensor Logits(string dir)
    {
        using var _ = torch.no_grad();
        return Checkpoint.Load(dir).Model.forward(torch.tensor(Ids).unsqueeze(0));
    }

    [Fact]
    public void Logits_are_bit_identical_right_after_insertion()
    {
        var (root, run) = Imported();
        string outDir = Path.Combine(root, "retrofit0");
        var cfg = Retrofit.Resolve(Tiny(Fixtures.WriteCorpus(root), 0, 0), run);
        Retrofit.Run(cfg, outDir, NullObserver.Instance);
        var loaded = Checkpoint.Load(outDir);
        Assert.Equal(2, loaded.Model.MemoryLayers.Count());
        Assert.All(loaded.Model.Blocks, b => Assert.NotNull(b.FeedForward));        // the memory runs beside the FFN
        Assert.True(Same(Logits(run), Logits(outDir)), "logits changed at insertion");
        // The memory is really there: with a non-zero output projection the logits move (so the test above can fail).
        using (torch.no_grad())
        {
            foreach (var (name, p) in loaded.Model.named_parameters())
                if (name.Contains(".memory.out_proj.weight", StringComparison.Ordinal)) p.normal_(0, 0.5);
            Assert.False(Same(Logits(run), loaded.Model.forward(torch.tensor(Ids).unsqueeze(0))));
        }
        Assert.Equal(Checkpoint.Fingerprint(run), Checkpoint.ReadModelConfig(outDir).Tree["backbone_sha256"]!.GetValue<string>());
    }

    [Fact]
    public void Healing_moves_only_the_memory_and_leaves_background_statistics()
    {
        var (root, run) = Imported("qwen2-bias-gqa");
        string outDir = Path.Combine(root, "retrofit");
        var cfg = Retrofit.Resolve(Tiny(Fixtures.WriteCorpus(root), 6, 8), run);
        var summary = Retrofit.Run(cfg, outDir, NullObserver.Instance);
        Assert.True(summary.InitialEvalLoss is double a && double.IsFinite(a) && summary.FinalEvalLoss is double b && double.IsFinite(b));
        var before = Checkpoint.Load(run).Model.state_dict();
        var after = Checkpoint.Load(outDir).Model.state_dict();
        foreach (var (name, t) in before) Assert.True(Same(t, after[name]), $"backbone tensor {name} moved while healing");
        var memory = after.Where(kv => Retrofit.IsMemoryParameter(kv.Key)).ToList();
        Assert.Contains(memory, kv => kv.Key.EndsWith("out_proj.weight", StringComparison.Ordinal) && kv.Value.abs().max().item<float>() > 0);
        var stats = BackgroundStats.Load(Path.Combine(outDir, BackgroundStatsBuilder.FileName));
        Assert.Equal(8, stats.NumBatches);
        Assert.Equal(1024, stats.SlotCount);
        var messages = new List<string>();
        Retrofit.Run(cfg, outDir, new MessageObserver(messages.Add));
        Assert.Contains(messages, m => m.Contains("already complete"));
    }

    /// <summary>
    /// Healing ends with the rebalance (docs/own-model.md#read-gain): the read gain reaches heal.read_gain, the values
    /// are the unbalanced run's times the scale, and the logits are those of the same healing with read_gain 0.
    /// </summary>
    [Fact]
    public void Healing_ends_at_the_stated_read_gain_with_the_function_unchanged()
    {
        var (root, run) = Imported("qwen2-bias-gqa");
        string corpus = Fixtures.WriteCorpus(root);
        var plain = Tiny(corpus, 6, 0);
        string keptDir = Path.Combine(root, "kept"), calibratedDir = Path.Combine(root, "calibrated");
        var kept = Retrofit.Run(Retrofit.Resolve(plain with { Heal = plain.Heal with { ReadGain = 0 } }, run), keptDir, NullObserver.Instance);
        var calibrated = Retrofit.Run(Retrofit.Resolve(plain with { Heal = plain.Heal with { ReadGain = 0.5 } }, run), calibratedDir, NullObserver.Instance);
        Assert.Null(kept.ReadGain);
        var g = calibrated.ReadGain!;
        Assert.Equal(0.5, g.Target);
        Assert.True(Math.Abs(g.Rebalanced - 0.5) <= 1e-4, $"gain after the rebalance {g.Rebalanced:R}");
        Assert.True(Math.Abs(g.Scale - Math.Sqrt(g.Healed / 0.5)) <= 1e-9 * g.Scale && Math.Abs(g.Scale - 1) > 0.01, $"scale {g.Scale:R} for gain {g.Healed:R}");
        var a = Checkpoint.Load(keptDir).Model;
        var b = Checkpoint.Load(calibratedDir).Model;
        using (torch.no_grad())
        {
            double dv = (a.MemoryValues!.mul(g.Scale) - b.MemoryValues!).abs().max().item<float>();
            Assert.True(dv <= 1e-6 * a.MemoryValues.abs().max().item<float>() * g.Scale, $"values differ from kept × scale by {dv:G3}");
            var la = a.forward(torch.tensor(Ids).unsqueeze(0));
            var lb = b.forward(torch.tensor(Ids).unsqueeze(0));
            double d = (la - lb).abs().max().item<float>(), scale = la.abs().max().item<float>();
            Assert.True(d <= 1e-5 * scale, $"logits moved by {d:G3} (max |logit| {scale:G3})");
        }
    }

    [Fact]
    public async Task Import_retrofit_sparse_finetune_generate_and_serve_through_the_cli()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-untied"));
        string root = Path.GetDirectoryName(src)!;
        string corpus = Fixtures.WriteCorpus(root).Replace("\\", "/");
        string imported = Path.Combine(root, "imported"), retro = Path.Combine(root, "retro"), tuned = Path.Combine(root, "tuned");
        var (code, _, err) = Smf.Run("import", "--from", src, "--out", imported);
        Assert.True(code == 0, err);
        (code, var output, err) = Smf.Run("retrofit", "--model", imported, "--memory-layers", "1", "--slots", "1024", "--preset", "tiny",
            "--set", $"data.corpus=[\"{corpus}\"]", "--out", retro);
        Assert.True(code == 0, err);
        Assert.Contains("1,024-slot memory", output);
        string facts = Path.Combine(root, "facts.jsonl");
        string[] people = ["Ada", "Bela", "Cyril"], towns = ["Zorn", "Yelm", "Xant"];
        DataFiles.WriteFacts(facts, people.Select((p, i) => new Fact($"f{i}", p, "home", towns[i], [towns[i]], $"Where does {p} live?",
            [$"{p} lives in {towns[i]}.", $"The home of {p} is {towns[i]}."], "test")));
        (code, _, err) = Smf.Run("finetune", "--model", retro, "--method", "sparse", "--top-t", "5", "--lr", "5", "--data", facts, "--steps", "3",
            "--out", tuned, "--set", "data.paraphrases=4", "--set", "probes=[]");
        Assert.True(code == 0, err);
        var (dcode, dout, derr) = Smf.Run("diff", retro, tuned, "--json");
        Assert.True(dcode == 0, derr);
        Assert.Contains("memory_values.weight", dout);
        (code, output, err) = Smf.Run("generate", "--model", tuned, "--prompt", "Ada lives in", "--max-tokens", "4");
        Assert.True(code == 0, err);
        Assert.False(string.IsNullOrWhiteSpace(output));

        // The finetuned model served: its own background statistics first (they are tied to the weights they were
        // computed on), then a learn is a sparse update of the retrofitted memory, and it answers.
        (code, _, err) = Smf.Run("background", "--model", tuned, "--corpus", corpus, "--batches", "4");
        Assert.True(code == 0, err);
        string tokenFile = Path.Combine(root, "token");
        File.WriteAllText(tokenFile, "retrofit-token\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        int port = Tests.Serve.ServeProcess.FreePort();
        using var server = Tests.Serve.ServeProcess.Start(["serve", "--model", tuned, "--urls", $"http://127.0.0.1:{port}", "--token-file", tokenFile,
            "--state", Path.Combine(root, "state"), "--set", "paraphrases=4", "--set", "top_t=5"], port);
        await server.WaitHealthyAsync();
        server.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "retrofit-token");
        using var learn = await server.Http.PostAsync("/learn", Json(new { text = "Bela lives in Yelm." }));
        string learned = await learn.Content.ReadAsStringAsync();
        Assert.True(learn.IsSuccessStatusCode, learned + "\n" + server.Log);
        Assert.True(System.Text.Json.Nodes.JsonNode.Parse(learned)!["rows"]!.GetValue<int>() > 0, learned);
        using var ask = await server.Http.PostAsync("/v1/completions", Json(new { prompt = "Bela lives in", max_tokens = 4 }));
        Assert.True(ask.IsSuccessStatusCode, await ask.Content.ReadAsStringAsync());
        server.Kill();
    }

    static StringContent Json(object body) => new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    [Theory]
    [InlineData("--slots", "1000", "retrofit.slots must be a perfect square")]
    [InlineData("--memory-layers", "7", "block 7 does not exist")]
    [InlineData("--set", "model.dim=8", "--set model.dim=8")]
    [InlineData("--set", "heal.stepz=3", "heal.stepz")]
    public void Bad_retrofit_input_is_one_line_and_writes_nothing(string option, string value, string expected)
    {
        var (root, run) = Imported("llama-tied");
        string outDir = Path.Combine(root, "bad");
        var args = new List<string> { "retrofit", "--model", run, "--preset", "tiny", "--out", outDir, option, value };
        if (option != "--memory-layers") args.AddRange(["--memory-layers", "1"]);
        var (code, _, err) = Smf.Run([.. args]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.False(Directory.Exists(outDir));
    }

    sealed class MessageObserver(Action<string> message) : ITrainingObserver
    {
        public void OnMessage(string m) => message(m);
        public void OnStep(StepReport r) { }
        public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) { }
    }
}
