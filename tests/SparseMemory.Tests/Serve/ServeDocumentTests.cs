using System.Text.Json.Nodes;
using SparseMemory.Runs.Serve;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// <c>POST /learn {"document"}</c> (docs/serve.md, docs/documents.md): a document is chunked and augmented as
/// <c>smf finetune --task documents</c> does, learned as one journal entry that <c>/undo</c> reverts bit for bit and a
/// restart replays; over-long, mixed and bad documents are refused with the limit or field named.
/// </summary>
public sealed class ServeDocumentTests(ServeFixture fx) : IClassFixture<ServeFixture>
{
    const string Article =
        "Ada Lovelace lives in Zorn. She moved there in 1840 with her two cats.\n\n" +
        "Zorn is a small town on the river Ems. Its bridge was built by Carl Benz in 1871, and the town hall is painted blue.\n\n" +
        "Every spring the town holds a fair. The fair sells apples, bread and wool from the valley.";

    [Fact]
    public async Task A_document_is_one_learn_that_undo_reverts_bit_for_bit_and_a_restart_replays()
    {
        var options = fx.Options() with { DocumentChunkTokens = 24, StepsPerLearn = 2 };
        JsonNode learn;
        Tensor start, afterLearn;
        await using (var h = await ServeHost.StartAsync(options))
        {
            start = h.Service.SnapshotLearnerValues();
            var (status, json) = await h.PostAsync("/learn", new { document = Article });
            Assert.True(status == 200, json?.ToJsonString());
            learn = json!;
            int chunks = learn["chunks"]!.GetValue<int>();
            Assert.True(chunks >= 3, $"three paragraphs at 24 tokens a chunk make at least three chunks, got {chunks}");
            Assert.Equal(chunks * options.StepsPerLearn, learn["steps"]!.GetValue<int>());
            Assert.True(learn["rows"]!.GetValue<int>() > 0);
            afterLearn = h.Service.SnapshotLearnerValues();
            Assert.False(TensorAssert.Same(start, afterLearn), "the document changed the table");

            var item = Assert.Single(h.Service.Learned());
            Assert.True(item.Document);
            Assert.Equal(Article, item.Text);
            var (_, listed) = await h.GetAsync("/learned");
            Assert.Equal("document", listed!["learns"]![0]!["kind"]!.GetValue<string>());

            // A fact learned after it: one more entry, kind "fact".
            long fact = await h.LearnAsync("Bela lives in Yelm.");
            var (_, listed2) = await h.GetAsync("/learned");
            Assert.Equal("fact", listed2!["learns"]![1]!["kind"]!.GetValue<string>());
            Assert.Equal(200, (await h.PostAsync($"/undo/{fact}")).Status);
            await h.CrashAsync();
        }
        // The restart replays the document learn from the journal: same table, still a document.
        await using (var h2 = await ServeHost.StartAsync(options))
        {
            using (var replayed = h2.Service.SnapshotLearnerValues()) TensorAssert.Identical(afterLearn, replayed, "learner table after restart");
            Assert.True(h2.Service.Learned()[0].Document);
            long id = learn["id"]!.GetValue<long>();
            var (status, undo) = await h2.PostAsync($"/undo/{id}");
            Assert.True(status == 200, undo?.ToJsonString());
            using (var served = h2.Service.SnapshotValues()) TensorAssert.Identical(start, served, "served table after undoing the document");
            using (var learner = h2.Service.SnapshotLearnerValues()) TensorAssert.Identical(start, learner, "learner table after undoing the document");
        }
        start.Dispose();
        afterLearn.Dispose();
    }

    [Fact]
    public async Task Over_long_mixed_and_bad_documents_are_refused_naming_the_limit_or_field()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { MaxDocumentChars = 200 });
        using var start = h.Service.SnapshotLearnerValues();

        var (status, json) = await h.PostAsync("/learn", new { document = new string('a', 150) + " " + new string('é', 60) });
        Assert.Equal(413, status);
        string message = json!["error"]!["message"]!.GetValue<string>();
        Assert.Contains("211 characters", message);
        Assert.Contains("max_document_chars", message);
        Assert.Contains("200", message);

        (status, json) = await h.PostAsync("/learn", new { document = "Ada lives in Zorn.", text = "Ada lives in Zorn." });
        Assert.Equal(400, status);
        Assert.Contains("either 'document' or 'text'", json!["error"]!["message"]!.GetValue<string>());

        (status, json) = await h.PostAsync("/learn", new { document = "Ada lives\0 in Zorn." });
        Assert.Equal(400, status);
        Assert.Contains("NUL", json!["error"]!["message"]!.GetValue<string>());

        (status, json) = await h.PostAsync("/learn", new { document = "   \n\n  " });
        Assert.Equal(400, status);
        Assert.Contains("'document'", json!["error"]!["message"]!.GetValue<string>());

        (status, json) = await h.PostAsync("/learn", new { });
        Assert.Equal(400, status);
        Assert.Contains("'text' is required", json!["error"]!["message"]!.GetValue<string>());

        Assert.Empty(h.Service.Learned());
        using var end = h.Service.SnapshotLearnerValues();
        TensorAssert.Identical(start, end, "nothing learned from refused documents");
    }
}
