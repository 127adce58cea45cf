using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Data.Documents;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Tests.Reliability;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Documents;

/// <summary>The document stream end to end on the tiny fixture model: dry run, a run, bad documents, a killed and resumed process.</summary>
public sealed class DocumentRunTests(FinetuneFixture fx, ITestOutputHelper output) : IClassFixture<FinetuneFixture>
{
    /// <summary>Two documents (the first of several paragraphs) and TriviaQA-format questions about them.</summary>
    (string Docs, string Questions) Files()
    {
        string dir = Path.Combine(fx.Root, "docs-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        string docs = Path.Combine(dir, "docs.jsonl");
        File.WriteAllLines(docs,
        [
            new JsonObject { ["id"] = "towns", ["text"] = "Ada lives in Zorn. Zorn is a town by the sea.\n\nBela lives in Yelm. In 1950, Yelm got a port.\n\n" +
                "Cyril lives in Xant. He works in Cove.\n\nDora lives in Wick." }.ToJsonString(),
            new JsonObject { ["id"] = "more", ["text"] = "Emil lives in Vale. Fenna lives in Umber." }.ToJsonString(),
        ]);
        string questions = Path.Combine(dir, "questions.jsonl");
        File.WriteAllLines(questions, new[] { ("Where does Ada live?", "Zorn"), ("Where does Emil live?", "Vale") }.Select(q =>
            new JsonObject { ["context"] = $"Question: {q.Item1}\nAnswer:", ["answer"] = q.Item2, ["aliases"] = new JsonArray(q.Item2) }.ToJsonString()));
        return (docs, questions);
    }

    string[] Finetune(string docs, string questions, string outDir, params string[] extra) =>
    [
        "finetune", "--model", fx.BaseDir, "--method", SparseMemoryMethod.Spec.Name, "--lr", "0.5", "--task", "documents", "--data", docs,
        "--questions", questions, "--set", "data.chunk_tokens=12", "--set", "data.paraphrases=6", "--set", "data.steps_per_item=1",
        "--set", "threads=1", .. extra, .. (outDir.Length > 0 ? new[] { "--out", outDir } : []),
    ];

    [Fact]
    public void A_dry_run_prints_each_chunk_and_every_line_with_its_strategy()
    {
        var (docs, questions) = Files();
        var (code, stdout, err) = Smf.Run([.. Finetune(docs, questions, ""), "--dry-run", "--show", "2"]);
        Assert.True(code == 0, err);
        Assert.Contains("step 0: chunk towns#0", stdout);
        Assert.Contains("step 1: chunk towns#1", stdout);
        Assert.Contains("chunk: Ada lives in Zorn.", stdout);
        Assert.Contains("[chunk     ]", stdout);
        Assert.Contains("[self_quiz ]", stdout);
        // The held-out question is never a training line.
        Assert.DoesNotContain("Where does Ada live?", stdout);
    }

    [Fact]
    public void A_run_takes_one_chunk_per_step_in_document_order_and_logs_the_strategies()
    {
        var (docs, questions) = Files();
        string outDir = Path.Combine(fx.Root, "doc-run-" + Guid.NewGuid().ToString("N")[..6]);
        var (code, _, err) = Smf.Run([.. Finetune(docs, questions, outDir), "--set", "probes=[\"target-f1\"]", "--set", "data.strategies=[\"chunk\",\"cloze\"]"]);
        Assert.True(code == 0, err);
        var tok = ByteLevelBpeTokenizer.Load(Path.Combine(outDir, Checkpoint.TokenizerFile));
        var chunks = DocumentChunker.Split(DocumentReader.Read(docs), tok, 12);
        var rows = File.ReadLines(Path.Combine(outDir, SparseMemory.Runs.FinetuneRun.StrategiesFile)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(chunks.Count, rows.Count);
        Assert.Equal(chunks.Select(c => c.Id), rows.Select(r => r!["chunk"]!.GetValue<string>()));
        foreach (var r in rows)
        {
            var used = r!["strategies"]!.AsObject();
            Assert.Equal(["chunk", "cloze"], used.Select(kv => kv.Key));
            Assert.Equal(6, used.Sum(kv => kv.Value!.GetValue<int>()));
            Assert.Equal(6, r["lines"]!.AsArray().Count);
        }
        Assert.Equal(2, FactsFile.ReadNamedOrFile(Path.Combine(outDir, SparseMemory.Runs.FinetuneRun.StreamFactsFile)).Count);
        var metrics = File.ReadLines(Path.Combine(outDir, Checkpoint.MetricsFile)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.NotNull(metrics[^1]["target-f1/f1"]);
    }

    [Fact]
    public void Coreset_analyses_each_chunk_with_a_question_it_answers()
    {
        var (docs, questions) = Files();
        string outFile = Path.Combine(fx.Root, "doc-coreset-" + Guid.NewGuid().ToString("N")[..6] + ".jsonl");
        var (code, _, err) = Smf.Run("coreset", "--model", fx.BaseDir, "--task", "documents", "--data", docs, "--questions", questions,
            "--facts", "5", "--top-t", "4", "--steps", "1", "--out", outFile, "--set", "data.paraphrases=4", "--set", "data.chunk_tokens=12");
        Assert.True(code == 0, err);
        // Two questions, each answered by one chunk (Zorn in the first, Vale in the last document).
        var rows = File.ReadAllLines(outFile).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["Zorn", "Vale"], rows.Select(r => r!["answer"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData("empty.txt", "", ":1:", "empty document")]
    [InlineData("bin.txt", "ok\n\0", ":2:", "binary")]
    public void A_bad_document_stops_the_run_with_one_line_naming_file_and_line(string name, string content, string line, string what)
    {
        string path = Path.Combine(fx.Root, Guid.NewGuid().ToString("N")[..6] + name);
        File.WriteAllText(path, content);
        string outDir = Path.Combine(fx.Root, "bad-doc-" + Guid.NewGuid().ToString("N")[..6]);
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--task", "documents", "--data", path, "--out", outDir, "--set", "data.chunk_tokens=12");
        Assert.Equal(2, code);
        Assert.Contains(path + line, err);
        Assert.Contains(what, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_chunk_budget_beyond_the_model_is_refused_with_the_limit()
    {
        var (docs, questions) = Files();
        var (code, _, err) = Smf.Run([.. Finetune(docs, questions, ""), "--set", "data.chunk_tokens=500", "--dry-run"]);
        Assert.Equal(2, code);
        Assert.Contains("data.chunk_tokens ≤ 31", err);
    }

    [Fact]
    public void Killed_mid_document_the_real_process_resumes_with_nothing_repeated_or_skipped()
    {
        var (docs, questions) = Files();
        string[] Command(string dir) => Finetune(docs, questions, dir, "--set", "checkpoint_every=2", "--set", "probes=[]");
        string reference = Path.Combine(fx.Root, "doc-ref-" + Guid.NewGuid().ToString("N")[..6]);
        var full = SmfProcess.Run(Command(reference));
        Assert.True(full.Code == 0, full.Err);
        // Killed (SIGKILL) right after the second checkpoint commit, at step 4: chunks 4 and 5 are of the same document.
        string killedDir = Path.Combine(fx.Root, "doc-kill-" + Guid.NewGuid().ToString("N")[..6]);
        var killed = SmfProcess.Run(Command(killedDir), new Dictionary<string, string> { [TrainingCheckpoint.FaultPointVariable] = "committed:2" });
        Assert.True(killed.Code == SmfProcess.KilledCode, $"expected a SIGKILL at the fault point, got exit {killed.Code}: {killed.Err}");
        var steps = File.ReadLines(Path.Combine(killedDir, Checkpoint.MetricsFile)).Select(l => JsonNode.Parse(l)!["step"]!.GetValue<int>()).ToList();
        output.WriteLine($"killed after steps {string.Join(",", steps)}");
        var tok = ByteLevelBpeTokenizer.Load(Path.Combine(reference, Checkpoint.TokenizerFile));
        var chunks = DocumentChunker.Split(DocumentReader.Read(docs), tok, 12);
        int resumeAt = steps.Max();
        Assert.True(resumeAt < chunks.Count - 1 && chunks[resumeAt - 1].DocumentId == chunks[resumeAt].DocumentId, "the kill must land mid-document");
        var rerun = SmfProcess.Run(Command(killedDir));
        Assert.True(rerun.Code == 0, rerun.Err);
        // Identical weights, optimizer and metrics rows to the uninterrupted run: every step once, in order.
        RunAssert.SameRun(reference, killedDir, Checkpoint.ConfigFile, Checkpoint.TokenizerFile, SparseMemory.Runs.FinetuneRun.StrategiesFile);
        var after = File.ReadLines(Path.Combine(killedDir, Checkpoint.MetricsFile)).Select(l => JsonNode.Parse(l)!["step"]!.GetValue<int>()).ToList();
        Assert.Equal(Enumerable.Range(after[0], after.Count), after);
        Assert.Equal(chunks.Count, after[^1]);
    }

    [Fact]
    public void A_lesson_plans_every_chunk_and_step_for_one_document_and_checks_its_size()
    {
        var tok = DocumentChunkerTests.Tok.Value;
        var options = new DocumentLessonOptions(ChunkTokens: 16, LinesPerStep: 8, StepsPerChunk: 3, Seed: 1, MaxLen: 32,
            HeldOutQuestions: ["What is the capital of Ghana?"]);
        var lesson = DocumentLesson.Plan("The capital of Ghana is Accra. In 1957, Ghana became independent.\n\nKwame Nkrumah led it.", tok, options);
        Assert.True(lesson.Chunks.Count > 1);
        Assert.Equal(lesson.Chunks.Count * 3, lesson.Steps);
        Assert.Equal(lesson.Chunks[^1], lesson.ChunkAt(lesson.Steps - 1));
        var batch = lesson.Batch(0);
        Assert.Equal(8, batch.Inputs.shape[0]);
        Assert.Empty(QuestionLeak.Find(Enumerable.Range(0, lesson.Steps).SelectMany(s => lesson.Lines(s)).Select(l => l.Text), options.HeldOutQuestions!));
        var e = Assert.Throws<InvalidDataException>(() => DocumentLesson.Plan(new string('a', DocumentReader.MaxDocumentBytes + 1), tok, options, "request"));
        Assert.StartsWith("request:1:", e.Message);
        Assert.Throws<ArgumentException>(() => DocumentLesson.Plan("x.", tok, options with { Strategies = ["nope"] }));
    }
}
