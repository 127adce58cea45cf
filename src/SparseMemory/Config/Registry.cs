namespace SparseMemory.Config;

/// <summary>An entry a config value can name: a finetuning method, a slot ranker, a row optimizer, a probe.</summary>
public interface INamedEntry
{
    /// <summary>Canonical name as stored in config and result files (e.g. <c>memory_all</c>, <c>tf_idf</c>, <c>target-f1</c>).</summary>
    string Name { get; }

    /// <summary>One line for help texts and error messages.</summary>
    string Description { get; }
}

/// <summary>
/// The one lookup mechanism for every extension point: entries by name, matched ignoring case, with '-' and '_'
/// interchangeable (the CLI spells <c>memory_all</c> as <c>memory-all</c>). Every entry has one spelling: <c>tfidf</c>
/// or <c>MemoryAll</c> find nothing. Help texts, validation and the CLI read the names from here, so adding an entry
/// is one registration line (docs/architecture.md#registries).
/// </summary>
public sealed class Registry<T> where T : INamedEntry
{
    readonly T[] _entries;

    /// <summary>Builds a registry; names must be unique after normalisation.</summary>
    /// <param name="kind">What the entries are ("method", "ranker", …), for messages.</param>
    /// <param name="entries">The entries, in display order (the first is the default where one is needed).</param>
    public Registry(string kind, IEnumerable<T> entries)
    {
        Kind = kind;
        _entries = entries.ToArray();
        var dup = _entries.GroupBy(e => Key(e.Name)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"{kind} registry: duplicate name \"{dup.First().Name}\"");
    }

    /// <summary>What the entries are, for messages.</summary>
    public string Kind { get; }

    /// <summary>Every entry, in registration order.</summary>
    public IReadOnlyList<T> All => _entries;

    /// <summary>Canonical names, in registration order.</summary>
    public IReadOnlyList<string> Names => _entries.Select(e => e.Name).ToArray();

    /// <summary>Names as the CLI spells them (hyphens), joined with " | ".</summary>
    public string CliChoices => string.Join(" | ", _entries.Select(e => CliName(e.Name)));

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public T? Find(string? name) => name is null ? default : _entries.FirstOrDefault(e => Key(e.Name) == Key(name));

    /// <summary>The entry named <paramref name="name"/>; a clear error listing the choices otherwise.</summary>
    /// <param name="name">The requested name.</param>
    /// <param name="field">The config key or option that held it (for the message).</param>
    public T Get(string? name, string field) => Find(name) ?? throw new ConfigException(UnknownMessage(name, field));

    /// <summary>The error text for an unknown name.</summary>
    public string UnknownMessage(string? name, string field) =>
        $"{field}: unknown {Kind} \"{name}\"; use one of {string.Join(", ", Names)}";

    /// <summary>
    /// The entries named in <paramref name="names"/>, in the order given; blank names are skipped and an entry named
    /// twice is returned once.
    /// </summary>
    /// <param name="names">The requested names (e.g. a config's <c>probes</c> list).</param>
    /// <param name="field">The config key or option that held them (for the message).</param>
    /// <exception cref="ConfigException">Some names are unknown; the message names each and lists the choices.</exception>
    public IReadOnlyList<T> GetAll(IEnumerable<string> names, string field)
    {
        var list = names.Select(n => n.Trim()).Where(n => n.Length > 0).ToArray();
        if (Problems(list, field).ToArray() is { Length: > 0 } problems) throw new ConfigException(string.Join("; ", problems));
        return list.Select(n => Find(n)!).Distinct().ToArray();
    }

    /// <summary>One message per unknown name in <paramref name="names"/> (for a config's validation).</summary>
    public IEnumerable<string> Problems(IEnumerable<string> names, string field) =>
        names.Where(n => Find(n) is null).Select(n => UnknownMessage(n, field));

    /// <summary>The CLI spelling of a canonical name (<c>memory_all</c> → <c>memory-all</c>).</summary>
    public static string CliName(string name) => name.Replace('_', '-');

    static string Key(string name) => name.Trim().ToLowerInvariant().Replace('-', '_');
}
