using System.Text.RegularExpressions;
using System.Xml.Linq;
using Mono.Cecil;

namespace SparseMemory.Tests.Architecture;

/// <summary>A project under <c>src/</c>: its name (the .csproj's), folder, the projects it references and its compiled assembly.</summary>
public sealed record SourceProject(string Name, string Dir, IReadOnlyList<string> References, string AssemblyName)
{
    /// <summary>The project's assembly as the test binaries hold it (every project is referenced by the test project).</summary>
    public AssemblyDefinition Load() => SourceTree.Read(AssemblyName);

    /// <summary>The project's C# files (bin/ and obj/ excluded).</summary>
    public IEnumerable<string> SourceFiles() => SourceTree.CSharpFiles(Dir);
}

/// <summary>The repository's projects, read from their .csproj files, and their compiled assemblies.</summary>
public static class SourceTree
{
    /// <summary>The repository root (the folder that holds SparseMemory.sln above the test binaries).</summary>
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SparseMemory.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (SparseMemory.sln) not found above the test binaries");
    }

    /// <summary>Every project under <paramref name="srcRoot"/> (default: the repository's <c>src/</c>), by name.</summary>
    public static IReadOnlyList<SourceProject> Projects(string? srcRoot = null) =>
        Directory.EnumerateFiles(srcRoot ?? Path.Combine(Root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(f => !IsBuildOutput(f))
            .Select(ReadProject)
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ToList();

    static SourceProject ReadProject(string csproj)
    {
        var xml = XDocument.Load(csproj);
        string name = Path.GetFileNameWithoutExtension(csproj);
        var refs = xml.Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension((string)e.Attribute("Include")!.Value.Replace('\\', '/'))).ToList();
        string assembly = xml.Descendants("AssemblyName").Select(e => e.Value.Trim()).FirstOrDefault() ?? name;
        return new SourceProject(name, Path.GetDirectoryName(csproj)!, refs, assembly);
    }

    static readonly Dictionary<string, AssemblyDefinition> Loaded = [];
    static readonly DefaultAssemblyResolver Resolver = MakeResolver();

    static DefaultAssemblyResolver MakeResolver()
    {
        var r = new DefaultAssemblyResolver();
        r.AddSearchDirectory(AppContext.BaseDirectory);
        return r;
    }

    /// <summary>The compiled assembly <paramref name="name"/> from the test binaries' folder (types resolvable against its references).</summary>
    public static AssemblyDefinition Read(string name)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(name, out var a)) return a;
            string path = Path.Combine(AppContext.BaseDirectory, name + ".dll");
            if (!File.Exists(path))
                throw new FileNotFoundException($"{path} not found: add a ProjectReference to the project of assembly {name} in tests/SparseMemory.Tests/SparseMemory.Tests.csproj so the architecture tests see it");
            return Loaded[name] = AssemblyDefinition.ReadAssembly(path, new ReaderParameters { AssemblyResolver = Resolver });
        }
    }

    /// <summary>C# files under <paramref name="dir"/>, build outputs excluded.</summary>
    public static IEnumerable<string> CSharpFiles(string dir) =>
        Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).Where(f => !IsBuildOutput(f));

    static bool IsBuildOutput(string path) =>
        Regex.IsMatch("/" + Path.GetRelativePath(Root, path).Replace('\\', '/'), "/(bin|obj)/");
}
