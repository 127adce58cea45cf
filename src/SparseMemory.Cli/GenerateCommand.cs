using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Data.Chat;
using SparseMemory.Model;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary><c>smf generate</c>.</summary>
public static class GenerateCommand
{
    /// <summary>
    /// Largest <c>--max-tokens</c>. Generation slides its context window over the model's <c>max_seq_len</c>, so
    /// length is not limited by the model; the cap bounds the run time of a mistyped value (4096 tokens of a small model
    /// take about a minute on a CPU).
    /// </summary>
    public const int MaxTokensCap = 4096;

    /// <summary>--allow-nonfinite: load a checkpoint whose weights hold NaN or infinity (shared with <c>smf eval</c>).</summary>
    public static Option<bool> AllowNonFiniteOption() => new("--allow-nonfinite")
    {
        Description = "Load the checkpoint even if its weights hold NaN or infinity (normally an error naming the tensor)",
    };

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
        var allowNonFinite = AllowNonFiniteOption();
        var chat = new Option<bool>("--chat")
        {
            Description = "Send --prompt as one user message, formatted with the model's chat template (a plain \"User: …\\nAssistant:\" transcript when it has none); prints the answer",
        };
        var cmd = new Command("generate", "Continue a prompt with a checkpoint (greedy, or temperature/top-p sampling)")
        {
            model, prompt, maxTokens, temperature, topP, seed, device, allowNonFinite, chat,
        };
        cmd.SetAction(pr =>
        {
            int max = pr.GetValue(maxTokens);
            if (max <= 0 || max > MaxTokensCap) throw new ArgumentException($"--max-tokens is {max}; it must be between 1 and {MaxTokensCap}");
            var opts = new SamplingOptions(max, pr.GetValue(temperature), pr.GetValue(topP), pr.GetValue(seed));
            // The sampling rules live with the sampler (one rule per value); its messages name the settings as the flags do.
            if (TextGenerator.Validate(opts) is { Count: > 0 } problems) throw new ArgumentException("--" + string.Join("; --", problems));
            if (string.IsNullOrEmpty(pr.GetValue(prompt))) throw new ArgumentException("--prompt is empty; give the text to continue, e.g. --prompt \"Ada lives in\"");
            string dir = pr.GetValue(model)!;
            var loaded = Checkpoint.Load(dir, Runtime.Device(pr.GetValue(device)!), pr.GetValue(allowNonFinite));
            int[]? chatIds = null;
            if (pr.GetValue(chat))
            {
                // The rendered conversation is the prompt (docs/own-model.md#chat-templates); an unusable template is an input error.
                var format = ChatPrompt.For(loaded.Tokenizer);
                try { chatIds = format.Encode(format.Render([new ChatMessage("user", pr.GetValue(prompt)!)])); }
                catch (ChatTemplateException e) { throw new InvalidDataException($"{Path.Combine(dir, Checkpoint.TokenizerInfoFile)}: --chat: {e.Message}"); }
            }
            int context = loaded.Model.Config.MaxSeqLen, promptTokens = chatIds?.Length ?? loaded.Tokenizer.Encode(pr.GetValue(prompt)!).Length;
            if (promptTokens > context)
                throw new ArgumentException($"--prompt is {promptTokens} tokens, longer than the model's context of {context} tokens " +
                                            $"(model.max_seq_len in {Path.Combine(dir, Checkpoint.ConfigFile)}); the model cannot read it whole, so shorten the prompt");
            if (promptTokens + max > context)
                Console.Error.WriteLine($"note: prompt ({promptTokens} tokens) + --max-tokens ({max}) exceed the model's context of {context} tokens; " +
                                        $"later tokens are generated from the last {context} only, without the prompt's start");
            if (chatIds is not null)
                Console.WriteLine(loaded.Tokenizer.Decode(TextGenerator.GenerateIds(loaded.Model, [chatIds], opts, loaded.Tokenizer.EosIds, tokenCount: loaded.Tokenizer.VocabSize)[0]));
            else Console.WriteLine(TextGenerator.Generate(loaded.Model, loaded.Tokenizer, pr.GetValue(prompt)!, opts));
            return 0;
        });
        return cmd;
    }
}
