using SparseMemory.Data.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Benchmarks;

public sealed class BenchmarkReaderTests
{
    private static BenchmarkPaths P => BenchmarkData.Required;

    [BenchmarkFact]
    public void Should_read_all_nq_open_items()
    {
        var items = NqOpen.Read(P.NqOpenDev);
        Assert.Equal(3610, items.Count);
        Assert.Equal("when was the last time anyone was on the moon", items[0].Question);
        Assert.Equal(["14 December 1972 UTC", "December 1972"], items[0].Answers);
        Assert.All(items, i => Assert.NotEmpty(i.Answers));
    }

    [BenchmarkFact]
    public void Should_extract_triviaqa_questions_from_context()
    {
        var items = TriviaQa.Read(P.TriviaQa);
        Assert.Equal(2000, items.Count);
        Assert.Equal("What type of animal is a dik-dik?", items[1].Question);
        Assert.Equal("Antelope", items[1].Answer);
        Assert.Equal(5, items[1].Aliases.Count);
        Assert.Equal("Question: What type of animal is a dik-dik?\nAnswer:", items[1].Context);
    }

    [BenchmarkFact]
    public void Should_read_all_hellaswag_items_with_balanced_labels()
    {
        var items = HellaSwag.Read(P.HellaSwagVal);
        Assert.Equal(10042, items.Count);
        Assert.Equal("Roof shingle removal", items[0].Label);
        Assert.Equal("A man is sitting on a roof. he", items[0].Context);
        Assert.Equal(3, items[0].Gold);
        Assert.Equal("A man is sitting on a roof. he starts pulling up roofing on a roof.", items[0].Completed(3));
        Assert.Equal([2515, 2485, 2584, 2458], Enumerable.Range(0, 4).Select(g => items.Count(i => i.Gold == g)));
        Assert.Equal(192, items.Select(i => i.Label).Distinct().Count());
    }

    [BenchmarkFact]
    public void Should_expose_gsm8k_final_answer_and_stripped_solution()
    {
        var items = Gsm8k.Read(P.Gsm8kTest);
        Assert.Equal(1319, items.Count);
        Assert.Equal("18", items[0].FinalAnswer);
        Assert.StartsWith("Janet sells 16 - 3 - 4 = 9 duck eggs a day.", items[0].Solution);
        Assert.All(items, i => Assert.DoesNotContain("<<", i.Solution));
        Assert.All(items, i => Assert.DoesNotContain("####", i.Solution));
    }

    [Fact]
    public void Should_strip_calculator_annotations()
    {
        Assert.Equal("She makes 9 * 2 = $18 every day.", Gsm8k.StripCalculatorAnnotations("She makes 9 * 2 = $<<9*2=18>>18 every day."));
    }

    [BenchmarkFact]
    public void Should_read_chosen_blimp_paradigms_with_a_limit()
    {
        var paradigms = Blimp.Paradigms(P.BlimpDirectory);
        Assert.Equal(67, paradigms.Count);
        var pairs = Blimp.Read(P.BlimpDirectory, ["anaphor_gender_agreement", "adjunct_island"], perParadigmLimit: 5);
        Assert.Equal(10, pairs.Count);
        Assert.Equal("Katherine can't help herself.", pairs[0].SentenceGood);
        Assert.Equal("Katherine can't help himself.", pairs[0].SentenceBad);
        Assert.Equal("morphology", pairs[0].Field);
        Assert.All(pairs.Skip(5), p => Assert.Equal("adjunct_island", p.Uid));
        Assert.Throws<FileNotFoundException>(() => Blimp.Read(P.BlimpDirectory, ["no_such_paradigm"]));
    }

    [BenchmarkFact]
    public void Should_read_lambada_arc_and_piqa()
    {
        Assert.Equal(5153, Lambada.Read(P.Lambada).Count);
        var arc = MultipleChoice.ReadArcEasy(P.ArcEasy);
        Assert.Equal(2376, arc.Count);
        Assert.Equal(1, arc[1].Gold);
        Assert.Equal("breathing mask", arc[1].Choices[arc[1].Gold]);
        var piqa = MultipleChoice.ReadPiqa(P.Piqa);
        Assert.Equal(1838, piqa.Count);
        Assert.Equal("Question: How do I ready a guinea pig cage for it's new occupants?\n", piqa[0].Query);
    }

