using SparseMemory.Data;
using SparseMemory.Data.Facts;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using R = SparseMemory.DataBuild.Facts.RelationTemplates;

namespace SparseMemory.DataBuild.Facts;

/// <summary>
/// Readers that turn the raw package data fetched by <c>scripts/get-data.sh</c> into <see cref="FactCandidate"/>s
/// (docs/data.md#package-facts). Each reader takes one file or folder in the package's own format and rejects malformed input
/// with an <see cref="InvalidDataException"/> naming the file and line. Readers do no filtering beyond their format;
/// <see cref="FactSetBuilder"/> cleans, de-duplicates and splits.
/// </summary>
public static partial class PackageFacts
{
    /// <summary>country-json: file suffix, JSON field, relation.</summary>
    public static readonly IReadOnlyList<(string File, string Field, string Relation)> CountryJsonFiles =
    [
        ("capital-city", "city", R.CountryCapital),
        ("continent", "continent", R.Continent),
        ("currency-name", "currency_name", R.Currency),
        ("independence-date", "independence", R.IndependenceYear),
        ("national-dish", "dish", R.NationalDish),
    ];

    /// <summary>Every candidate from a raw folder laid out by <c>scripts/get-data.sh</c>, in a fixed reader and file order.</summary>
    /// <exception cref="DirectoryNotFoundException">A package folder is missing (run scripts/get-data.sh).</exception>
    public static IReadOnlyList<FactCandidate> ReadAll(string rawDir)
    {
        string share = Path.Combine(rawDir, "debroot", "usr", "share");
        string Need(string path) => Directory.Exists(path) ? path
            : throw new DirectoryNotFoundException($"{path}: package folder not found; run scripts/get-data.sh first");
        var all = new List<FactCandidate>();
        all.AddRange(ReadCountryJson(Need(Path.Combine(rawDir, "npm", "country-json", "package", "src"))));
        all.AddRange(ReadMiscCountries(Path.Combine(Need(Path.Combine(share, "misc")), "countries.gz")));
        all.AddRange(ReadQuiz(Need(Path.Combine(share, "games", "bsdgames", "quiz"))));
        all.AddRange(ReadKgeography(Need(Path.Combine(share, "kgeography"))));
        string iso = Need(Path.Combine(share, "iso-codes", "json"));
        all.AddRange(ReadIsoSubdivisions(Path.Combine(iso, "iso_3166-2.json"), Path.Combine(iso, "iso_3166-1.json")));
        all.AddRange(ReadAirports(Path.Combine(share, "misc", "airport.gz")));
        string calendar = Need(Path.Combine(share, "calendar"));
        foreach (var name in new[] { "calendar.history", "calendar.computer", "calendar.birthday", "calendar.music" })
            all.AddRange(ReadCalendar(Path.Combine(calendar, name)));
        return all;
    }

    // ---- country-json (npm) ---------------------------------------------------------------------------------

    /// <summary>Reads <c>country-by-*.json</c> files of <see cref="CountryJsonFiles"/> from country-json's <c>package/src</c>.</summary>
    public static IEnumerable<FactCandidate> ReadCountryJson(string srcDir)
    {
        foreach (var (file, field, relation) in CountryJsonFiles)
        {
            string path = Path.Combine(srcDir, $"country-by-{file}.json");
            foreach (var c in ReadCountryJsonFile(path, field, relation)) yield return c;
        }
    }

