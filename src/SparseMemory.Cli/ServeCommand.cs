using System.CommandLine;
using Microsoft.Extensions.Hosting;
using SparseMemory.Serve;

namespace SparseMemory.Cli;

/// <summary><c>smf serve</c>: a model you can teach while it serves (docs/serve.md).</summary>
public static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder (with background.safetensors: smf background --model DIR); never modified", Required = true };
        var urls = new Option<string>("--urls") { Description = "Address(es) to listen on, ';'-separated (loopback only unless --allow-remote)", DefaultValueFactory = _ => "http://127.0.0.1:5077" };
        var tokenFile = new Option<string>("--token-file") { Description = "File holding the bearer token that learn and undo require", Required = true };
        var state = new Option<string?>("--state") { Description = "State folder: journal and service checkpoints (default: MODEL/serve)" };
        var topT = new Option<int>("--top-t") { Description = "t: value rows updated per learn step", DefaultValueFactory = _ => 512 };
        var lr = new Option<double?>("--lr") { Description = "SGD learning rate (default: the sparse method's registry default)" };
        var steps = new Option<int>("--steps-per-learn") { Description = "Optimizer steps per learn on its paraphrase batch", DefaultValueFactory = _ => 1 };
        var paraphrases = new Option<int>("--paraphrases") { Description = "Paraphrases per learn batch", DefaultValueFactory = _ => 16 };
        var questionForm = new Option<bool>("--question-form") { Description = "With question + answer, also train on question-form paraphrases" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Service checkpoint of the value table every K learns/undos (0 = only at shutdown)", DefaultValueFactory = _ => 20 };
        var maxDrift = new Option<double>("--max-drift") { Description = "Drift guard (needs --check-every): undo and refuse (422) a learn after which known-facts F1 fell, or held-out NLL rose, by more than this since start (0 = off)", DefaultValueFactory = _ => 0 };
        var checkEvery = new Option<int>("--check-every") { Description = "Forgetting check (known-facts-f1, heldout-nll) every N learns (0 = off)", DefaultValueFactory = _ => 0 };
        var checkLimit = new Option<int>("--check-limit") { Description = "Items per probe of the forgetting check", DefaultValueFactory = _ => 32 };
        var protectAsk = new Option<bool>("--protect-ask") { Description = "Require the token for /ask and /v1/completions too" };
        var learnsPerMinute = new Option<int>("--learns-per-minute") { Description = "Learn rate limit (0 = unlimited)", DefaultValueFactory = _ => 60 };
        var allowRemote = new Option<bool>("--allow-remote") { Description = "Allow listening on a non-loopback address" };
        var allowedHosts = new Option<string?>("--allowed-hosts") { Description = "Host header names answered besides localhost, 127.0.0.1, [::1] and the --urls hosts (';' or ',' separated); any other Host is a 400 (DNS rebinding defence)" };
        var threads = new Option<int>("--threads") { Description = "Torch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("serve", "Serve a model over HTTP that learns facts while it serves (learn, ask, undo; journaled and crash-safe)")
        {
            model, urls, tokenFile, state, topT, lr, steps, paraphrases, questionForm, checkpointEvery, checkEvery, maxDrift, checkLimit, protectAsk,
            learnsPerMinute, allowRemote, allowedHosts, threads,
        };
        cmd.SetAction(pr =>
        {
            string address = pr.GetValue(urls)!;
            ServeApp.CheckLoopback(address, pr.GetValue(allowRemote));
            string tokenPath = pr.GetValue(tokenFile)!;
            if (!File.Exists(tokenPath)) throw new FileNotFoundException($"{tokenPath}: token file not found", tokenPath);
            var options = new ServeOptions
            {
                ModelDir = pr.GetValue(model)!, StateDir = pr.GetValue(state), Token = File.ReadAllText(tokenPath).Trim(),
                TopT = pr.GetValue(topT), Lr = pr.GetValue(lr), StepsPerLearn = pr.GetValue(steps), Paraphrases = pr.GetValue(paraphrases),
                QuestionForm = pr.GetValue(questionForm), CheckpointEvery = pr.GetValue(checkpointEvery), CheckEvery = pr.GetValue(checkEvery), MaxDrift = pr.GetValue(maxDrift),
                CheckLimit = pr.GetValue(checkLimit), ProtectAsk = pr.GetValue(protectAsk), LearnsPerMinute = pr.GetValue(learnsPerMinute),
                Threads = pr.GetValue(threads),
                AllowedHosts = (pr.GetValue(allowedHosts) ?? "").Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            };
            using var service = new MemoryService(options, m => Console.Error.WriteLine($"serve: {m}"));
            Console.Error.WriteLine($"serve: {options.ModelDir} (lr {service.Lr:G4}, t={options.TopT}), state in {options.EffectiveStateDir}");
            var app = ServeApp.Build(service, options, address);
            try
            {
                // The addresses Kestrel really bound (ports resolved), checked again: configuration outside --urls could widen them.
                var bound = ServeApp.StartCheckedAsync(app, pr.GetValue(allowRemote)).GetAwaiter().GetResult();
                Console.Error.WriteLine($"serve: listening on {string.Join(", ", bound)}");
                app.WaitForShutdown();
            }
            finally { app.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            return 0;
        });
        return cmd;
    }
}