    [BenchmarkFact]
    public void Should_stop_after_the_limit()
    {
        Assert.Equal(7, NqOpen.Read(P.NqOpenDev, limit: 7).Count);
        Assert.Equal(3, HellaSwag.Read(P.HellaSwagVal, limit: 3).Count);
        Assert.Empty(TriviaQa.Read(P.TriviaQa, limit: 0));
    }

    [BenchmarkFact]
    public void Should_name_file_and_line_for_a_bad_hellaswag_gold_index()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(P.HellaSwagVal, 18);
        lines[13] = "x";
        var path = temp.Write("hellaswag_val_full.txt.gz", lines);
        var error = Assert.Throws<InvalidDataException>(() => HellaSwag.Read(path));
        Assert.Equal($"{path}:14: gold index 'x' is not 0–3", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_a_truncated_hellaswag_item()
    {
        using var temp = new TempFolder();
        var path = temp.Write("hellaswag_val_full.txt.gz", TempFolder.Head(P.HellaSwagVal, 16));
        var error = Assert.Throws<InvalidDataException>(() => HellaSwag.Read(path));
        Assert.StartsWith($"{path}:16: expected 6 lines per item", error.Message);
    }

    [BenchmarkFact]
    public void Should_name_file_and_line_for_invalid_json()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(P.NqOpenDev, 5);
        lines[2] = lines[2][..20];
        var path = temp.Write("nq_open_dev.jsonl", lines);
        var error = Assert.Throws<InvalidDataException>(() => NqOpen.Read(path));
        Assert.StartsWith($"{path}:3: expected one JSON object per line", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_a_triviaqa_context_without_the_question_frame()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(P.TriviaQa, 3);
        lines[1] = lines[1].Replace("Question: ", "Q: ", StringComparison.Ordinal);
        var path = temp.Write("triviaqa_sm_sub.jsonl", lines);
        var error = Assert.Throws<InvalidDataException>(() => TriviaQa.Read(path));
        Assert.StartsWith($"{path}:2: expected context of the form 'Question: …\\nAnswer:'", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_a_gsm8k_answer_without_final_marker()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(P.Gsm8kTest, 3);
        lines[1] = lines[1].Replace("####", "=", StringComparison.Ordinal);
        var path = temp.Write("gsm8k_test.jsonl", lines);
        var error = Assert.Throws<InvalidDataException>(() => Gsm8k.Read(path));
        Assert.Equal($"{path}:2: expected exactly one '#### <number>' in 'answer'", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_a_blimp_pair_without_the_bad_sentence()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(Path.Combine(P.BlimpDirectory, "anaphor_gender_agreement.jsonl.gz"), 5);
        lines[3] = lines[3].Replace("\"sentence_bad\"", "\"sentence_worse\"", StringComparison.Ordinal);
        var path = temp.Write("anaphor_gender_agreement.jsonl.gz", lines);
        var error = Assert.Throws<InvalidDataException>(() => Blimp.Read(temp.Path));
        Assert.Equal($"{path}:4: expected string property 'sentence_bad', property is missing", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_an_out_of_range_multiple_choice_gold()
    {
        using var temp = new TempFolder();
        var lines = TempFolder.Head(P.ArcEasy, 2);
        lines[0] = lines[0].Replace("\"gold\": 0", "\"gold\": 7", StringComparison.Ordinal);
        var path = temp.Write("arc_easy.jsonl", lines);
        var error = Assert.Throws<InvalidDataException>(() => MultipleChoice.ReadArcEasy(path));
        Assert.Equal($"{path}:1: gold index 7 is not 0–3", error.Message);
    }

    [BenchmarkFact]
    public void Should_reject_a_lambada_continuation_that_is_not_a_string()
    {
        using var temp = new TempFolder();
        var path = temp.Write("lambada_openai.jsonl", ["{\"context\": \"a b c\", \"continuation\": 3}"]);
        var error = Assert.Throws<InvalidDataException>(() => Lambada.Read(path));
        Assert.Equal($"{path}:1: expected string property 'continuation', found Number", error.Message);
    }
}
