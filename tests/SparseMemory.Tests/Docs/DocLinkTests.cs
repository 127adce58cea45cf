using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace SparseMemory.Tests.Docs;

/// <summary>
/// Every relative link in README.md and docs/*.md resolves: the file exists, and a <c>#anchor</c> into a Markdown file
/// names one of its headings (GitHub's slug) or an explicit <c>&lt;a id="…"&gt;</c>. Source comments that point to
/// <c>docs/NAME.md#anchor</c> are held to the same rule, since "comments point to docs/" is only useful if the place
/// exists. Links inside code (fenced blocks, inline code spans) and absolute URLs are not checked.
/// </summary>
public sealed partial class DocLinkTests
{
    [Fact]
    public void Every_relative_link_in_the_readme_and_docs_resolves()
    {
        string root = RepoRoot();
        var files = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
            .ToArray();
        var problems = files.SelectMany(f => LinkProblems(f, root)).ToList();
        Assert.True(files.Length > 5, $"only {files.Length} Markdown files found under {root}");
        Assert.True(problems.Count == 0, "broken links:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Every_docs_reference_in_source_comments_resolves()
    {
        string root = RepoRoot();
        var files = new[] { "src", "tests", "presets", "scripts" }
            .Select(d => Path.Combine(root, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)
                        || f.EndsWith(".sh", StringComparison.Ordinal) || f.EndsWith(".py", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains("node_modules", StringComparison.Ordinal)
                        && Path.GetFileName(f) != "DocLinkTests.cs")   // its own checker test names missing files on purpose
            .Order(StringComparer.Ordinal)
            .ToArray();
        var problems = new List<string>();
        int references = 0;
        foreach (var f in files)
        {
            var lines = File.ReadAllLines(f);
            for (int i = 0; i < lines.Length; i++)
                foreach (Match m in SourceReference().Matches(lines[i]))
                {
                    references++;
                    string? problem = Resolve(root, m.Groups["path"].Value, m.Groups["anchor"].Success ? m.Groups["anchor"].Value : null);
                    if (problem is not null) problems.Add($"{Path.GetRelativePath(root, f)}:{i + 1}: {m.Value}: {problem}");
                }
        }
        Assert.True(references > 20, $"only {references} docs/ references found in the sources; is the pattern right?");
        Assert.True(problems.Count == 0, "broken docs/ references in sources:\n" + string.Join("\n", problems));
    }

    /// <summary>The checker itself finds a missing file, a missing anchor, and accepts headings, explicit ids and code.</summary>
    [Fact]
    public void The_checker_finds_a_missing_file_and_a_missing_anchor()
    {
        string dir = Directory.CreateTempSubdirectory("doclinks").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "docs"));
            File.WriteAllText(Path.Combine(dir, "docs", "a.md"),
                "# Title\n\n## 2.1 The `large` preset — 1,048,576 slots\n\n## Title\n\n<a id=\"explicit\"></a>\n## Other\n");
            File.WriteAllText(Path.Combine(dir, "README.md"), string.Join("\n",
                "[ok](docs/a.md) [ok](docs/a.md#title) [ok](docs/a.md#title-1) [ok](docs/a.md#21-the-large-preset--1048576-slots)",
                "[ok](docs/a.md#explicit) [ok](#self) [ok](https://example.org/x.md#nope) `[code](docs/none.md)`",
                "```", "[fenced](docs/none.md)", "```",
                "## Self",
                "[bad](docs/missing.md) [bad](docs/a.md#nope) ![bad](img/none.png) [bad](#title)"));
            var problems = LinkProblems(Path.Combine(dir, "README.md"), dir);
            Assert.Equal(4, problems.Count);
            Assert.Contains(problems, p => p.Contains("docs/missing.md", StringComparison.Ordinal) && p.Contains("no such file", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.Contains("docs/a.md#nope", StringComparison.Ordinal) && p.Contains("no heading", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.Contains("img/none.png", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.Contains("(#title)", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>The problems of one Markdown file's links, one line each: <c>FILE:LINE: (target): why</c>.</summary>
    static List<string> LinkProblems(string file, string root)
    {
        var problems = new List<string>();
        bool fenced = false;
        var lines = File.ReadAllLines(file);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal)) { fenced = !fenced; continue; }
            if (fenced) continue;
            string text = InlineCode().Replace(lines[i], "");
            foreach (Match m in MarkdownLink().Matches(text))
            {
                string target = m.Groups["target"].Value;
                if (Scheme().IsMatch(target)) continue;
                int hash = target.IndexOf('#', StringComparison.Ordinal);
                string path = hash < 0 ? target : target[..hash];
                string? anchor = hash < 0 ? null : target[(hash + 1)..];
                string resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(path)));
                string? problem = Check(resolved, anchor);
                if (problem is not null) problems.Add($"{Path.GetRelativePath(root, file)}:{i + 1}: ({target}): {problem}");
            }
        }
        return problems;
    }

    static string? Resolve(string root, string relative, string? anchor) => Check(Path.Combine(root, relative), anchor);

    static string? Check(string path, string? anchor)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) return "no such file";
        if (anchor is null || !path.EndsWith(".md", StringComparison.OrdinalIgnoreCase)) return null;
        var anchors = Anchors(path);
        return anchors.Contains(anchor) ? null : $"no heading or <a id> with the anchor '{anchor}' in {Path.GetFileName(path)}";
    }

    /// <summary>The anchors GitHub gives a Markdown file: each heading's slug (repeats get -1, -2, …) and every explicit id.</summary>
    static HashSet<string> Anchors(string file)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        bool fenced = false;
        foreach (string line in File.ReadLines(file))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal)) { fenced = !fenced; continue; }
            if (fenced) continue;
            foreach (Match m in ExplicitId().Matches(line)) anchors.Add(m.Groups[1].Value);
            var h = Heading().Match(line);
            if (!h.Success) continue;
            string slug = Slug(h.Groups["text"].Value);
            int n = seen.GetValueOrDefault(slug);
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    /// <summary>GitHub's heading slug: the text without tags, lower case, letters, digits, '_', '-' and spaces kept, spaces → '-'.</summary>
    static string Slug(string heading)
    {
        var sb = new StringBuilder();
        foreach (char c in HtmlTag().Replace(heading, "").Trim().ToLowerInvariant())
            if (char.IsLetterOrDigit(c) || c == '_' || c == '-') sb.Append(c);
            else if (c == ' ') sb.Append('-');
        return sb.ToString();
    }

    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SparseMemory.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no SparseMemory.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"!?\[[^\]]*\]\((?<target>[^)\s]+)\)")] private static partial Regex MarkdownLink();
    [GeneratedRegex(@"`[^`]*`")] private static partial Regex InlineCode();
    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")] private static partial Regex Scheme();
    [GeneratedRegex(@"^#{1,6}\s+(?<text>.*?)\s*#*\s*$")] private static partial Regex Heading();
    [GeneratedRegex(@"<a\s+(?:id|name)=""([^""]+)""")] private static partial Regex ExplicitId();
    [GeneratedRegex(@"<[^>]+>")] private static partial Regex HtmlTag();
    [GeneratedRegex(@"(?<![\w/.-])(?<path>docs/[\w./-]+\.md)(?:#(?<anchor>[\w-]+))?")] private static partial Regex SourceReference();
}
