using System.CommandLine;
using Microsoft.Extensions.Hosting;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;

namespace SparseMemory.Cli;

/// <summary><c>smf serve</c>: a model you can teach while it serves (docs/serve.md).</summary>
public static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        // No option has a default here: the defaults live in ServeConfig, so a flag overrides --config only when given.
        var model = new Option<string?>("--model") { Description = "Checkpoint folder (with background.safetensors: smf background --model DIR); never modified (required here or in --config)" };
        var urls = new Option<string?>("--urls") { Description = "Address(es) to listen on, ';'-separated (loopback only unless --allow-remote; default http://127.0.0.1:5077)" };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the bearer token that learn and undo require (required here or in --config; keep it chmod 600)" };
        var state = new Option<string?>("--state") { Description = "State folder: journal and service checkpoints (default: MODEL/serve)" };
        var topT = new Option<int?>("--top-t") { Description = "t: value rows updated per learn step (default 512)" };
        var lr = new Option<double?>("--lr") { Description = "SGD learning rate (default: the sparse method's registry default)" };
        var steps = new Option<int?>("--steps-per-learn") { Description = "Optimizer steps per learn on its paraphrase batch (default 1)" };
        var paraphrases = new Option<int?>("--paraphrases") { Description = "Paraphrases per learn batch (default 16)" };
        var questionForm = new Option<bool?>("--question-form") { Description = "With question + answer, also train on question-form paraphrases" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "Service checkpoint of the value table every K learns/undos (0 = only at shutdown; default 20)" };
        var maxDrift = new Option<double?>("--max-drift") { Description = "Drift guard (needs --check-every): undo and refuse (422) a learn after which known-facts F1 fell, or held-out NLL rose, by more than this since start (0 = off)" };
        var checkEvery = new Option<int?>("--check-every") { Description = "Forgetting check (known-facts-f1, heldout-nll) every N learns (0 = off, the default)" };
        var checkLimit = new Option<int?>("--check-limit") { Description = "Items per probe of the forgetting check (default 32)" };
        var protectAsk = new Option<bool?>("--protect-ask") { Description = "Require the token for /ask and /v1/completions too" };
        var learnsPerMinute = new Option<int?>("--learns-per-minute") { Description = "Learn rate limit (0 = unlimited; default 60)" };
        var allowRemote = new Option<bool?>("--allow-remote") { Description = "Allow listening on a non-loopback address" };
        var allowedHosts = new Option<string?>("--allowed-hosts") { Description = "Host header names answered besides localhost, 127.0.0.1, [::1] and the --urls hosts (';' or ',' separated); any other Host is a 400 (DNS rebinding defence)" };
        var threads = new Option<int?>("--threads") { Description = "Torch threads (0 = default)" };
        var config = new Option<string?>("--config") { Description = "JSON config file with these settings as snake_case keys (docs/serve.md#configuration); flags and --set override it" };
        var sets = CliRunner.SetOption();
        var cmd = new Command("serve", "Serve a model over HTTP that learns facts while it serves (learn, ask, undo; journaled and crash-safe)")
        {
            model, urls, tokenFile, state, topT, lr, steps, paraphrases, questionForm, checkpointEvery, checkEvery, maxDrift, checkLimit, protectAsk,
            learnsPerMinute, allowRemote, allowedHosts, threads, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            void Flag<T>(Option<T> option, string key)
            {
                if (pr.GetValue(option) is { } v) overrides.Add(ServeConfig.Set(key, v));
            }
            Flag(model, "model");
            Flag(urls, "urls");
            Flag(tokenFile, "token_file");
            Flag(state, "state");
            Flag(topT, "top_t");
            Flag(lr, "lr");
            Flag(steps, "steps_per_learn");
            Flag(paraphrases, "paraphrases");
            Flag(questionForm, "question_form");
            Flag(checkpointEvery, "checkpoint_every");
            Flag(checkEvery, "check_every");
            Flag(maxDrift, "max_drift");
            Flag(checkLimit, "check_limit");
            Flag(protectAsk, "protect_ask");
            Flag(learnsPerMinute, "learns_per_minute");
            Flag(allowRemote, "allow_remote");
            Flag(threads, "threads");
            if (pr.GetValue(allowedHosts) is string hosts)
                overrides.Add(ServeConfig.Set("allowed_hosts", hosts.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = ServeApp.LoadConfig(pr.GetValue(config), overrides);

            string tokenPath = cfg.TokenFile!;
            if (!File.Exists(tokenPath)) throw new FileNotFoundException($"{tokenPath}: token file not found (token_file / --token-file)", tokenPath);
            if (TokenFileWarning(tokenPath) is { } warning) Console.Error.WriteLine($"serve: warning: {warning}");
            var options = cfg.ToOptions(File.ReadAllText(tokenPath).Trim());
            using var service = new MemoryService(options, m => Console.Error.WriteLine($"serve: {m}"));
            cfg.Freeze(options.EffectiveStateDir);
            Console.Error.WriteLine($"serve: {options.ModelDir} (lr {service.Lr:G4}, t={options.TopT}), state in {options.EffectiveStateDir} (settings frozen in {ServeConfig.FileName})");
            var app = ServeApp.Build(service, options, cfg.Urls);
            try
            {
                // The addresses Kestrel really bound (ports resolved), checked again: configuration outside --urls could widen them.
                var bound = ServeApp.StartCheckedAsync(app, cfg.AllowRemote).GetAwaiter().GetResult();
                Console.Error.WriteLine($"serve: listening on {string.Join(", ", bound)}");
                app.WaitForShutdown();
            }
            finally { app.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            return 0;
        });
        return cmd;
    }

    /// <summary>A warning when the token file can be read or written by the group or others (Unix permissions), else null.</summary>
    public static string? TokenFileWarning(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        var mode = File.GetUnixFileMode(path);
        const UnixFileMode open = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if ((mode & open) == 0) return null;
        string octal = Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');
        return $"the token file {path} is readable or writable by others than its owner (mode {octal}); anyone who reads it can teach and undo. Run: chmod 600 {path}";
    }
}
