using SparseMemory.Data;
using SparseMemory.Data.Facts;
using System.Text.RegularExpressions;

namespace SparseMemory.DataBuild.Facts;

/// <summary>Text clean-up shared by the package readers.</summary>
public static partial class FactText
{
    /// <summary>Collapses every run of whitespace to one space and trims.</summary>
    public static string Normalize(string text) => Whitespace().Replace(text, " ").Trim();

    /// <summary>Number of space-separated words.</summary>
    public static int WordCount(string text) => text.Length == 0 ? 0 : text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>A lower-case slug for ids: letters (any script) and digits kept, other runs become '-'.</summary>
    public static string Slug(string text)
    {
        var chars = new System.Text.StringBuilder(text.Length);
        bool dash = false;
        foreach (char c in text)
        {
            if (char.IsLetterOrDigit(c)) { chars.Append(char.ToLowerInvariant(c)); dash = false; }
            else if (c is '\'' or '’') continue;
            else if (!dash && chars.Length > 0) { chars.Append('-'); dash = true; }
        }
        return chars.ToString().TrimEnd('-');
    }

    /// <summary>"a" or "an" for the following word (by its first letter; good enough for common nouns).</summary>
    public static string Article(string word) =>
        word.Length > 0 && "aeiouAEIOU".Contains(word[0]) ? "an" : "a";

    /// <summary>The possessive "X's" (just "X'" when X ends in s).</summary>
    public static string Possessive(string name) => name.EndsWith('s') ? name + "'" : name + "'s";

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
