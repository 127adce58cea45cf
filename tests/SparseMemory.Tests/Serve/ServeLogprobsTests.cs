using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// <c>echo</c> and <c>logprobs</c> of POST /v1/completions (docs/serve.md): the numbers are checked against a plain
/// reference, a full forward pass of a freshly loaded copy of the served checkpoint over prompt + generated tokens.
/// Every JSON response also passes the OpenAPI contract check of <see cref="ServeHost.Client"/>. Before, both fields
/// were refused unless they held their neutral value.
/// </summary>
public sealed class ServeLogprobsTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    const string Prompt = "Bela lives in";
    const double Tolerance = 1e-4;      // the KV-cached path against full forward passes, float32

    /// <summary>Greedy decoding by full forward passes, then log_softmax(logits / temperature) at every position of prompt + generated.</summary>
    (int[] Sequence, float[][] LogProbs, ITokenizer Tokenizer) Reference(int[] promptIds, int generate, double temperature = 0)
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        using var model = loaded.Model;
        model.eval();
        using var _ = torch.no_grad();
        var seq = promptIds.ToList();
        for (int j = 0; j < generate; j++)
        {
            using var scope = torch.NewDisposeScope();
            var logits = model.forward(torch.tensor(seq.Select(x => (long)x).ToArray(), [1, seq.Count]));
            seq.Add((int)logits[0, -1].argmax().item<long>());
        }
        using (torch.NewDisposeScope())
        {
            var logits = model.forward(torch.tensor(seq.Select(x => (long)x).ToArray(), [1, seq.Count]))[0].to(ScalarType.Float32);
            if (temperature > 0) logits = logits / temperature;
            var lp = torch.nn.functional.log_softmax(logits, -1);
            var rows = Enumerable.Range(0, seq.Count).Select(i => lp[i].data<float>().ToArray()).ToArray();
            return (seq.ToArray(), rows, loaded.Tokenizer);
        }
    }

    static string[] Strings(JsonNode lp, string field) => lp[field]!.AsArray().Select(x => x!.GetValue<string>()).ToArray();

    [Fact]
    public async Task Greedy_logprobs_with_echo_are_the_log_softmax_of_a_full_forward_pass_over_prompt_and_completion()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (_, plain) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 8 }, token: null);
        var (status, json) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 8, echo = true, logprobs = 3 }, token: null);
        output.WriteLine(json!.ToJsonString());
        Assert.Equal(200, status);
        string plainText = plain!["choices"]![0]!["text"]!.GetValue<string>();
        var choice = json["choices"]![0]!;
        string text = choice["text"]!.GetValue<string>();
        Assert.Equal(Prompt + plainText, text);
        Assert.Equal(plain["usage"]!.ToJsonString(), json["usage"]!.ToJsonString());

        int[] promptIds = h.Service.Encode(Prompt);
        int generated = json["usage"]!["completion_tokens"]!.GetValue<int>();
        var (seq, reference, tok) = Reference(promptIds, generated);
        var lp = choice["logprobs"]!;
        string[] tokens = Strings(lp, "tokens");
        var values = lp["token_logprobs"]!.AsArray();
        var tops = lp["top_logprobs"]!.AsArray();
        var offsets = lp["text_offset"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(seq.Length, tokens.Length);
        Assert.Equal(seq.Length, values.Count);
        Assert.Equal(seq.Length, tops.Count);
        Assert.Equal(seq.Length, offsets.Length);
        Assert.Null(values[0]);
        Assert.Null(tops[0]);
        Assert.Equal(0, offsets[0]);
        Assert.Equal(Prompt.Length, offsets[promptIds.Length]);
        for (int pos = 0; pos < seq.Length; pos++)
        {
            Assert.Equal(tok.Decode([seq[pos]]), tokens[pos]);
            if (!tokens[pos].Contains('\uFFFD')) Assert.True(text[offsets[pos]..].StartsWith(tokens[pos], StringComparison.Ordinal), $"token {pos} at offset {offsets[pos]}");
            if (pos > 0) Assert.True(offsets[pos] >= offsets[pos - 1], "offsets never decrease");
            if (pos == 0) continue;
            float[] row = reference[pos - 1];                   // the position before predicts this token
            double got = values[pos]!.GetValue<double>();
            Assert.True(Math.Abs(row[seq[pos]] - got) < Tolerance, $"position {pos}: logprob {got}, reference {row[seq[pos]]}");
            var top = tops[pos]!.AsObject().Select(kv => (kv.Key, Value: kv.Value!.GetValue<double>())).ToArray();
            Assert.InRange(top.Length, 1, 3);
            var best = row.Select((v, id) => (v, id)).OrderByDescending(x => x.v).Take(3).ToArray();
            Assert.True(Math.Abs(best[0].v - top[0].Value) < Tolerance, $"position {pos}: top {top[0].Value}, reference {best[0].v}");
            for (int j = 1; j < top.Length; j++) Assert.True(top[j].Value <= top[j - 1].Value, $"position {pos}: top_logprobs not sorted");
            foreach (var (key, value) in top)
                Assert.Contains(best, b => tok.Decode([b.id]) == key && Math.Abs(b.v - value) < Tolerance);
            Assert.All(top, t => Assert.True(t.Value <= 0, "a log-probability is at most 0"));
            Assert.True(top.Sum(t => Math.Exp(t.Value)) <= 1 + 1e-6, $"position {pos}: the top alternatives hold more than all the mass");
            Assert.True(Math.Abs(row.Sum(v => Math.Exp(v)) - 1) < 1e-3, "the reference distribution sums to 1");
            if (pos >= promptIds.Length)
            {
                // Greedy: the token is the most likely one, so it is in its position's top and has its value.
                Assert.Equal(top[0].Key, tokens[pos]);
                Assert.True(Math.Abs(top[0].Value - got) < 1e-9);
            }
        }

        // Without echo: the generated tokens alone, offsets into the completion's text.
        var (_, bare) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 8, logprobs = 1 }, token: null);
        var bareLp = bare!["choices"]![0]!["logprobs"]!;
        Assert.Equal(plainText, bare["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(tokens[promptIds.Length..], Strings(bareLp, "tokens"));
        Assert.Equal(values.Skip(promptIds.Length).Select(v => v!.GetValue<double>()), bareLp["token_logprobs"]!.AsArray().Select(v => v!.GetValue<double>()));
        Assert.Equal(offsets[promptIds.Length..].Select(o => o - Prompt.Length), bareLp["text_offset"]!.AsArray().Select(v => v!.GetValue<int>()));
        Assert.All(bareLp["top_logprobs"]!.AsArray(), t => Assert.Single(t!.AsObject()));
    }

    [Fact]
    public async Task Sampled_logprobs_are_taken_after_temperature_and_logprobs_0_has_empty_alternatives()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        const double temperature = 0.7;
        var (status, json) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 6, temperature, seed = 11, n = 2, logprobs = 5 }, token: null);
        output.WriteLine(json!.ToJsonString());
        Assert.Equal(200, status);
        int[] promptIds = h.Service.Encode(Prompt);
        var (_, reference, tok) = Reference(promptIds, 0, temperature);
        float[] first = reference[^1];                          // the distribution of the first generated token
        var best = first.Select((v, id) => (v, id)).OrderByDescending(x => x.v).Take(5).ToArray();
        foreach (var choice in json["choices"]!.AsArray())
        {
            var lp = choice!["logprobs"]!;
            string token = lp["tokens"]![0]!.GetValue<string>();
            double got = lp["token_logprobs"]![0]!.GetValue<double>();
            // The sampled id is one whose string is the token and whose value under log_softmax(logits / T) is the one sent.
            Assert.Contains(Enumerable.Range(0, first.Length), id => tok.Decode([id]) == token && Math.Abs(first[id] - got) < Tolerance);
            var top = lp["top_logprobs"]![0]!.AsObject().Select(kv => kv.Value!.GetValue<double>()).ToArray();
            Assert.True(Math.Abs(best[0].v - top[0]) < Tolerance, $"top {top[0]}, reference at temperature {temperature}: {best[0].v}");
            Assert.True(top.Sum(Math.Exp) <= 1 + 1e-6);
            string[] tokens = lp["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToArray();
            if (!tokens.Any(t => t.Contains('\uFFFD'))) Assert.Equal(choice["text"]!.GetValue<string>(), string.Concat(tokens));
        }
        // The unscaled softmax differs: the temperature is really applied.
        var (_, greedyRef, _) = Reference(promptIds, 0);
        Assert.True(Math.Abs(greedyRef[^1].Max() - best[0].v) > 1e-3, "temperature 0.7 changes the top log-probability");

        var (_, zero) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 4, logprobs = 0 }, token: null);
        var zeroLp = zero!["choices"]![0]!["logprobs"]!;
        Assert.NotEmpty(zeroLp["tokens"]!.AsArray());
        Assert.All(zeroLp["top_logprobs"]!.AsArray(), t => Assert.Empty(t!.AsObject()));
        Assert.All(zeroLp["token_logprobs"]!.AsArray(), v => Assert.True(v!.GetValue<double>() <= 0));
    }

    [Fact]
    public async Task A_stop_sequence_keeps_the_tokens_that_begin_before_the_cut()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (_, free) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 12, logprobs = 1 }, token: null);
        string full = free!["choices"]![0]!["text"]!.GetValue<string>();
        Assert.True(full.Length >= 4, "the tiny model writes a few characters");
        string stop = full.Substring(2, 2);
        var (_, cut) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 12, logprobs = 1, stop }, token: null);
        var choice = cut!["choices"]![0]!;
        string text = choice["text"]!.GetValue<string>();
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], text);
        var offsets = choice["logprobs"]!["text_offset"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
        var fullOffsets = free["choices"]![0]!["logprobs"]!["text_offset"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
        Assert.Equal(fullOffsets.Where(o => o < text.Length), offsets);
    }

    [Fact]
    public async Task Echo_puts_the_prompt_first_plain_n_and_streamed()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (_, plain) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 6, n = 2 }, token: null);
        var (status, echoed) = await h.PostAsync("/v1/completions", new { prompt = Prompt, max_tokens = 6, n = 2, echo = true }, token: null);
        Assert.Equal(200, status);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(Prompt + plain!["choices"]![i]!["text"]!.GetValue<string>(), echoed!["choices"]![i]!["text"]!.GetValue<string>());
            Assert.Null(echoed["choices"]![i]!["logprobs"]);
        }
        Assert.Equal(plain!["usage"]!.ToJsonString(), echoed!["usage"]!.ToJsonString());

        using var res = await h.Client.SendAsync(h.Request(HttpMethod.Post, "/v1/completions",
            new { prompt = Prompt, max_tokens = 6, n = 2, echo = true, stream = true }, token: null), HttpCompletionOption.ResponseHeadersRead);
        string body = await res.Content.ReadAsStringAsync();
        var chunks = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(b => b["data: ".Length..]).Where(d => d != "[DONE]")
            .Select(d => JsonNode.Parse(d)!["choices"]!.AsArray().Single()!).ToList();
        for (int i = 0; i < 2; i++)
        {
            var mine = chunks.Where(c => c["index"]!.GetValue<int>() == i).Select(c => c["text"]!.GetValue<string>()).ToList();
            Assert.StartsWith(Prompt, mine[0]);
            Assert.Equal(echoed["choices"]![i]!["text"]!.GetValue<string>(), string.Concat(mine));
        }
    }

    [Theory]
    [InlineData("\"logprobs\": 6")]
    [InlineData("\"logprobs\": -1")]
    [InlineData("\"logprobs\": 1.5")]
    [InlineData("\"logprobs\": \"2\"")]
    [InlineData("\"logprobs\": 2, \"stream\": true")]
    [InlineData("\"echo\": \"yes\"")]
    [InlineData("\"echo\": 1")]
    public async Task A_bad_echo_or_logprobs_is_an_openai_shaped_400_naming_it(string fields)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (status, json) = await h.PostAsync("/v1/completions", $"{{\"prompt\": \"Hi\", {fields}}}", token: null);
        output.WriteLine(json!.ToJsonString());
        Assert.Equal(400, status);
        string field = fields.Contains("echo") ? "echo" : "logprobs";
        Assert.Equal(field, json["error"]!["param"]!.GetValue<string>());
        Assert.Contains($"'{field}'", json["error"]!["message"]!.GetValue<string>());
    }
}