    /// <summary>One country-json file: an array of <c>{"country": …, field: string | number | null}</c>; null values are skipped.</summary>
    public static IEnumerable<FactCandidate> ReadCountryJsonFile(string path, string field, string relation)
    {
        foreach (var (line, e) in JsonArrayLines.Read(path))
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("country", out var country) || country.ValueKind != JsonValueKind.String
                || !e.TryGetProperty(field, out var value))
                throw new InvalidDataException($"{path}:{line}: expected {{\"country\": \"…\", \"{field}\": …}}");
            string? text = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                JsonValueKind.Null => null,
                _ => throw new InvalidDataException($"{path}:{line}: \"{field}\" must be a string, a number or null, found {value.ValueKind}"),
            };
            if (string.IsNullOrWhiteSpace(text)) continue;
            yield return new FactCandidate(relation, FactText.Normalize(country.GetString()!), FactText.Normalize(text), [], $"{Path.GetFileName(path)}:{line}");
        }
    }

    // ---- miscfiles (Debian) -----------------------------------------------------------------------------------

    /// <summary><c>misc/countries.gz</c>: <c>UN code:alpha-2:alpha-3:name:capital</c>; capitals with a comment or several cities are skipped.</summary>
    public static IEnumerable<FactCandidate> ReadMiscCountries(string path)
    {
        foreach (var (line, f) in ColonLines(path, 5))
        {
            string name = FactText.Normalize(f[3]), capital = FactText.Normalize(f[4]);
            if (name.Length == 0 || capital.Length == 0 || capital.IndexOfAny([',', '(']) >= 0) continue;
            yield return new FactCandidate(R.CountryCapital, name, capital, [], $"{Path.GetFileName(path)}:{line}");
        }
    }

    /// <summary><c>misc/airport.gz</c>: <c>code:airport:country code:subdivision:cities</c> → airport → IATA code.</summary>
    public static IEnumerable<FactCandidate> ReadAirports(string path)
    {
        foreach (var (line, f) in ColonLines(path, 5))
        {
            string code = FactText.Normalize(f[0]), name = FactText.Normalize(f[1]);
            if (name.EndsWith(" Airport", StringComparison.OrdinalIgnoreCase)) name = name[..^" Airport".Length];
            if (code.Length != 3 || name.Length == 0) continue;
            yield return new FactCandidate(R.AirportCode, name, code, [], $"{Path.GetFileName(path)}:{line}");
        }
    }

    /// <summary>Lines of a ':'-separated miscfiles table (optionally gzip'd); '#' lines and blank lines are skipped.</summary>
    private static IEnumerable<(int Line, string[] Fields)> ColonLines(string path, int fields)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        using var fs = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(fs, CompressionMode.Decompress) : fs;
        using var reader = new StreamReader(s);
        int n = 0;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            n++;
            if (line.Length == 0 || line[0] == '#' || string.IsNullOrWhiteSpace(line)) continue;
            var parts = line.Split(':');
            if (parts.Length != fields)
                throw new InvalidDataException($"{path}:{n}: expected {fields} ':'-separated fields, found {parts.Length}");
            yield return (n, parts);
        }
    }

    // ---- bsdgames quiz (Debian) -------------------------------------------------------------------------------

    private sealed record QuizUse(string File, int Fields, int Subject, int Object, string Relation, bool SplitSubject = false, string? Skip = null);

    /// <summary>The quiz files and fields used: subject field → object field.</summary>
    private static readonly QuizUse[] QuizUses =
    [
        new("africa", 2, 0, 1, R.CountryCapital), new("america", 2, 0, 1, R.CountryCapital),
        new("asia", 2, 0, 1, R.CountryCapital), new("europe", 2, 0, 1, R.CountryCapital),
        new("state", 4, 0, 1, R.DivisionCapital), new("state", 4, 0, 3, R.StateFlower, Skip: "gok"),
        new("province", 2, 0, 1, R.DivisionCapital),
        new("elements", 4, 3, 0, R.ElementSymbol), new("elements", 4, 3, 1, R.AtomicNumber),
        new("pres", 4, 0, 3, R.PresidentSuccessor), new("sov", 3, 0, 2, R.MonarchSuccessor),
        new("collectives", 2, 0, 1, R.CollectiveNoun, SplitSubject: true),
        new("babies", 2, 1, 0, R.BabyAnimal, SplitSubject: true),
    ];

    /// <summary>The bsdgames quiz files of the quiz folder that carry facts (capitals, elements, presidents, …).</summary>
    public static IEnumerable<FactCandidate> ReadQuiz(string quizDir)
    {
        foreach (var use in QuizUses)
            foreach (var c in ReadQuizFile(Path.Combine(quizDir, use.File), use.Fields, use.Subject, use.Object, use.Relation, use.SplitSubject, use.Skip))
                yield return c;
    }

    /// <summary>
    /// One quiz file: ':'-separated fields (a trailing '\' continues the line), each in <see cref="QuizPattern"/> syntax.
    /// With <paramref name="splitSubject"/>, every top-level alternative of the subject field is its own subject.
    /// </summary>
    public static IEnumerable<FactCandidate> ReadQuizFile(string path, int fields, int subjectField, int objectField, string relation,
        bool splitSubject = false, string? skipObject = null)
    {
        foreach (var (line, f) in QuizLines(path, fields))
        {
            IReadOnlyList<string> objects, subjects;
            try
            {
                objects = QuizPattern.Expand(f[objectField]);
                subjects = splitSubject
                    ? QuizPattern.SplitAlternatives(f[subjectField]).Select(a => QuizPattern.Preferred(QuizPattern.Expand(a), 4)).OfType<string>().ToArray()
                    : QuizPattern.Preferred(QuizPattern.Expand(f[subjectField]), 4) is { } s ? [s] : [];
            }
            catch (FormatException e) { throw new InvalidDataException($"{path}:{line}: {e.Message}", e); }
            var obj = QuizPattern.Preferred(objects);
            if (obj is null || obj == skipObject) continue;
            foreach (var subject in subjects)
                yield return new FactCandidate(relation, subject, obj, objects.Where(o => o != obj).ToArray(), $"{Path.GetFileName(path)}:{line}");
        }
    }

    private static IEnumerable<(int Line, string[] Fields)> QuizLines(string path, int fields)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            int start = i + 1;
            string text = lines[i];
            while (text.EndsWith('\\') && i + 1 < lines.Length) text = text[..^1] + lines[++i];
            if (string.IsNullOrWhiteSpace(text)) continue;
            var parts = SplitUnescaped(text);
            if (parts.Count != fields)
                throw new InvalidDataException($"{path}:{start}: expected {fields} ':'-separated fields, found {parts.Count}");
            yield return (start, parts.ToArray());
        }
    }

    private static List<string> SplitUnescaped(string text)
    {
        var parts = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\') { i++; continue; }
            if (text[i] == ':') { parts.Add(text[start..i]); start = i + 1; }
        }
        parts.Add(text[start..]);
        return parts;
    }

    // ---- kgeography-data (Debian) -----------------------------------------------------------------------------

    /// <summary>Every <c>*.kgm</c> map of a folder (by file name); maps whose divisions are countries are skipped.</summary>
    public static IEnumerable<FactCandidate> ReadKgeography(string dir)
    {
        foreach (var path in Directory.GetFiles(dir, "*.kgm").Order(StringComparer.Ordinal))
            foreach (var c in ReadKgm(path)) yield return c;
    }

    /// <summary>
    /// One kgeography map: <c>&lt;map&gt;&lt;name/&gt;&lt;divisionsName/&gt;&lt;division&gt;&lt;name/&gt;&lt;capital/&gt;…</c>.
    /// Divisions marked <c>&lt;ignore&gt;yes&lt;/ignore&gt;</c> or without a capital are skipped.
    /// </summary>
    public static IEnumerable<FactCandidate> ReadKgm(string path)
    {
        XDocument doc;
        try
        {
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
            doc = XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException e) { throw new InvalidDataException($"{path}:{e.LineNumber}: not valid XML ({e.Message})", e); }
        var map = doc.Root;
        if (map is null || map.Name.LocalName != "map")
            throw new InvalidDataException($"{path}:{Line(map)}: expected a <map> root element");
        string mapName = FactText.Normalize(map.Element("name")?.Value ?? "");
        if (mapName.Length == 0) throw new InvalidDataException($"{path}:{Line(map)}: the map has no <name>");
        string kind = map.Element("divisionsName")?.Value.Trim() ?? "";
        if (kind.Contains("Countries", StringComparison.OrdinalIgnoreCase)) yield break;
        foreach (var division in map.Elements("division"))
        {
            var name = division.Element("name");
            if (name is null || string.IsNullOrWhiteSpace(name.Value))
                throw new InvalidDataException($"{path}:{Line(division)}: a <division> without a <name>");
            if (division.Element("ignore")?.Value.Trim() == "yes") continue;
            string capital = FactText.Normalize(division.Element("capital")?.Value ?? "");
            if (capital.Length == 0) continue;
            yield return new FactCandidate(R.DivisionCapital, FactText.Normalize(name.Value), capital, [],
                $"{Path.GetFileName(path)}:{Line(division)}", mapName);
        }
    }

    private static int Line(XObject? x) => x is IXmlLineInfo info && info.HasLineInfo() ? info.LineNumber : 0;

    // ---- iso-codes (Debian) -----------------------------------------------------------------------------------

    /// <summary>
    /// ISO 3166-2 subdivisions → country (common name from ISO 3166-1). Names with a comma, brackets or a slash
    /// (inverted or bilingual forms) are skipped.
    /// </summary>
    public static IEnumerable<FactCandidate> ReadIsoSubdivisions(string iso31662Path, string iso31661Path)
    {
        var countries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (line, e) in JsonArrayLines.Read(iso31661Path, "3166-1"))
        {
            string? code = Str(e, "alpha_2"), name = Str(e, "common_name") ?? Str(e, "name");
            if (code is null || name is null) throw new InvalidDataException($"{iso31661Path}:{line}: expected {{\"alpha_2\", \"name\", …}}");
            countries[code] = FactText.Normalize(name);
        }
        foreach (var (line, e) in JsonArrayLines.Read(iso31662Path, "3166-2"))
        {
            string? code = Str(e, "code"), name = Str(e, "name"), type = Str(e, "type");
            if (code is null || name is null || type is null || code.Length < 4 || code[2] != '-')
                throw new InvalidDataException($"{iso31662Path}:{line}: expected {{\"code\": \"CC-…\", \"name\", \"type\"}}");
            if (!countries.TryGetValue(code[..2], out var country))
                throw new InvalidDataException($"{iso31662Path}:{line}: country code {code[..2]} is not in {Path.GetFileName(iso31661Path)}");
            if (name.IndexOfAny([',', '(', '[', '/']) >= 0 || country.IndexOfAny([',', '(']) >= 0) continue;
            yield return new FactCandidate(R.SubdivisionCountry, FactText.Normalize(name), country, [],
                $"{Path.GetFileName(iso31662Path)}:{line}", FactText.Normalize(type).ToLowerInvariant());
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    // ---- calendar (Debian) ------------------------------------------------------------------------------------

    /// <summary>
    /// A BSD calendar file: <c>MM/DD&lt;TAB&gt;event, YEAR</c> (continuation lines start with a tab). "X born [in P], YEAR"
    /// gives birth year (and place), "X died, YEAR" a death year, any other event ending in a year an event year.
    /// Comments, preprocessor lines and <c>LANG=</c> lines are skipped; events without a trailing year are ignored.
    /// </summary>
    public static IEnumerable<FactCandidate> ReadCalendar(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        var lines = File.ReadAllLines(path);
        string file = Path.GetFileName(path);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 || line[0] is ' ' or '#' || line.StartsWith("/*", StringComparison.Ordinal)
                || line.StartsWith("*/", StringComparison.Ordinal) || LangLine().IsMatch(line))
                continue;
            if (line[0] == '\t')
                throw new InvalidDataException($"{path}:{i + 1}: a continuation line without a dated line before it");
            var m = DatedLine().Match(line);
            if (!m.Success) throw new InvalidDataException($"{path}:{i + 1}: expected 'MM/DD<TAB>event'");
            int at = i + 1;
            string text = m.Groups["event"].Value;
            while (i + 1 < lines.Length && lines[i + 1].StartsWith('\t')) text += " " + lines[++i];
            foreach (var c in CalendarEvent(FactText.Normalize(text), $"{file}:{at}")) yield return c;
        }
    }

    private static IEnumerable<FactCandidate> CalendarEvent(string text, string source)
    {
        var y = TrailingYear().Match(text);
        if (!y.Success) yield break;
        string what = y.Groups["what"].Value.Trim(), year = y.Groups["year"].Value;
        var born = Born().Match(what);
        if (born.Success)
        {
            string who = Person(born.Groups["who"].Value);
            if (who.Length == 0) yield break;
            yield return new FactCandidate(R.BirthYear, who, year, [], source);
            if (born.Groups["place"].Success)
            {
                string place = FactText.Normalize(born.Groups["place"].Value);
                string town = place.Split(',')[0].Trim();
                yield return new FactCandidate(R.BirthPlace, who, place, town != place ? [town] : [], source);
            }
            yield break;
        }
        var died = Died().Match(what);
        if (died.Success)
        {
            string who = Person(died.Groups["who"].Value);
            if (who.Length > 0) yield return new FactCandidate(R.DeathYear, who, year, [], source);
            yield break;
        }
        if (FactText.WordCount(what) is >= 3 and <= 16) yield return new FactCandidate(R.EventYear, what.TrimEnd('.', ','), year, [], source);
    }

    /// <summary>"Ken Thompson, creator of unix" → "Ken Thompson"; empty when it does not look like a name.</summary>
    private static string Person(string who)
    {
        who = FactText.Normalize(who.Split(',')[0]);
        return who.Length > 0 && char.IsUpper(who[0]) && FactText.WordCount(who) <= 5 ? who : "";
    }

    [GeneratedRegex(@"^[A-Z][A-Z_]*=")]
    private static partial Regex LangLine();

    [GeneratedRegex(@"^\S+\t+(?<event>.*)$")]
    private static partial Regex DatedLine();

    [GeneratedRegex(@"^(?<what>.+?),\s*(?<year>\d{3,4})\.?$")]
    private static partial Regex TrailingYear();

    [GeneratedRegex(@"^(?<who>.+?),? (?:is |was )?born(?: in (?<place>[^,]+(?:, [^,]+)?))?$")]
    private static partial Regex Born();

    [GeneratedRegex(@"^(?<who>.+?),? (?:dies|died)$")]
    private static partial Regex Died();
}
