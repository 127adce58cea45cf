using SparseMemory.Reporting;
using Xunit;

namespace SparseMemory.Tests.Reporting;

public sealed class ResultFilesTests
{
    static string Write(string name, string content)
    {
        string path = Path.Combine(Fixtures.TempDir("reporting"), name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Metrics_are_series_over_steps_with_nulls_and_probe_keys()
    {
        string path = Write("metrics.jsonl",
            "{\"step\":0,\"loss\":4.5,\"target-f1/f1\":0.1,\"known-facts-f1/f1\":0.9}\n" +
            "\n" +
            "{\"step\":2,\"loss\":3.0,\"lr\":0.001,\"grad_norm\":null,\"method\":\"sparse\"}\n" +
            "{\"step\":1,\"loss\":4.0,\"tokens_per_s\":\"NaN\"}\n" +
            "{\"step\":2,\"target-f1/f1\":0.6,\"known-facts-f1/f1\":0.85,\"eval_loss\":3.2}\n");
        var log = ResultFiles.ReadMetrics(path);
        Assert.Equal([0L, 1L, 2L], log.Steps);
        Assert.Equal(["loss", "target-f1/f1", "known-facts-f1/f1", "lr", "grad_norm", "tokens_per_s", "eval_loss"], log.Keys);
        Assert.Null(log.Rows[2].Values["grad_norm"]);
        Assert.True(log.Rows[2].Values.ContainsKey("grad_norm"));
        Assert.False(log.Rows[2].Values.ContainsKey("method"));          // text values are not metrics
        Assert.True(double.IsNaN(log.Rows[1].Values["tokens_per_s"]!.Value));
        Assert.Null(log.Rows[1].Get("tokens_per_s"));
        var (steps, f1) = log.Series("target-f1/f1");
        Assert.Equal([0.0, 2.0], steps);
        Assert.Equal([0.1, 0.6], f1);
        Assert.Equal((0L, 4.5), log.First("loss"));
        Assert.Equal((2L, 3.0), log.Last("loss"));
        Assert.Null(log.First("grad_norm"));
        Assert.False(log.Has("grad_norm"));
        Assert.False(log.Has("tokens_per_s"));
        Assert.True(log.Has("eval_loss"));
    }

    [Theory]
    [InlineData("{\"step\":0,\"loss\":1}\n{\"step\":1,\"loss\":\n", 2)]
    [InlineData("{\"step\":0}\n{\"step\":1}\n[1,2]\n", 3)]
    [InlineData("{\"loss\":1}\n", 1)]
    [InlineData("{\"step\":\"three\"}\n", 1)]
    [InlineData("{\"step\":0}\n\n{\"step\":1.5}\n", 3)]
    [InlineData("{\"step\":0,\"loss\":1e999}\n", 1)]
    public void Bad_metrics_line_names_file_and_line(string content, int line)
    {
        string path = Write("metrics.jsonl", content);
        var e = Assert.Throws<InvalidDataException>(() => ResultFiles.ReadMetrics(path));
        Assert.StartsWith($"{path}:{line}: ", e.Message);
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        string path = Path.Combine(Fixtures.TempDir("reporting"), "nope", "metrics.jsonl");
        Assert.Contains(path, Assert.Throws<FileNotFoundException>(() => ResultFiles.ReadMetrics(path)).Message);
        Assert.Contains(path, Assert.Throws<FileNotFoundException>(() => ResultFiles.ReadSummary(path)).Message);
        Assert.Contains(path, Assert.Throws<FileNotFoundException>(() => ResultFiles.ReadJsonl(path)).Message);
    }

    [Fact]
    public void Summary_is_flattened_with_slashes_in_file_order()
    {
        string path = Write("summary.json", """
            {
              "method": "sparse",
              "steps": 40,
              "first_loss": 3.5,
              "done": true,
              "note": null,
              "probes": { "target-f1/f1": 0.75, "known": { "f1": 0.5 } },
              "layers": [1, 3]
            }
            """);
        var s = ResultFiles.ReadSummary(path);
        Assert.Equal(["method", "steps", "first_loss", "done", "note", "probes/target-f1/f1", "probes/known/f1", "layers/0", "layers/1"], s.Keys);
        Assert.Equal("sparse", s.Text("method"));
        Assert.Null(s.Number("method"));
        Assert.Equal(40, s.Number("steps"));
        Assert.Equal("true", s.Text("done"));
        Assert.True(s["note"].IsNull);
        Assert.Null(s.Text("note"));
        Assert.Equal(0.75, s.Number("probes/target-f1/f1"));
        Assert.Equal(0.5, s.Number("probes/known/f1"));
        Assert.Equal(3, s.Number("layers/1"));
        Assert.Null(s.Number("absent"));
    }

    [Fact]
    public void Bad_summary_names_the_file()
    {
        string notObject = Write("summary.json", "[1, 2]");
        Assert.StartsWith(notObject, Assert.Throws<InvalidDataException>(() => ResultFiles.ReadSummary(notObject)).Message);
        string broken = Write("summary.json", "{\n  \"a\": 1,\n  \"b\": }\n");
        Assert.StartsWith($"{broken}:3: ", Assert.Throws<InvalidDataException>(() => ResultFiles.ReadSummary(broken)).Message);
    }

    [Fact]
    public void Results_jsonl_rows_are_flat_and_in_file_order()
    {
        string path = Write("results.jsonl",
            "{\"method\":\"sparse\",\"lr\":2,\"target\":{\"f1\":0.8},\"heldout\":{\"f1\":0.7}}\n" +
            "{\"method\":\"lora\",\"lr\":0.001,\"target\":{\"f1\":0.6},\"heldout\":{\"f1\":0.4}}\n");
        var rows = ResultFiles.ReadJsonl(path);
        Assert.Equal(2, rows.Count);
        Assert.Equal("lora", rows[1].Text("method"));
        Assert.Equal(0.8, rows[0].Number("target/f1"));
        Assert.Equal("0.001", rows[1].Text("lr"));
        string bad = Write("results.jsonl", "{\"a\":1}\n{\"a\":2}\nnot json\n");
        Assert.StartsWith($"{bad}:3: ", Assert.Throws<InvalidDataException>(() => ResultFiles.ReadJsonl(bad)).Message);
    }
}
