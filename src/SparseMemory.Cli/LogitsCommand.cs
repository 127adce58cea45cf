using System.CommandLine;
using System.Globalization;
using SparseMemory.Checkpoints;
using SparseMemory.Evaluation;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf logits --model DIR --text "…" --out FILE.safetensors</c>: the logits of a checkpoint on texts or token-id
/// sequences, for checking another implementation against ours (<c>bench/pytorch/check_logits.py</c>).
/// </summary>
public static class LogitsCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder", Required = true };
        var text = new Option<string[]>("--text")
        {
            Description = "Text to encode with the checkpoint's tokenizer (repeatable; each is one sequence)",
            AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore,
        };
        var tokens = new Option<string[]>("--tokens")
        {
            Description = "Token ids, separated by commas or spaces, e.g. --tokens \"256,72,101\" (repeatable; each is one sequence)",
            AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore,
        };
        var output = new Option<string>("--out") { Description = "Output file (safetensors): tokens.{i} I64 [T], logits.{i} F32 [T, V]", Required = true };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var allowNonFinite = GenerateCommand.AllowNonFiniteOption();
        var cmd = new Command("logits", "Write a checkpoint's logits on texts or token ids to a safetensors file (to check another implementation, e.g. PyTorch, against smf)")
        {
            model, text, tokens, output, device, allowNonFinite,
        };
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(model)!;
            var loaded = Checkpoint.Load(dir, Runtime.Device(pr.GetValue(device)!), pr.GetValue(allowNonFinite));
            var inputs = new List<LogitsDump.Input>();
            foreach (var t in pr.GetValue(text) ?? [])
                inputs.Add(new LogitsDump.Input(loaded.Tokenizer.Encode(t), t));
            foreach (var s in pr.GetValue(tokens) ?? [])
                inputs.Add(new LogitsDump.Input(ParseIds(s), null));
            string path = pr.GetValue(output)!;
            LogitsDump.Write(path, loaded.Model, inputs, new Dictionary<string, string>
            {
                ["model_dir"] = Path.GetFullPath(dir), ["model_sha256"] = Checkpoint.Fingerprint(dir),
            });
            Console.WriteLine($"{inputs.Count} sequence(s), {inputs.Sum(i => i.Tokens.Length)} tokens, vocab {loaded.Model.Config.VocabSize} → {path}");
            return 0;
        });
        return cmd;
    }

    static int[] ParseIds(string s)
    {
        var parts = s.Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                throw new ArgumentException($"--tokens: \"{parts[i]}\" is not an integer token id");
        return ids;
    }
}
