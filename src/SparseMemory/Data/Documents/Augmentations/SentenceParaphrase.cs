using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// Sentence paraphrases by rules: a fronted phrase moved to the end ("In 1905, X did Y." → "X did Y in 1905."), a final
/// phrase fronted ("X did Y in 1905." → "In 1905, X did Y."), an identity statement inverted ("The capital of X is Y."
/// → "Y is the capital of X."), each form inside a few reporting templates ("According to the text, …").
/// </summary>
public sealed class SentenceParaphrase : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("paraphrase", "each sentence reworded by rules (phrase movement, copula inversion) inside reporting templates",
        new SentenceParaphrase());

    // {0} = the sentence, {1} = the sentence with a lower-cased opener (only for function words, never names).
    static readonly string[] Wrappers =
    [
        "{0}", "According to the text, {1}", "The text says: {0}", "In other words, {1}", "It is stated that {1}", "Note: {0}", "Put simply, {1}",
    ];

    static readonly string[] Leading = ["In", "On", "At", "During", "By", "After", "Before", "Since", "From", "Until", "Under", "With"];

    /// <inheritdoc/>
    public string TemplateText => string.Join(' ', Wrappers) + " " + string.Join(' ', Leading);

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk)
    {
        var lines = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sentences = chunk.Sentences;
        for (int i = 0; i < sentences.Count; i++)
        {
            var forms = new List<(string Text, string Rule)> { (sentences[i], "as written") };
            if (MoveFrontedPhrase(sentences[i]) is { } moved) forms.Add((moved, "fronted phrase moved to the end"));
            if (FrontFinalPhrase(sentences[i]) is { } fronted) forms.Add((fronted, "final phrase fronted"));
            if (InvertCopula(sentences[i]) is { } inverted) forms.Add((inverted, "copula inverted"));
            foreach (var (form, rule) in forms)
            foreach (var wrapper in Wrappers)
            {
                if (rule == "as written" && wrapper == "{0}") continue;        // the bare sentence is not a paraphrase
                var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, wrapper, form, SentenceParts.LowerOpener(form));
                if (seen.Add(text))
                    lines.Add(new TrainingLine(text, LineKind.Statement, $"sentence {i + 1}, {rule}{(wrapper == "{0}" ? "" : $" in \"{wrapper.Replace("{0}", "…").Replace("{1}", "…")}\"")}", Spec.Name));
            }
        }
        return lines;
    }

    /// <summary>"In 1905, X did Y." → "X did Y in 1905." (a leading preposition phrase ending in a comma within eight words).</summary>
    public static string? MoveFrontedPhrase(string sentence)
    {
        var body = SentenceParts.Body(sentence);
        int comma = body.IndexOf(", ", StringComparison.Ordinal);
        if (comma < 0) return null;
        var phrase = body[..comma];
        var first = phrase.Split(' ')[0];
        if (!Leading.Contains(first) || phrase.Split(' ').Length > 8) return null;
        var rest = body[(comma + 2)..];
        if (rest.Split(' ').Length < 2 || rest.Contains(", ", StringComparison.Ordinal)) return null;
        return $"{TextUnits.UpperFirst(rest)} {char.ToLowerInvariant(phrase[0])}{phrase[1..]}{SentenceParts.End(sentence)}";
    }

    /// <summary>"X did Y in 1905." → "In 1905, X did Y." (a final phrase of at most four words after in/on/during/since/by that holds a number or a name).</summary>
    public static string? FrontFinalPhrase(string sentence)
    {
        var body = SentenceParts.Body(sentence);
        if (body.Contains(',')) return null;
        var words = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int k = Math.Max(2, words.Length - 5); k < words.Length - 1; k++)
        {
            if (words[k] is not ("in" or "on" or "during" or "since" or "by")) continue;
            var tail = words[(k + 1)..];
            if (!tail.Any(w => char.IsDigit(w[0]) || char.IsUpper(w[0]))) continue;
            var head = string.Join(' ', words[..k]);
            return $"{TextUnits.UpperFirst(words[k])} {string.Join(' ', tail)}, {SentenceParts.LowerOpener(head)}{SentenceParts.End(sentence)}";
        }
        return null;
    }

    /// <summary>"The capital of X is Y." → "Y is the capital of X." (one copula, a subject opening with "The", a complement of at most four words).</summary>
    public static string? InvertCopula(string sentence)
    {
        var body = SentenceParts.Body(sentence);
        if (!body.StartsWith("The ", StringComparison.Ordinal) || body.Contains(',')) return null;
        var words = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var copulas = Enumerable.Range(1, words.Length - 1).Where(i => EnglishVerbs.Be.Contains(words[i])).ToList();
        if (copulas.Count != 1) return null;
        int c = copulas[0];
        int after = words.Length - c - 1;
        if (after is < 1 or > 4 || c < 2) return null;
        var subject = string.Join(' ', words[..c]);
        var complement = string.Join(' ', words[(c + 1)..]);
        return $"{TextUnits.UpperFirst(complement)} {words[c]} {char.ToLowerInvariant(subject[0])}{subject[1..]}{SentenceParts.End(sentence)}";
    }
}
