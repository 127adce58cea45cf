using System.Text.RegularExpressions;
using Mono.Cecil;
using Xunit;

namespace SparseMemory.Tests.Architecture;

/// <summary>
/// The projects depend in one direction (docs/architecture.md): the front ends (the CLI, the HTTP adapter, the offline
/// data builders) may use the library, never the reverse, and every project under <c>src/</c> is covered. Checked three
/// ways: the .csproj project references, the compiled assemblies' references, and every <c>using SparseMemory.…</c>.
/// Inside the library, <see cref="LayerDependencyTests"/> checks the namespace order.
/// </summary>
public sealed class ProjectDependencyTests
{
    /// <summary>The library project; its namespaces are the layers of <see cref="LayerDependencyTests.Allowed"/>.</summary>
    public const string Library = "SparseMemory";

    /// <summary>What each project under src/ may reference. Anything not listed is forbidden; a new project must be added here.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        [Library] = [],
        ["SparseMemory.DataBuild"] = [Library],
        ["SparseMemory.Serve"] = [Library],
        ["SparseMemory.Cli"] = [Library, "SparseMemory.DataBuild", "SparseMemory.Serve"],
    };

    [Fact]
    public void Every_project_under_src_is_in_the_table()
    {
        var names = SourceTree.Projects().Select(p => p.Name).ToList();
        Assert.Equal(Allowed.Keys.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public void No_project_references_a_project_it_may_not()
    {
        var bad = ReferenceViolations(SourceTree.Projects(), Allowed, compiled: true);
        Assert.True(bad.Count == 0, "forbidden project references:\n  " + string.Join("\n  ", bad));
    }

    [Fact]
    public void The_reference_check_finds_a_forbidden_reference_when_the_table_forbids_an_existing_one()
    {
        // The HTTP adapter really uses the library; a table that forbids it must report exactly that arrow, in the
        // .csproj and in the compiled assembly.
        var strict = Allowed.ToDictionary(kv => kv.Key, kv => kv.Key == "SparseMemory.Serve" ? Array.Empty<string>() : kv.Value);
        var bad = ReferenceViolations(SourceTree.Projects(), strict, compiled: true);
        Assert.Equal(["SparseMemory.Serve → SparseMemory (ProjectReference)", "SparseMemory.Serve → SparseMemory (assembly reference)"], bad);
    }

    [Fact]
    public void No_source_file_imports_a_namespace_of_a_project_it_may_not_use()
    {
        var bad = UsingViolations(SourceTree.Projects(), Allowed);
        Assert.True(bad.Count == 0, "forbidden using directives:\n  " + string.Join("\n  ", bad));
    }

    [Fact]
    public void The_using_check_finds_the_library_importing_a_front_end()
    {
        string src = Fixtures.TempDir("arch-projects");
        void Write(string path, string text) { Directory.CreateDirectory(Path.GetDirectoryName(path)!); File.WriteAllText(path, text); }
        Write(Path.Combine(src, "SparseMemory", "SparseMemory.csproj"), "<Project />");
        Write(Path.Combine(src, "SparseMemory", "Runs", "X.cs"), "using SparseMemory.Data;\nusing SparseMemory.Serve;\nnamespace SparseMemory.Runs;\nclass X { }\n");
        Write(Path.Combine(src, "SparseMemory.Serve", "SparseMemory.Serve.csproj"), "<Project><ItemGroup><ProjectReference Include=\"../SparseMemory/SparseMemory.csproj\" /></ItemGroup></Project>");
        Write(Path.Combine(src, "SparseMemory.Serve", "Y.cs"), "using SparseMemory.Runs.Serve;\nusing SparseMemory.Nowhere;\nnamespace SparseMemory.Serve;\nclass Y { }\n");
        var bad = UsingViolations(SourceTree.Projects(src), Allowed).Select(v => v.Replace('\\', '/')).ToList();
        Assert.Equal(["SparseMemory.Serve/Y.cs:2: SparseMemory.Nowhere is neither a library layer nor a project", "SparseMemory/Runs/X.cs:2: SparseMemory → SparseMemory.Serve"], bad);
    }

    [Fact]
    public void Every_type_of_a_front_end_lives_in_its_own_namespace()
    {
        // So a front end cannot add to a library layer (a type in SparseMemory.Runs compiled into the CLI), which the
        // layer test of the library would not see.
        var bad = new List<string>();
        foreach (var p in SourceTree.Projects().Where(p => p.Name != Library))
            foreach (var t in p.Load().MainModule.Types)
            {
                if (t.Name.StartsWith('<') || IsTopLevelProgram(t)) continue;
                if (t.Namespace != p.Name && !t.Namespace.StartsWith(p.Name + ".", StringComparison.Ordinal)) bad.Add($"{p.Name}: {t.FullName}");
            }
        Assert.True(bad.Count == 0, "front-end types outside their project's namespace:\n  " + string.Join("\n  ", bad));
    }

    /// <summary>The class the compiler makes for top-level statements (global namespace, entry point <c>&lt;Main&gt;$</c>).</summary>
    static bool IsTopLevelProgram(TypeDefinition t) => t.Namespace.Length == 0 && t.Methods.Any(m => m.Name == "<Main>$");

    /// <summary>
    /// One line per forbidden project reference: from the .csproj files, and with <paramref name="compiled"/> from the
    /// compiled assemblies (a reference the compiler kept because code uses it).
    /// </summary>
    internal static List<string> ReferenceViolations(IReadOnlyList<SourceProject> projects, IReadOnlyDictionary<string, string[]> allowed, bool compiled)
    {
        var byAssembly = projects.ToDictionary(p => p.AssemblyName, p => p.Name);
        var bad = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var p in projects)
        {
            var ok = allowed.GetValueOrDefault(p.Name) ?? [];
            foreach (string r in p.References.Where(r => !ok.Contains(r))) bad.Add($"{p.Name} → {r} (ProjectReference)");
            if (!compiled) continue;
            foreach (var r in p.Load().MainModule.AssemblyReferences)
                if (byAssembly.TryGetValue(r.Name, out var target) && !ok.Contains(target)) bad.Add($"{p.Name} → {target} (assembly reference)");
        }
        return bad.ToList();
    }

    /// <summary>
    /// Every <c>using SparseMemory.X…;</c> whose target project (the library when X is one of its layers, else the
    /// project named SparseMemory.X) its file's project may not use.
    /// </summary>
    internal static List<string> UsingViolations(IReadOnlyList<SourceProject> projects, IReadOnlyDictionary<string, string[]> allowed)
    {
        var names = projects.Select(p => p.Name).ToHashSet();
        var layers = LayerDependencyTests.Allowed.Keys.ToHashSet();
        string root = Path.GetDirectoryName(projects.Select(p => p.Dir).FirstOrDefault() ?? ".")!;
        var bad = new List<string>();
        // A project nested in another's folder is its own project: each file belongs to the deepest project folder above it.
        var owner = projects.OrderByDescending(p => p.Dir.Length).ToList();
        foreach (var p in projects)
            foreach (string file in p.SourceFiles().Where(f => owner.First(o => f.StartsWith(o.Dir + Path.DirectorySeparatorChar, StringComparison.Ordinal)) == p))
            {
                var lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    var m = Regex.Match(lines[i], @"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?SparseMemory\.(\w+)");
                    if (!m.Success) continue;
                    string x = m.Groups[1].Value;
                    string where = $"{Path.GetRelativePath(root, file)}:{i + 1}";
                    string? target = layers.Contains(x) ? Library : names.Contains("SparseMemory." + x) ? "SparseMemory." + x : null;
                    if (target is null) bad.Add($"{where}: SparseMemory.{x} is neither a library layer nor a project");
                    else if (target != p.Name && !(allowed.GetValueOrDefault(p.Name) ?? []).Contains(target)) bad.Add($"{where}: {p.Name} → {target}");
                }
            }
        return bad.Order(StringComparer.Ordinal).ToList();
    }
}
