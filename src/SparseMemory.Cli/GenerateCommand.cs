using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Model;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary><c>smf generate</c>.</summary>
public static class GenerateCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Text to continue", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "0 = greedy; > 0 samples", DefaultValueFactory = _ => 0.0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass (with --temperature > 0)", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var cmd = new Command("generate", "Continue a prompt with a checkpoint (greedy, or temperature/top-p sampling)")
        {
            model, prompt, maxTokens, temperature, topP, seed, device,
        };
        cmd.SetAction(pr =>
        {
            if (pr.GetValue(maxTokens) <= 0) throw new ArgumentException("--max-tokens must be positive");
            if (pr.GetValue(topP) is <= 0 or > 1) throw new ArgumentException("--top-p must be in (0, 1]");
            var loaded = Checkpoint.Load(pr.GetValue(model)!, Runtime.Device(pr.GetValue(device)!));
            var opts = new SamplingOptions(pr.GetValue(maxTokens), pr.GetValue(temperature), pr.GetValue(topP), pr.GetValue(seed));
            Console.WriteLine(TextGenerator.Generate(loaded.Model, loaded.Tokenizer, pr.GetValue(prompt)!, opts));
            return 0;
        });
        return cmd;
    }
}
