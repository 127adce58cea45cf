using Mono.Cecil;
using Mono.Cecil.Cil;
using Xunit;

namespace SparseMemory.Tests.Architecture;

/// <summary>
/// The library's namespaces depend in one direction (docs/architecture.md). Every type reference in the compiled
/// assembly — signatures, attributes, generic arguments, locals and every operand of every method body — is mapped to
/// its layer (the namespace segment after <c>SparseMemory.</c>) and checked against the table below.
/// </summary>
public sealed class LayerDependencyTests
{
    /// <summary>What each layer may use, lowest first. Anything not listed is forbidden, which also rules out cycles.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        ["Config"] = [],
        ["Hosting"] = [],
        ["Data"] = ["Config"],
        ["Memory"] = ["Config"],
        ["Model"] = ["Config", "Data", "Memory"],
        ["Checkpoints"] = ["Config", "Data", "Memory", "Model"],
        ["Training"] = ["Config", "Data", "Memory", "Model", "Checkpoints"],
        ["Finetuning"] = ["Config", "Data", "Memory", "Model", "Checkpoints", "Training"],
        ["Evaluation"] = ["Config", "Data", "Memory", "Model", "Checkpoints"],
        ["Reporting"] = ["Config"],
        ["Runs"] = ["Config", "Hosting", "Data", "Memory", "Model", "Checkpoints", "Training", "Finetuning", "Evaluation", "Reporting"],
        ["Benchmarks"] = ["Config", "Hosting", "Data", "Memory", "Model", "Checkpoints", "Training", "Finetuning", "Evaluation", "Reporting", "Runs"],
    };

    static readonly Lazy<AssemblyDefinition> Library = new(() =>
        AssemblyDefinition.ReadAssembly(typeof(SparseMemory.Config.ConfigLoader).Assembly.Location));

    [Fact]
    public void The_table_itself_is_acyclic()
    {
        var order = new List<string>();
        var state = new Dictionary<string, int>();
        void Visit(string n, Stack<string> path)
        {
            if (state.GetValueOrDefault(n) == 2) return;
            Assert.False(state.GetValueOrDefault(n) == 1, $"cycle: {string.Join(" → ", path.Reverse())} → {n}");
            state[n] = 1;
            path.Push(n);
            foreach (var d in Allowed[n]) Visit(d, path);
            path.Pop();
            state[n] = 2;
            order.Add(n);
        }
        foreach (var n in Allowed.Keys) Visit(n, new Stack<string>());
        Assert.Equal(Allowed.Count, order.Count);
    }

    [Fact]
    public void Every_namespace_of_the_library_is_a_layer_of_the_table()
    {
        var layers = Library.Value.MainModule.GetTypes().Select(LayerOf).OfType<string>().Distinct().Order().ToList();
        Assert.Empty(layers.Except(Allowed.Keys));
        Assert.Equal(Allowed.Keys.Order(), layers);
    }

    [Fact]
    public void No_type_uses_a_layer_its_own_layer_may_not_use()
    {
        var violations = Violations(Library.Value, Allowed);
        Assert.True(violations.Count == 0, "forbidden dependencies (layer → layer: example type → referenced type):\n  " + string.Join("\n  ", violations));
    }

    [Fact]
    public void The_check_finds_a_forbidden_arrow_when_the_table_forbids_an_existing_one()
    {
        // Data really uses Config (e.g. SeedMix); a table that forbids it must report exactly that arrow.
        var strict = Allowed.ToDictionary(kv => kv.Key, kv => kv.Key == "Data" ? Array.Empty<string>() : kv.Value);
        var violations = Violations(Library.Value, strict);
        Assert.NotEmpty(violations);
        Assert.All(violations, v => Assert.StartsWith("Data → Config", v));
    }

    [Fact]
    public void No_source_file_imports_a_namespace_its_layer_may_not_use()
    {
        // The IL scan above misses a `using` that names no type; source readers (and people) still see that arrow.
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SparseMemory.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "repository root (SparseMemory.sln) not found above the test binaries");
        var bad = UsingViolations(Path.Combine(dir!.FullName, "src", "SparseMemory"), Allowed);
        Assert.True(bad.Count == 0, "forbidden using directives:\n  " + string.Join("\n  ", bad));
    }

    [Fact]
    public void The_source_check_finds_a_forbidden_using()
    {
        string root = Fixtures.TempDir("arch-src");
        Directory.CreateDirectory(Path.Combine(root, "Data"));
        File.WriteAllText(Path.Combine(root, "Data", "X.cs"), "using SparseMemory.Config;\nusing SparseMemory.Training;\nnamespace SparseMemory.Data;\nclass X { }\n");
        Assert.Equal(["Data/X.cs:2: Data → Training"], UsingViolations(root, Allowed).Select(v => v.Replace('\\', '/')));
    }

    /// <summary>Every <c>using SparseMemory.X…;</c> in a library source file whose layer may not use X.</summary>
    internal static List<string> UsingViolations(string srcRoot, IReadOnlyDictionary<string, string[]> allowed)
    {
        var bad = new List<string>();
        foreach (string file in Directory.EnumerateFiles(srcRoot, "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")))
        {
            var lines = File.ReadAllLines(file);
            string? from = lines.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^namespace SparseMemory\.(\w+)")).FirstOrDefault(m => m.Success)?.Groups[1].Value;
            if (from is null) continue;
            for (int i = 0; i < lines.Length; i++)
            {
                var m = System.Text.RegularExpressions.Regex.Match(lines[i], @"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?SparseMemory\.(\w+)");
                if (!m.Success) continue;
                string to = m.Groups[1].Value;
                if (to == from || (allowed.TryGetValue(from, out var ok) && ok.Contains(to))) continue;
                bad.Add($"{Path.GetRelativePath(srcRoot, file)}:{i + 1}: {from} → {to}");
            }
        }
        return bad;
    }

    /// <summary>One line per forbidden layer pair, with the first type pair that shows it.</summary>
    internal static List<string> Violations(AssemblyDefinition assembly, IReadOnlyDictionary<string, string[]> allowed)
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
        {
            if (LayerOf(type) is not { } from) continue;
            foreach (var used in References(type))
            {
                if (LayerOf(used) is not { } to || to == from) continue;
                if (allowed.TryGetValue(from, out var ok) && ok.Contains(to)) continue;
                found.TryAdd($"{from} → {to}", $"{type.FullName} → {used.FullName}");
            }
        }
        return found.Select(kv => $"{kv.Key}: {kv.Value}").ToList();
    }

    /// <summary>The layer of a type of this library (outermost declaring type's namespace), or null for anything else.</summary>
    static string? LayerOf(TypeReference type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        if (type.Scope is AssemblyNameReference { Name: not "SparseMemory" }) return null;
        string ns = type.Namespace;
        if (!ns.StartsWith("SparseMemory.", StringComparison.Ordinal)) return null;
        return ns["SparseMemory.".Length..].Split('.')[0];
    }

    static IEnumerable<TypeReference> References(TypeDefinition type)
    {
        var refs = new List<TypeReference>();
        void Add(TypeReference? t)
        {
            switch (t)
            {
                case null or GenericParameter: return;
                case GenericInstanceType g: Add(g.ElementType); foreach (var a in g.GenericArguments) Add(a); return;
                case TypeSpecification s: Add(s.ElementType); return;
                default: refs.Add(t); return;
            }
        }
        void AddMethod(MethodReference m)
        {
            Add(m.DeclaringType);
            Add(m.ReturnType);
            foreach (var p in m.Parameters) Add(p.ParameterType);
            if (m is GenericInstanceMethod gm) foreach (var a in gm.GenericArguments) Add(a);
        }
        void AddAttributes(ICustomAttributeProvider p)
        {
            foreach (var a in p.CustomAttributes) { Add(a.AttributeType); foreach (var arg in a.ConstructorArguments) Add(arg.Value as TypeReference); }
        }

        Add(type.BaseType);
        foreach (var i in type.Interfaces) Add(i.InterfaceType);
        AddAttributes(type);
        foreach (var gp in type.GenericParameters) foreach (var c in gp.Constraints) Add(c.ConstraintType);
        foreach (var f in type.Fields) { Add(f.FieldType); AddAttributes(f); }
        foreach (var p in type.Properties) { Add(p.PropertyType); AddAttributes(p); }
        foreach (var e in type.Events) Add(e.EventType);
        foreach (var m in type.Methods)
        {
            AddMethod(m);
            AddAttributes(m);
            foreach (var gp in m.GenericParameters) foreach (var c in gp.Constraints) Add(c.ConstraintType);
            if (!m.HasBody) continue;
            foreach (var v in m.Body.Variables) Add(v.VariableType);
            foreach (var ins in m.Body.Instructions)
            {
                switch (ins.Operand)
                {
                    case TypeReference t: Add(t); break;
                    case MethodReference mr: AddMethod(mr); break;
                    case FieldReference fr: Add(fr.DeclaringType); Add(fr.FieldType); break;
                }
            }
        }
        return refs;
    }
}
